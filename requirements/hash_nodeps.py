"""Write a hashed requirements file for packages installed WITHOUT their dependencies (`make lock` runs it).

pip-compile resolves a package's dependencies and would lock them too; for requirements/bench-nodeps.in that is
wrong (imagecorruptions asks for opencv-python, a second cv2 beside opencv-python-headless). This reads
`name==version` lines and prints each pin with the sha256 of every file the index has for that release (wheels
and sdist, as pip-compile does), from the index's JSON simple API (PEP 691).

    python requirements/hash_nodeps.py requirements/bench-nodeps.in > requirements/bench-nodeps.txt
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

INDEX = "https://pypi.org/simple"


def release_hashes(name: str, version: str) -> list[str]:
    request = urllib.request.Request(f"{INDEX}/{canonicalize_name(name)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    hashes = []
    for entry in files:
        filename = entry["filename"]
        try:
            parsed = (parse_wheel_filename(filename) if filename.endswith(".whl") else parse_sdist_filename(filename))
        except ValueError:
            continue
        if str(parsed[1]) == version and "sha256" in entry.get("hashes", {}):
            hashes.append(entry["hashes"]["sha256"])
    if not hashes:
        sys.exit(f"{name}=={version}: no files with a sha256 on {INDEX}; check the name and version")
    return sorted(hashes)


def main(source: str) -> None:
    print(f"# Written by `make lock` from {source} (requirements/hash_nodeps.py): do not edit by hand.")
    print("# Installed with `pip install --no-deps --require-hashes -r` this file: their dependencies come from")
    print("# requirements/lock.txt, not from their own metadata.")
    for line in Path(source).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(pins) != 1:
            sys.exit(f"{source}: '{line}' must pin one version with ==")
        hashes = release_hashes(requirement.name, pins[0])
        print(f"{requirement.name}=={pins[0]} \\")
        print(" \\\n".join(f"    --hash=sha256:{h}" for h in hashes))


if __name__ == "__main__":
    main(sys.argv[1])
