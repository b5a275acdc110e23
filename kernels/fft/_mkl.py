"""The MKL FFT handler (``_mkl_fft.cc``), built against MKL on first use and registered with
XLA (:mod:`parallax.kernels._native`, :mod:`parallax.kernels._mkl`)."""

from __future__ import annotations

from pathlib import Path

from parallax.kernels import _mkl
from parallax.kernels._native import Handler

__all__ = ["TARGET", "available", "reason"]

TARGET = "parallax_mkl_fft"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_fft.cc"),
    (TARGET,),
    switch="PARALLAX_MKL_FFT",
    fallback="CPU FFTs run on XLA's FFT (one core inside loops)",
    flags=_mkl.flags,
)
available = _HANDLER.available
reason = _HANDLER.reason
