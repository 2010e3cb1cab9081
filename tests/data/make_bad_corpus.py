"""Write the corpus of bad inputs into tests/data/bad/ (generated here, never third-party files).

Run as a script (`python tests/data/make_bad_corpus.py [DIR]`) or through the `bad_corpus` fixture.
Every file is something a user could plausibly point the app at; each test asserts a clear message and
an unchanged project. The pickle "with code in it" only touches a marker file, so a test can prove it was
never executed. projects/check/ holds projects broken the ways `ageapp check` detects (broken_projects.py).
"""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import struct
import sys
import zlib
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.data.broken_projects import write_broken_projects  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "bad"
PICKLE_MARKER = "pickle_code_ran.marker"


def _face_like(height=120, width=100) -> np.ndarray:
    image = np.full((height, width, 3), 180, np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 2 - 8), 0, 0, 360, (120, 150, 200), -1)
    return image


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class _RunsCode:
    """Unpickling this calls open(marker, 'w'): harmless, but proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = cv2.imencode(".jpg", _face_like())[1].tobytes()
    png = cv2.imencode(".png", _face_like())[1].tobytes()
    (folder / "zero_bytes.jpg").write_bytes(b"")
    (folder / "text_named.jpg").write_text("this is a note, not a photo\n")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "truncated_ends_whole.jpg").write_bytes(jpeg[: len(jpeg) // 2] + b"\xff\xd9")  # cut, end marker added
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "bomb_50000x50000.png").write_bytes(_png_claiming(50_000, 50_000))
    Image.fromarray(_face_like()[..., ::-1].copy()).convert("CMYK").save(folder / "cmyk.jpg")
    cv2.imwrite(str(folder / "sixteen_bit.png"), (_face_like().astype(np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_face_like(60, 140)[..., ::-1].copy()).save(folder / "exif_rotated.jpg", exif=exif)
    long_name = "very_long_name_" + "x" * 200 + ".jpg"
    (folder / long_name).write_bytes(jpeg)
    # A name that is not valid UTF-8 (Latin-1 bytes), as copied from an old camera card.
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9_photo.jpg"), "wb") as handle:
        handle.write(jpeg)


def write_tables(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "missing_columns.csv").write_text("path,gender\na.jpg,0\n")
    (folder / "no_path_column.csv").write_text("file,age\na.jpg,31\n")
    (folder / "wrong_types.csv").write_text("path,age\na.jpg,twenty\nb.jpg,-4\nc.jpg,31\n")
    (folder / "bom_crlf.csv").write_bytes("\ufeffpath,age\r\nc.jpg,31\r\n".encode("utf-8"))
    (folder / "fold_0_data.txt").write_text(
        "user_id\toriginal_image\tface_id\tage\tgender\n"
        "u1\tx.jpg\t1\t(25, 32)\tm\n"
        "u1\ty.jpg\t2\t(26, 31)\tf\n"  # not one of Adience's eight groups
    )
    faces = folder / "faces" / "u1"
    faces.mkdir(parents=True, exist_ok=True)
    for face_id, name in ((1, "x.jpg"), (2, "y.jpg")):
        cv2.imwrite(str(faces / f"coarse_tilt_aligned_face.{face_id}.{name}"), _face_like())
    (folder / "latin1.csv").write_bytes("path,age\ncaf\u00e9.jpg,31\n".encode("latin-1"))
    (folder / "ragged_rows.csv").write_text("path,age\na.jpg,31,extra\nb.jpg\n")
    megaage = folder / "megaage" / "list"
    megaage.mkdir(parents=True, exist_ok=True)
    (megaage / "train_name.txt").write_text("1.jpg\n2.jpg\n3.jpg\n")
    (megaage / "train_age.txt").write_text("23\n41\n")  # one age short: the lists no longer pair up


def write_projects(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "not_sqlite.ageproj").write_bytes(b"PK\x03\x04 this is a zip file, not a project\n" * 20)
    newer = folder / "newer_schema.ageproj"
    newer.unlink(missing_ok=True)
    connection = sqlite3.connect(newer)
    connection.execute("CREATE TABLE images (id INTEGER PRIMARY KEY)")
    connection.execute("PRAGMA user_version = 9999")
    connection.commit()
    connection.close()
    (folder / "empty.ageproj").write_bytes(b"")
    other = folder / "other_program.ageproj"
    other.unlink(missing_ok=True)
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        connection.commit()
    write_broken_projects(folder / "check")
    whole = (folder / "check" / "stale_posterior.ageproj").read_bytes()
    (folder / "truncated.ageproj").write_bytes(whole[: len(whole) // 2])  # a copy interrupted half way


def write_checkpoints(folder: Path) -> None:
    import torch
    import torchvision

    from trainer.checkpoint import FORMAT, VERSION, make_checkpoint, save_checkpoint
    from trainer.heads import AgeNet

    folder.mkdir(parents=True, exist_ok=True)
    marker = str(folder / PICKLE_MARKER)
    Path(marker).unlink(missing_ok=True)
    with open(folder / "code_in_pickle.pt", "wb") as handle:
        pickle.dump({"model": _RunsCode(marker)}, handle)
    torch.save({"format": FORMAT, "version": VERSION, "model": _RunsCode(marker)}, folder / "code_in_torch_zip.pt")
    # Another architecture: ImageNet's ResNet-18 (random weights, half precision to keep the corpus small), in our
    # format claiming to be ours, and as a plain state dict.
    torch.manual_seed(0)
    resnet = {name: value.half() for name, value in torchvision.models.resnet18(weights=None).state_dict().items()}
    config = {"net": "resnet18", "age_max": 70, "head": "paper", "beta": 0.36, "size": 112}
    save_checkpoint({"format": FORMAT, "version": VERSION, "model": resnet, "config": config},
                    folder / "resnet18_as_ours.pt")
    save_checkpoint(resnet, folder / "resnet18_state_dict.pt")
    tiny = AgeNet("tiny", age_max=20)
    good = make_checkpoint(tiny, None, None, {"net": "tiny", "age_max": 20, "size": 56}, 1, 1, [], 0, None)
    save_checkpoint({**good, "version": VERSION + 1}, folder / "newer_version.pt")
    buffer = io.BytesIO()
    torch.save(good, buffer)
    (folder / "truncated.pt").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def write_corpus(folder: Path = DEFAULT_DIR) -> Path:
    write_images(folder / "images")
    write_tables(folder / "tables")
    write_projects(folder / "projects")
    write_checkpoints(folder / "checkpoints")
    return folder


if __name__ == "__main__":
    print(write_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR))
