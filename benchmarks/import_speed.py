"""Import speed: scan a dataset folder and import it, with face detection, into a throw-away project.

    .venv/bin/python benchmarks/import_speed.py [--source DIR] [--limit N] [--workers 2] [--aligned]

Prints one JSON line: images_per_s, n, seconds, detector (plus workers and faces_found).
Defaults to FG-NET and YuNet from ../shared, which a user's machine does not have: pass --source there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ageapp.faces.detection import make_detector
from ageapp.datasets.scan import scan
from ageapp.store.db import open_project
from ageapp.store.importing import import_records

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED / "data" / "fgnet" / "images")
    parser.add_argument("--detector", type=Path, default=SHARED / "models" / "face_detection_yunet.onnx")
    parser.add_argument("--limit", type=int, help="import only the first N images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--aligned", action="store_true")
    args = parser.parse_args()
    if not args.source.exists():
        print(f"{args.source} is absent: pass --source with a folder of images", file=sys.stderr)
        return 2
    scanned = scan(args.source)
    scanned = replace(scanned, records=scanned.records[: args.limit])
    detector_name = make_detector(args.detector).name
    with tempfile.TemporaryDirectory() as folder:
        db = open_project(Path(folder) / "bench.ageproj", create=True)
        started = time.perf_counter()
        report = import_records(db, scanned, args.source, role="reference", detector_path=args.detector,
                                aligned=args.aligned, workers=args.workers)
        seconds = time.perf_counter() - started
        db.close()
    print(json.dumps({
        "images_per_s": round(report.imported / seconds, 2), "n": report.imported, "seconds": round(seconds, 2),
        "detector": detector_name, "workers": args.workers, "faces_found": report.faces_found,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
