"""Finding MKL, building the FFT handler against it and registering it with XLA.

MKL comes from the ``mkl-devel`` wheels (the ``cpu-fft`` extra: ``mkl`` for the libraries,
``mkl-include`` for ``mkl_dfti.h``), found through the installed distributions' file lists, so
any install prefix works. The handler links MKL's sequential layer: it does its own threading on
XLA's pool, and MKL's OpenMP threads would compete with XLA's for the same cores.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from parallax.kernels._native import Handler, Unavailable

__all__ = ["TARGET", "available", "reason"]

TARGET = "parallax_mkl_fft"
_LIBRARIES = ("mkl_intel_lp64", "mkl_sequential", "mkl_core")


def _find(distribution: str, prefix: str) -> Path:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise Unavailable(
            f"{distribution} is not installed (pip install 'parallax[cpu-fft]')"
        ) from None
    for f in files:
        if f.name.startswith(prefix):
            return Path(str(f.locate())).resolve()
    raise Unavailable(f"{distribution} is installed but has no {prefix}")


def _flags() -> list[str]:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Unavailable(f"MKL's FFT is used on x86-64 Linux only, not {platform.platform()}")
    header = _find("mkl-include", "mkl_dfti.h")
    libs = [_find("mkl", f"lib{name}.so") for name in _LIBRARIES]
    lib_dir = libs[0].parent
    return [
        f"-I{header.parent}",
        f"-L{lib_dir}",
        *(f"-l:{lib.name}" for lib in libs),
        f"-Wl,-rpath,{lib_dir}",
    ]


_HANDLER = Handler(
    TARGET,
    Path(__file__).with_name("_mkl_fft.cc"),
    switch="PARALLAX_MKL_FFT",
    fallback="CPU FFTs run on XLA's FFT (one core inside loops)",
    flags=_flags,
)
available = _HANDLER.available
reason = _HANDLER.reason
