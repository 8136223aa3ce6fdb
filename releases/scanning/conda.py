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
    "arrow-cpp", "nodejs", "gcc", "gxx", "binutils", "make", "cmake", "git", "curl", "c-ares",
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


class SpecRefused(ValueError):
    """A conda spec the gateway cannot read to one version set: blocks the release."""


_SPEC_RE = re.compile(r"^(?:[A-Za-z0-9_.\-/:]+::)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)(.*)$")


def parse_spec(text: str) -> tuple[str, str, str | None]:
    """'conda-forge::numpy=1.19.0=py38h0' → (name, PEP 440 specifier, pinned version).

    conda's `=1.19` means 1.19.*; `=1.19.0` (three or more parts) is read as a pin.
    Alternatives (`|`) and bracket keys are refused: conda chooses among them at
    install time, so no single version can be scanned."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # scan_env start-up: only with conda files

    spec = text.strip()
    match = _SPEC_RE.match(spec)
    if not match:
        raise SpecRefused(f"not a conda package spec: {text[:80]!r}")
    name, rest = match.group(1), match.group(2).strip()
    if "[" in rest or "|" in rest:
        raise SpecRefused(f"conda spec {text[:80]!r}: alternatives and bracket keys are not read; pin one version")
    if not rest:
        return name, "", None
    words = rest.split()
    if len(words) > 2:
        raise SpecRefused(f"conda spec {text[:80]!r} has more than a version and a build string")
    if len(words) == 2 or words[0][0].isdigit():  # "numpy 1.19.0 py38_0": version then build string
        rest = "=" + words[0]
    if rest.startswith("=") and not rest.startswith("=="):
        version = rest[1:].split("=", 1)[0]  # drop the build string
        if version.endswith("*"):
            version = version.rstrip(".*")
            return _checked(name, f"=={version}.*", None, text)
        if version.count(".") >= 2:
            return _checked(name, f"=={version}", version, text)
        return _checked(name, f"=={version}.*", None, text)
    spec_text = rest.split("=", 2)[0] if rest.count("=") > 2 else rest
    try:
        parsed = SpecifierSet(spec_text)
    except InvalidSpecifier:
        raise SpecRefused(f"conda spec {text[:80]!r}: version {spec_text[:40]!r} is not understood") from None
    pinned = next((s.version for s in parsed if s.operator in ("==", "===") and not s.version.endswith(".*")), None)
    return name, str(parsed), pinned


def _checked(name: str, specifier: str, version: str | None, text: str) -> tuple[str, str, str | None]:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(specifier)
    except InvalidSpecifier:
        raise SpecRefused(f"conda spec {text[:80]!r}: version is not understood") from None
    return name, specifier, version
