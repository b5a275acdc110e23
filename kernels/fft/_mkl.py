"""Finding MKL, building the FFT handler against it and registering it with XLA.

MKL comes from the ``mkl-devel`` wheels (the ``cpu-fft`` extra: ``mkl`` for the libraries,
``mkl-include`` for ``mkl_dfti.h``), found through the installed distributions' file lists, so
any install prefix works. The handler links MKL's sequential layer: it does its own threading on
XLA's pool, and MKL's OpenMP threads would compete with XLA's for the same cores.
"""

from __future__ import annotations

import os
import platform
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from parallax.kernels import _native

__all__ = ["TARGET", "available", "reason"]

TARGET = "parallax_mkl_fft"
_SOURCE = Path(__file__).with_name("_mkl_fft.cc")
_LIBRARIES = ("mkl_intel_lp64", "mkl_sequential", "mkl_core")
_lock = threading.Lock()
_status: dict[str, Any] = {}


class _Missing(Exception):
    """MKL or its headers are not installed: a normal configuration, not a failure."""


def _find(distribution: str, suffix: str) -> Path:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise _Missing(
            f"{distribution} is not installed (pip install 'parallax[cpu-fft]')"
        ) from None
    for f in files:
        if f.name.startswith(suffix) or f.name == suffix:
            return Path(f.locate()).resolve()
    raise _Missing(f"{distribution} is installed but has no {suffix}")


def _flags() -> list[str]:
    header = _find("mkl-include", "mkl_dfti.h")
    libs = [_find("mkl", f"lib{name}.so") for name in _LIBRARIES]
    lib_dir = libs[0].parent
    return [
        f"-I{header.parent}",
        f"-L{lib_dir}",
        *(f"-l:{lib.name}" for lib in libs),
        f"-Wl,-rpath,{lib_dir}",
    ]


def _load() -> None:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise _Missing(f"MKL's FFT is used on x86-64 Linux only, not {platform.platform()}")
    lib = _native.load("mkl_fft", _SOURCE, _flags())
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.parallax_mkl_fft), platform="cpu")
    _status["library"] = lib  # keep the handle (and its code) alive


def available() -> bool:
    """Whether CPU programs take MKL's FFT: built (or cached) and registered now.

    ``PARALLAX_MKL_FFT=0`` turns it off. Without MKL installed, or off x86-64 Linux, it is
    quietly unavailable (:func:`reason` says why); a failed build warns once."""
    if os.environ.get("PARALLAX_MKL_FFT", "1") == "0":
        return False
    with _lock:
        if "ok" not in _status:
            try:
                _load()
                _status["ok"] = True
            except _Missing as e:
                _status["ok"] = False
                _status["error"] = str(e)
            except Exception as e:  # any failure to build, load or register: fall back
                _status["ok"] = False
                _status["error"] = str(e)
                warnings.warn(
                    "parallax: MKL is installed but its FFT handler could not be built, so CPU "
                    "FFTs run on XLA's FFT (one core inside loops); set PARALLAX_MKL_FFT=0 to "
                    f"silence this. Reason: {e}",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return bool(_status["ok"])


def reason() -> str:
    """Why MKL's FFT is not in use ('' when it is)."""
    if os.environ.get("PARALLAX_MKL_FFT", "1") == "0":
        return "turned off by PARALLAX_MKL_FFT=0"
    return "" if available() else str(_status.get("error", ""))
