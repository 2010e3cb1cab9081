"""Training throughput: real crops through the real loader and augmentation, against in-memory random
tensors through the same model and batch. The last line is one JSON object:
    images_per_s_real, images_per_s_tensor, ratio (target >= 0.9), and the settings.

    python benchmarks/train_speed.py [--data ../shared/data/utkface/images] [--net mobilefacenet] [--batch 64]

Rounds of real and tensor steps alternate so that a machine shared with other work slows both alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.batches import Augment, BatchLoader, genders_tensor, input_width, targets_tensor  # noqa: E402
from trainer.crops import build_crops  # noqa: E402
from trainer.samples import FolderSource  # noqa: E402
from trainer.splits import deduplicate  # noqa: E402
from trainer.heads import AgeNet  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.loop import Trainer  # noqa: E402
from trainer.runtime import pick_device  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "utkface" / "images"))
    parser.add_argument("--format", default="utkface")
    parser.add_argument("--detector", default=str(ROOT.parent / "shared" / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--net", default="mobilefacenet")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--images", type=int, default=1024, help="real images to load")
    parser.add_argument("--steps", type=int, default=4, help="steps per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        print(json.dumps({"error": f"{args.data} is absent: pass --data (UTKFace-style folder)"}))
        return 1
    device = pick_device(args.device)

    source = FolderSource(args.data, args.format, aligned=True)
    samples, _ = source.samples()
    samples, _ = deduplicate(samples)
    samples = samples[: args.images]
    crops = build_crops(samples, source.identity, args.detector, True, args.cache_dir,
                        log=lambda m: print(m, file=sys.stderr))
    config = TrainConfig(net=args.net, batch=args.batch, size=args.size, epochs=1000, warmup_epochs=0,
                         out="/nonexistent", device=args.device, channels_last=args.channels_last)
    loader = BatchLoader(crops.crops, targets_tensor(crops.samples, config.age_max), genders_tensor(crops.samples),
                         args.batch, shuffle=True, augment=Augment(), size=args.size, device=device, drop_last=True,
                         channels_last=args.channels_last)
    model = AgeNet(args.net, config.age_max, pretrained=False).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainer = Trainer(config, model, loader, progress=False, log=lambda *a: None)

    # The tensor route: a fixed, ready batch already on the device (no loading, no augmentation).
    height, width = args.size, input_width(args.size)
    images = torch.rand(args.batch, 3, height, width, device=device) * 255
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.softmax(torch.randn(args.batch, config.age_max + 1, device=device), -1)
    genders = torch.randint(0, 2, (args.batch,), device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    real_time = tensor_time = 0.0
    real_images = tensor_images = 0
    stream = iter(())
    epoch = 0
    for round_index in range(args.rounds + 1):  # round 0 warms up both routes
        t0 = time.perf_counter()
        done = 0
        while done < args.steps:
            try:
                batch = next(stream)
            except StopIteration:
                loader.set_epoch(epoch)
                epoch += 1
                stream = iter(loader)
                continue
            trainer.train_step(*batch[:3])
            done += 1
        sync()
        t1 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(images, targets, genders)
        sync()
        t2 = time.perf_counter()
        if round_index > 0:
            real_time += t1 - t0
            tensor_time += t2 - t1
            real_images += args.steps * args.batch
            tensor_images += args.steps * args.batch
    real = real_images / real_time
    tensor = tensor_images / tensor_time
    print(json.dumps({
        "images_per_s_real": round(real, 2), "images_per_s_tensor": round(tensor, 2), "ratio": round(real / tensor, 3),
        "net": args.net, "batch": args.batch, "size": args.size, "device": str(device),
        "threads": torch.get_num_threads(), "channels_last": args.channels_last,
        "steps_timed": args.steps * args.rounds, "real_images": len(crops.samples),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
