"""Conda package names → PyPI project names, and conda-only packages.

Conda-forge names most Python projects exactly as PyPI does (numpy, pandas,
scikit-learn, pyyaml, pillow...), so an unknown name is assumed to be the same
project. The exceptions below are either renamed builds of a PyPI project, or
packages that exist only as conda/system packages (interpreters, C libraries,
toolchains): those are listed in scan output but never matched against PyPI
advisories, which describe other software.
"""
import re

# Conda name → PyPI name, where they are the same project under another name.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "tensorflow-base": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "pytables": "tables",
    "ruamel_yaml": "ruamel-yaml",
    "pyqt": "pyqt5",
    "typing_extensions": "typing-extensions",
    "importlib_metadata": "importlib-metadata",
    "jupyter_core": "jupyter-core",
    "prompt_toolkit": "prompt-toolkit",
    "pywin32-on-windows": "pywin32",
    "grpcio-tools": "grpcio-tools",
    "protobuf": "protobuf",
}

# Packages that are not PyPI projects (or, for pip, the installer rather than the
# model's runtime: conda's pip is not what the model imports).
CONDA_ONLY = frozenset({
    "python", "pip", "conda", "mamba", "openssl", "ca-certificates", "tzdata", "zlib", "xz", "bzip2",
    "ncurses", "readline", "sqlite", "tk", "expat", "lz4-c", "zstd", "icu", "krb5", "openblas", "blas",
    "mkl", "mkl-include", "intel-openmp", "llvm-openmp", "cudatoolkit", "cuda-toolkit", "cudnn", "nccl",
    "arrow-cpp", "nodejs", "gcc", "gxx", "binutils", "make", "cmake", "git", "curl", "krb5", "c-ares",
    "yaml", "yaml-cpp", "hdf5", "freetype", "jpeg", "giflib", "glib", "gstreamer", "pcre", "pcre2",
    "ld_impl_linux-64", "sysroot_linux-64", "kernel-headers_linux-64", "tbb", "xorg-libx11",
})

_SYSTEM_PREFIXES = ("lib", "_", "r-", "xorg-", "cuda-")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_name(conda_name: str) -> str | None:
    """The PyPI project a conda package is, or None if it is conda-only."""
    lowered = conda_name.lower()
    if lowered in CONDA_ONLY or lowered.startswith(_SYSTEM_PREFIXES):
        return None
    return _normalise(CONDA_TO_PYPI.get(lowered, lowered))
