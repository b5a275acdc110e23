"""Building parallax's small C++ XLA FFI handlers on first use.

A handler's source ships with the package. :func:`load` compiles it with the C++ compiler
(``$CXX``, else ``c++``, ``g++`` or ``clang++``) against ``jax.ffi.include_dir()`` and the
headers handlers share (``kernels/_*.h``) into ``$PARALLAX_CACHE_DIR`` (default
``$XDG_CACHE_HOME/parallax``, else ``~/.cache/parallax``), once per source, shared headers,
flags, jaxlib version and compiler; a read-only cache directory falls back to a temporary one.
The build renames the finished library into place, so concurrent processes (test workers) never
load a half-written file. A :class:`Handler` builds handlers on first use, registers them as CPU
custom calls, and says whether programs may call them; each handler's module decides what to
fall back to when they may not.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jaxlib
from jax.extend.core import ClosedJaxpr, Primitive, jaxpr_as_fun
from jax.interpreters import batching, mlir

__all__ = ["Handler", "Unavailable", "call", "compiler", "handler_may_run", "handlers", "load"]

_HEADERS = Path(__file__).parent  # the headers handlers share: kernels/_*.h


def compiler() -> str | None:
    """The C++ compiler to build with: ``$CXX``, else the first of c++, g++, clang++ on PATH."""
    named = os.environ.get("CXX")
    if named:
        return shutil.which(named) or named
    return next((p for c in ("c++", "g++", "clang++") if (p := shutil.which(c))), None)


def _cache_dirs() -> list[Path]:
    if env := os.environ.get("PARALLAX_CACHE_DIR"):
        first = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        first = (Path(xdg) if xdg else Path.home() / ".cache") / "parallax"
    user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""
    return [first, Path(tempfile.gettempdir()) / f"parallax{user}"]


def _build(stem: str, source: Path, cxx: str, flags: Sequence[str]) -> Path:
    """The shared library, compiled now unless a cached one matches."""
    parts = [
        source.read_bytes(),
        *(h.read_bytes() for h in sorted(_HEADERS.glob("_*.h"))),
        jaxlib.__version__.encode(),
        cxx.encode(),
        *map(str.encode, flags),
    ]
    key = hashlib.sha256(b"\0".join(parts))
    name = f"{stem}-{key.hexdigest()[:16]}.so"
    errors = []
    for folder in _cache_dirs():
        lib = folder / name
        if lib.exists():
            return lib
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            cmd = [
                cxx,
                "-std=c++17",
                "-O2",
                "-shared",
                "-fPIC",
                "-w",
                f"-I{jax.ffi.include_dir()}",
                f"-I{_HEADERS}",
                str(source),
                "-o",
                str(tmp),
                *flags,
            ]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            if run.returncode != 0:
                raise OSError(f"{' '.join(cmd)} failed: {run.stderr.strip()[-2000:]}")
            os.replace(tmp, lib)
            return lib
        except OSError as e:
            errors.append(f"{folder}: {e}")
    raise OSError("; ".join(errors))


def load(stem: str, source: Path, flags: Sequence[str] = ()) -> ctypes.CDLL:
    """The compiled ``source`` (cached as ``stem-<hash>.so``), loaded. ``flags`` go after the
    source on the compiler's command line (include paths, libraries, rpaths). Raises
    :class:`OSError` when there is no compiler or the build fails."""
    cxx = compiler()
    if cxx is None:
        raise OSError("no C++ compiler found (set CXX)")
    path = _build(stem, source, cxx, flags)
    try:
        return ctypes.cdll.LoadLibrary(str(path))
    except OSError:  # a damaged cache entry (builds rename atomically): build it again
        path.unlink(missing_ok=True)
        return ctypes.cdll.LoadLibrary(str(_build(stem, source, cxx, flags)))


def handler_may_run(ctx, *, partitionable: bool = False) -> bool:
    """Whether the op being lowered (``ctx``, a lowering rule's context) may become one of
    parallax's custom calls rather than XLA's own op: not in a program being exported
    (``jax.export`` refuses custom calls without a compatibility guarantee, and the artifact
    must run where no handler was ever built), and, unless the call is ``partitionable``
    (its operands are replicated scalars), not where XLA's partitioner splits the op (several
    devices outside a ``shard_map`` manual over every mesh axis of size above one: it knows how
    to partition XLA's ops, not a custom call)."""
    if ctx.module_context.lowering_parameters.for_export:
        return False
    if partitionable:
        return True
    axes = ctx.module_context.axis_context
    if getattr(axes, "num_devices", 1) > 1:
        return False
    mesh = getattr(axes, "mesh", None)
    manual = getattr(axes, "manual_axes", frozenset())
    return mesh is None or all(n == 1 or a in manual for a, n in mesh.shape.items())


class Unavailable(Exception):
    """A handler's prerequisites are absent by configuration (a library not installed, another
    platform): the fallback is expected, so nothing is warned."""


class Handler:
    """XLA FFI handlers compiled from ``source`` on first use; each of ``targets`` is a symbol of
    the library and is registered as the CPU custom call of that name.

    ``switch`` names the environment variable that turns them off (``=0``); ``flags`` returns
    the extra compiler flags, or raises :class:`Unavailable`; ``fallback`` says, in a warning
    that a failed build gives once, what programs do instead.
    """

    def __init__(
        self,
        source: Path,
        targets: Sequence[str],
        *,
        switch: str,
        fallback: str,
        flags: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        self.source, self.targets, self.switch = source, tuple(targets), switch
        self._fallback, self._flags = fallback, flags
        self._lock = threading.Lock()
        self._ok: bool | None = None
        self._error = ""
        self._library: ctypes.CDLL | None = None  # keeps the registered code loaded
        _HANDLERS.append(self)

    @property
    def name(self) -> str:
        """The handler's name: its source file's stem (``mkl_matmul`` for ``_mkl_matmul.cc``)."""
        return self.source.stem.lstrip("_")

    def _register(self) -> None:
        library = load(self.name, self.source, self._flags())
        for target in self.targets:
            capsule = jax.ffi.pycapsule(getattr(library, target))
            jax.ffi.register_ffi_target(target, capsule, platform="cpu")
        self._library = library

    def available(self) -> bool:
        """Whether programs lowered now may call the handler: built (or found in the cache) and
        registered. False when turned off, unavailable, or when the build failed (warned once)."""
        if os.environ.get(self.switch, "1") == "0":
            return False
        with self._lock:
            if self._ok is None:
                try:
                    self._register()
                    self._ok = True
                except Unavailable as e:
                    self._ok, self._error = False, str(e)
                except Exception as e:  # any failure to build, load or register: fall back
                    self._ok, self._error = False, str(e)
                    warnings.warn(
                        f"parallax: could not build {self.source.name}, so {self._fallback}; set "
                        f"{self.switch}=0 to silence this. Reason: {e}",
                        RuntimeWarning,
                        stacklevel=3,
                    )
        return bool(self._ok)

    def reason(self) -> str:
        """Why programs do not call the handler ('' when they do)."""
        if os.environ.get(self.switch, "1") == "0":
            return f"turned off by {self.switch}=0"
        return "" if self.available() else self._error


_HANDLERS: list[Handler] = []


def handlers() -> dict[str, str]:
    """Every handler parallax defines (its modules imported with :mod:`parallax.kernels`), by
    :attr:`Handler.name`: ``""`` where CPU programs lowered now call it, else why they do not.
    Asking builds each handler that is not cached yet."""
    import parallax.kernels  # noqa: F401 (defines every handler)

    return {h.name: h.reason() for h in sorted(_HANDLERS, key=lambda h: h.name)}


native_call_p = Primitive("parallax_native_call")
native_call_p.multiple_results = True


def call(
    target: str,
    fallback: Callable[..., Sequence[jax.Array]],
    *args: jax.Array,
    partitionable: bool = False,
    **attrs,
):
    """The outputs of the custom call ``target`` on ``args`` (with attributes ``attrs``) where
    :func:`handler_may_run` (given ``partitionable``), else those of ``fallback(*args)``, traced
    now: the same values computed with XLA's ops, for GPU/TPU lowerings, exported programs and
    programs XLA partitions. The caller checks that the handler is available. Under ``vmap``
    the batch axis leads every argument (the handler treats leading axes as a batch)."""
    closed = jax.make_jaxpr(lambda *a: tuple(fallback(*a)))(*args)
    return native_call_p.bind(
        *args,
        target=target,
        fallback=closed,
        partitionable=partitionable,
        attrs=tuple(attrs.items()),
    )


def _native_call_impl(*args, **params):
    return jax.jit(lambda *a: native_call_p.bind(*a, **params))(*args)


def _fallback_lowering(ctx, *args, fallback: ClosedJaxpr, **_):
    return mlir.lower_fun(jaxpr_as_fun(fallback), multiple_results=True)(ctx, *args)


def _native_call_lowering(ctx, *args, target: str, partitionable: bool, attrs: tuple, **params):
    if not handler_may_run(ctx, partitionable=partitionable):
        return _fallback_lowering(ctx, *args, **params)
    return jax.ffi.ffi_lowering(target)(ctx, *args, **dict(attrs))


def _native_call_batch(args, dims, *, fallback: ClosedJaxpr, **params):
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    moved = [
        jax.numpy.broadcast_to(a, (size, *a.shape)) if d is None else jax.numpy.moveaxis(a, d, 0)
        for a, d in zip(args, dims, strict=True)
    ]
    batched = jax.make_jaxpr(jax.vmap(jaxpr_as_fun(fallback)))(*moved)
    outs = native_call_p.bind(*moved, fallback=batched, **params)
    return outs, [0] * len(outs)


native_call_p.def_impl(_native_call_impl)
native_call_p.def_abstract_eval(lambda *a, fallback, **_: fallback.out_avals)
batching.primitive_batchers[native_call_p] = _native_call_batch
mlir.register_lowering(native_call_p, _fallback_lowering)
mlir.register_lowering(native_call_p, _native_call_lowering, platform="cpu")
