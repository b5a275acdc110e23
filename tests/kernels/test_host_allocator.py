"""configure_host_allocator: XLA:CPU's output buffers are reused across calls, so a program's
outputs stop faulting in fresh pages on every call; bad arguments are named.

The policy is process-wide, so the fault counts are taken in a fresh interpreter."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys

import numpy as np
import pytest

from parallax.kernels import _host_allocator, configure_host_allocator, host_allocator

# Minor page faults per call of a jitted elementwise op with a 16 MiB output (4096 pages):
# glibc's defaults map the output afresh in some processes, not in others.
_PROBE = """
import json, resource, sys
if sys.argv[1] == "configure":
    from parallax.kernels import configure_host_allocator
    configure_host_allocator()
import jax, jax.numpy as jnp
x = jnp.ones((4, 1024, 1024), jnp.float32)
f = jax.jit(lambda x: x * 2.0 + 1.0)
faults = []
for _ in range(40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def _faults_per_call(mode: str) -> float:
    """The median over calls: the heap grows to its working size in the first few calls, and
    now and then again when small allocations fragment it."""
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return float(np.median(json.loads(res.stdout.strip().splitlines()[-1])))


@glibc
def test_outputs_reuse_memory_instead_of_faulting_in_fresh_pages():
    pages = 16 * 2**20 // 4096
    # several fresh processes: the defaults fault in some of them, the policy in none
    assert max(_faults_per_call("configure") for _ in range(3)) < pages / 20


_MAPPED = """
import ctypes, json, sys
if sys.argv[1] == "configure":
    from parallax.kernels import configure_host_allocator
    configure_host_allocator()

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                 "keepcost").split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
p = libc.malloc(16 << 20)
print(json.dumps(libc.mallinfo2().hblkhd - before))
"""


@glibc
@pytest.mark.parametrize(("mode", "mapped"), [("defaults", 16 << 20), ("configure", 0)])
def test_a_16_mib_buffer_comes_from_the_heap_not_a_fresh_mapping(mode, mapped):
    res = subprocess.run(
        [sys.executable, "-c", _MAPPED, mode], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    grown = json.loads(res.stdout.strip().splitlines()[-1])  # bytes newly mapped by malloc
    assert grown >= mapped if mapped else grown == 0


@glibc
def test_the_policy_in_force_is_reported():
    policy = configure_host_allocator()
    assert policy == host_allocator()
    assert policy.applied and policy.library.startswith("glibc")
    sizes = (policy.mmap_threshold, policy.trim_threshold, policy.top_pad)
    assert sizes == (32 << 20, 128 << 20, 64 << 20)
    assert policy.describe().endswith(
        "mmap threshold 32 MiB, trim threshold 128 MiB, top pad 64 MiB"
    )
    assert configure_host_allocator() == policy  # idempotent


def test_elsewhere_than_glibc_nothing_changes_and_the_reason_is_given(monkeypatch):
    monkeypatch.setattr(_host_allocator, "_mallopt", lambda: None)
    monkeypatch.setattr(_host_allocator, "_state", _host_allocator._state)
    policy = configure_host_allocator()
    assert not policy.applied
    assert policy.reason == "not glibc: its defaults are kept"
    assert policy.describe().endswith("defaults (not glibc: its defaults are kept)")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mmap_threshold": 64 << 20}, "mmap_threshold: expected 1 to 33554432 bytes"),
        ({"mmap_threshold": 0}, "mmap_threshold: expected 1 to"),
        ({"trim_threshold": 1 << 20}, "trim_threshold: expected mmap_threshold (33554432)"),
        ({"trim_threshold": 2**31}, "trim_threshold: expected"),
        ({"top_pad": -1}, "top_pad: expected 0 to 2**31 - 1 bytes, got -1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        configure_host_allocator(**kwargs)
