"""Data-parallel training under the same code path as torchrun: two gloo processes on CPU, each with half
of a global batch, give the same gradients as one process on the whole batch."""

import os
import socket

import torch
import torch.multiprocessing as mp

from trainer.heads import AgeNet
from trainer.losses import AgeLoss
from trainer.runtime import setup_distributed, wrap_distributed

A = 20


def global_batch():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(8, 3, 56, 48, generator=g) * 255
    targets = torch.softmax(torch.randn(8, A + 1, generator=g), -1)
    genders = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    return images, targets, genders


def gradients(model):
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def fresh_model():
    torch.manual_seed(42)
    return AgeNet("tiny", age_max=A)


def worker(rank, world, port, result_path):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = setup_distributed("cpu")
    model = wrap_distributed(fresh_model(), info, torch.device("cpu"))
    images, targets, genders = global_batch()
    half = slice(rank * 4, rank * 4 + 4)
    loss, _ = AgeLoss("joint")(model(images[half]), targets[half], genders[half])
    loss.backward()
    if rank == 0:
        torch.save(gradients(model.module), result_path)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process(tmp_path):
    result = tmp_path / "ddp_grads.pt"
    mp.spawn(worker, args=(2, free_port(), str(result)), nprocs=2, join=True)
    distributed = torch.load(result, weights_only=True)

    model = fresh_model()
    images, targets, genders = global_batch()
    loss, _ = AgeLoss("joint")(model(images), targets, genders)
    loss.backward()
    single = gradients(model)
    assert set(single) == set(distributed) and len(single) > 5
    for name, grad in single.items():
        assert torch.allclose(grad, distributed[name], rtol=1e-4, atol=1e-5), name
