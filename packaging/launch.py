"""The bundle's entry point (PyInstaller runs this script): the same `main()` as `ageapp` / `python -m ageapp`."""

import multiprocessing
import sys

from ageapp.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # training's data-loader workers start copies of this executable
    sys.exit(main())
