"""Where Intel MKL is installed, as compiler flags for the FFI handlers that call it.

MKL comes from the ``mkl-devel`` wheels (the ``cpu-fft`` extra: ``mkl`` for the libraries,
``mkl-include`` for the headers), found through the installed distributions' file lists, so any
install prefix works. Handlers link MKL's sequential layer: they do their own threading on XLA's
pool, and MKL's OpenMP threads would compete with XLA's for the same cores.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from parallax.kernels._native import Unavailable

__all__ = ["flags"]

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


def flags() -> list[str]:
    """Include, link and rpath flags for MKL's headers and sequential libraries; raises
    :class:`~parallax.kernels._native.Unavailable` off x86-64 Linux or without MKL."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Unavailable(f"MKL is used on x86-64 Linux only, not {platform.platform()}")
    header = _find("mkl-include", "mkl.h")
    libs = [_find("mkl", f"lib{name}.so") for name in _LIBRARIES]
    lib_dir = libs[0].parent
    return [
        f"-I{header.parent}",
        f"-L{lib_dir}",
        *(f"-l:{lib.name}" for lib in libs),
        f"-Wl,-rpath,{lib_dir}",
    ]
