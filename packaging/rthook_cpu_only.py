"""PyInstaller runtime hook of the CPU-only bundle (packaging/ageapp.spec, GPU = False).

The spec leaves out the CUDA libraries that torch only loads for GPU work (cuDNN's engines, cuSOLVER, ...).
Hiding the GPUs keeps torch from choosing one it could not run on: training and estimation use the CPU.
A GPU build (AGEAPP_PACKAGE_GPU=1 make package) does not install this hook.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
