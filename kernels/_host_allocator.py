r"""The C library's allocator under XLA:CPU's buffers, set so that a program's outputs reuse
memory instead of mapping fresh pages on every call.

XLA:CPU takes every buffer a program returns from ``malloc``. glibc serves a request above its
mmap threshold (128 KiB at start, raised by its own heuristics up to 32 MiB) with a fresh
mapping, and XLA's threads allocate from per-thread arenas whose extra heaps are unmapped as
soon as they empty. Either way the memory handed back is new to the process, so the first write
to each 4 KiB page of an output faults and the kernel zeroes the page: for a 16 MiB output that
is 4096 faults and 16 MiB of zeroes, several times the cost of an elementwise op that writes it.
Which happens depends on the order of earlier allocations, so the same program is fast in one
process and several times slower in the next.

:func:`configure_host_allocator` fixes the policy with ``mallopt``: the mmap threshold at
``mmap_threshold`` (glibc's maximum, 32 MiB, by default), the trim threshold at
``trim_threshold`` and the top pad at ``top_pad``, the free space a heap keeps (an arena's heap
is unmapped only when more than that would remain free). Freed buffers up to 32 MiB then stay
in the heaps and the next call's outputs reuse them. The price is memory: up to
``trim_threshold`` bytes of freed heap stay mapped. Buffers above 32 MiB are always mapped
afresh.

It changes the whole process, so nothing calls it on import: parallax's command line
(``scripts/run``, ``parallax bench``) calls it first thing, and a script that wants the same calls
it before its first JAX computation.
"""

from __future__ import annotations

import ctypes
import platform
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["HostAllocator", "configure_host_allocator", "host_allocator"]

MiB = 1 << 20

# mallopt's parameter numbers (<malloc.h>) and glibc's largest mmap threshold on 64-bit hosts
# (half of its 64 MiB per-thread heap).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MAX_MMAP_THRESHOLD = 32 * MiB


@dataclass(frozen=True)
class HostAllocator:
    """The allocator policy this process runs with: ``applied`` is False (and ``reason`` says
    why) where :func:`configure_host_allocator` was not called or could not apply it."""

    library: str
    applied: bool
    mmap_threshold: int | None = None
    trim_threshold: int | None = None
    top_pad: int | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and the benchmarks page."""
        if not self.applied:
            return f"{self.library} defaults ({self.reason})"
        sizes = (self.mmap_threshold, self.trim_threshold, self.top_pad)
        mmap, trim, pad = (f"{(n or 0) / MiB:g} MiB" for n in sizes)
        return f"{self.library}, mmap threshold {mmap}, trim threshold {trim}, top pad {pad}"


def _library() -> str:
    name, version = platform.libc_ver()
    return f"{name} {version}".strip() or "unknown C library"


_state = HostAllocator(_library(), False, reason="configure_host_allocator() not called")


def _mallopt() -> Any:
    if platform.libc_ver()[0] != "glibc":
        return None
    return getattr(ctypes.CDLL(None), "mallopt", None)


def configure_host_allocator(
    *,
    mmap_threshold: int = _MAX_MMAP_THRESHOLD,
    trim_threshold: int = 128 * MiB,
    top_pad: int = 64 * MiB,
) -> HostAllocator:
    """Set glibc's allocator so that buffers up to ``mmap_threshold`` bytes are reused across
    calls (module docstring); returns the policy now in force.

    Call it before the first JAX computation. Elsewhere than glibc it changes nothing and
    says so in ``reason``. Raises ``ValueError`` for an argument glibc would not take.
    """
    global _state
    if not 0 < mmap_threshold <= _MAX_MMAP_THRESHOLD:
        raise ValueError(
            f"mmap_threshold: expected 1 to {_MAX_MMAP_THRESHOLD} bytes (glibc's maximum), "
            f"got {mmap_threshold}"
        )
    if not mmap_threshold <= trim_threshold < 2**31:
        raise ValueError(
            f"trim_threshold: expected mmap_threshold ({mmap_threshold}) to 2**31 - 1 bytes (a "
            f"smaller one returns freed buffers to the system at once), got {trim_threshold}"
        )
    if not 0 <= top_pad < 2**31:
        raise ValueError(f"top_pad: expected 0 to 2**31 - 1 bytes, got {top_pad}")
    mallopt = _mallopt()
    if mallopt is None:
        _state = HostAllocator(_library(), False, reason="not glibc: its defaults are kept")
        return _state
    for param, value in (
        (_M_MMAP_THRESHOLD, mmap_threshold),
        (_M_TRIM_THRESHOLD, trim_threshold),
        (_M_TOP_PAD, top_pad),
    ):
        if mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            raise OSError(f"mallopt({param}, {value}) failed")
    _state = HostAllocator(_library(), True, mmap_threshold, trim_threshold, top_pad)
    return _state


def host_allocator() -> HostAllocator:
    """The policy :func:`configure_host_allocator` last set (or glibc's defaults)."""
    return _state
