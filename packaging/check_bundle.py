"""Check a built bundle's contents: `python packaging/check_bundle.py dist/ageapp --light --max-mb 500`.

Prints the bundle's size (the files' bytes, as `du --apparent-size` counts them) and its largest folders. With
--light it fails (exit 1) when anything only training needs is inside: torch's files (`torch/`, `libtorch*`,
torchvision, triton, the nvidia-* CUDA libraries), the ONNX builder `onnx/` (onnxruntime is expected), sympy,
networkx, matplotlib, the trainer's torch modules, or `resources/models/default.pt`; or when the default ONNX
model is missing; the Python modules inside the executable's archive are checked the same way (torch,
torchvision, triton, onnx, sympy, networkx, matplotlib, trainer modules other than runs and config), with
PyInstaller's archive reader (the build venv has it). With --max-mb it fails when the bundle is larger than that
many megabytes (10^6 bytes).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections import Counter
from pathlib import Path

# Paths (relative to the bundle, '/'-separated) that must not be in the light bundle; fnmatch patterns.
TRAINING_ONLY_PATTERNS = [
    "*/torch/*", "*libtorch*", "*/torchvision/*", "*torchvision.libs/*", "*/triton/*", "*/nvidia/*", "*libcudnn*",
    "*libcublas*", "*libnccl*", "*/onnx/*", "*/sympy/*", "*/networkx/*", "*/matplotlib/*",
    "*/resources/models/default.pt",
]
REQUIRED = ["*/resources/models/default.onnx", "*/onnxruntime/*"]
# Top-level Python packages that must not be in the light bundle's archive; of trainer, only these modules.
TRAINING_ONLY_PACKAGES = {"torch", "torchvision", "triton", "onnx", "sympy", "networkx", "matplotlib", "nvidia"}
TRAINER_ALLOWED = {"trainer", "trainer.runs", "trainer.config"}


def archived_modules(executable: Path) -> list[str] | None:
    """The module names in the executable's PYZ archive; None when PyInstaller cannot be imported."""
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:
        return None
    return sorted(CArchiveReader(str(executable)).open_embedded_archive("PYZ.pyz").toc)


def training_modules(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in TRAINING_ONLY_PACKAGES
            or (name.split(".")[0] == "trainer" and name not in TRAINER_ALLOWED)]


def bundle_files(bundle: Path) -> list[Path]:
    return [path for path in bundle.rglob("*") if path.is_file() and not path.is_symlink()]


def size_by_folder(bundle: Path, files: list[Path], depth: int = 2) -> Counter:
    sizes: Counter = Counter()
    for path in files:
        parts = path.relative_to(bundle).parts
        if len(parts) > depth:
            sizes["/".join(parts[:depth])] += path.stat().st_size
        else:
            sizes["/".join(parts[:-1] or ["."]) + "/ (files directly in it)"] += path.stat().st_size
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="the bundle's folder (dist/ageapp)")
    parser.add_argument("--light", action="store_true", help="fail if anything only training needs is inside")
    parser.add_argument("--max-mb", type=float, default=None, help="fail above this size (10^6 bytes)")
    args = parser.parse_args(argv)
    if not (args.bundle / "_internal").is_dir():
        print(f"{args.bundle} is not a one-folder bundle (no _internal/): build it first", file=sys.stderr)
        return 1
    files = bundle_files(args.bundle)
    relative = ["/" + path.relative_to(args.bundle).as_posix() for path in files]
    total = sum(path.stat().st_size for path in files)
    print(f"{args.bundle}: {len(files)} files, {total / 1e6:.0f} MB ({total / 2**20:.0f} MiB)")
    for folder, size in size_by_folder(args.bundle, files).most_common(8):
        print(f"  {size / 1e6:7.1f} MB  {folder}")
    problems = []
    if args.light:
        found = [name for name in relative if any(fnmatch.fnmatch(name, p) for p in TRAINING_ONLY_PATTERNS)]
        if found:
            problems.append(f"{len(found)} files only training needs are inside, e.g. {', '.join(found[:5])}")
        trainer = [name for name in relative if "/trainer/" in name]
        if trainer:  # the bundle's Python modules are in the PYZ archive: a trainer/ folder would be data
            problems.append(f"trainer files outside the archive: {', '.join(trainer[:5])}")
        executable = next((args.bundle / name for name in ("ageapp", "ageapp.exe") if (args.bundle / name).is_file()),
                          None)
        modules = archived_modules(executable) if executable is not None else None
        if modules is None:
            print("  (Python modules not checked: no executable, or PyInstaller is not importable)")
        else:
            print(f"  {len(modules)} Python modules in {executable.name}'s archive")
            if training_modules(modules):
                problems.append(f"training-only Python modules inside: {', '.join(training_modules(modules)[:8])}")
        missing = [p for p in REQUIRED if not any(fnmatch.fnmatch(name, p) for name in relative)]
        if missing:
            problems.append(f"nothing matches {', '.join(missing)}")
    if args.max_mb is not None and total > args.max_mb * 1e6:
        problems.append(f"{total / 1e6:.0f} MB is over the {args.max_mb:.0f} MB budget")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print("OK" + (": no torch and no training-only files; default.onnx and onnxruntime present" if args.light
                      else "") + (f"; within {args.max_mb:.0f} MB" if args.max_mb is not None else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
