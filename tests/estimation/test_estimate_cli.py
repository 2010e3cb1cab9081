"""`ageapp estimate` prints a JSON line per face and a summary line, with YuNet and with the Haar fallback."""

from __future__ import annotations

import json
import shutil

from ageapp.__main__ import main


def _utk_folder(tmp_path, utkface_images, count=3):
    folder = tmp_path / "utk"
    folder.mkdir()
    for name in sorted(utkface_images.iterdir())[::1500][:count]:
        shutil.copy(name, folder / name.name)
    return folder


def test_estimate_with_yunet(tmp_path, utkface_images, yunet_model, untrained_checkpoint, capsys):
    folder = _utk_folder(tmp_path, utkface_images)
    status = main(["estimate", str(folder), "--model", str(untrained_checkpoint), "--detector", str(yunet_model)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    faces = [json.loads(line) for line in lines if line.startswith('{"path"')]
    summary = json.loads(lines[-1])
    assert summary["faces"] == len(faces) >= 3 and summary["detector"] == "yunet" and summary["errors"] == []
    assert all(0 <= face["age_mean"] <= 100 and len(face["posterior"]) == 101 for face in faces)


def test_estimate_falls_back_to_haar_with_a_notice(tmp_path, fgnet_images, untrained_checkpoint, capsys, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    status = main(["estimate", str(fgnet_images / "009A14.JPG"), "--model", str(untrained_checkpoint)])
    captured = capsys.readouterr()
    assert status == 0 and "Haar cascade (fallback" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["faces"] >= 1


def test_estimate_without_images_fails_clearly(tmp_path, untrained_checkpoint, capsys):
    status = main(["estimate", str(tmp_path), "--model", str(untrained_checkpoint)])
    assert status == 1 and "no images found" in capsys.readouterr().err
