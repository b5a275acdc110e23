"""Peers: other implementations of a registered kernel's computation, timed beside it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parallax.registry import Case

__all__ = ["Peer", "peers_for", "register_peer"]

# Modules that register the peers of parallax's own kernels; imported on first lookup.
_BUILTIN = (
    "parallax.bench.peers._ode",
    "parallax.bench.peers._particles",
    "parallax.bench.peers._pde",
    "parallax.bench.peers._sde",
)
_PEERS: dict[str, dict[str, Peer]] = {}
_loaded = False


@dataclass(frozen=True)
class Peer:
    """Another implementation of a kernel's case, timed by ``parallax bench``.

    ``make(case)`` returns a zero-argument callable that runs one call of the case (prepare,
    jit and warm nothing inside the callable itself). ``module`` is imported first; when it is
    missing the peer is reported as unavailable rather than failing the bench. ``cases`` are the
    kernel's cases the peer can run.
    """

    name: str
    module: str
    make: Callable[[Case], Callable[[], Any]]
    cases: tuple[str, ...] = ("bench",)


def register_peer(kernel: str, peer: Peer) -> Peer:
    """Time ``peer`` beside the registered kernel named ``kernel`` (its own package may call
    this, like :func:`parallax.registry.register`); a second peer of the same name is an error."""
    have = _PEERS.setdefault(kernel, {})
    if peer.name in have and have[peer.name] is not peer:
        raise ValueError(f"kernel {kernel!r} already has a peer named {peer.name!r}")
    have[peer.name] = peer
    return peer


def peers_for(kernel: str) -> tuple[Peer, ...]:
    """The peers registered for ``kernel``, in registration order (none for most kernels)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN:
            importlib.import_module(module)
    return tuple(_PEERS.get(kernel, {}).values())


def load_peer(peer: Peer, case: Case) -> Callable[[], Any]:
    """Import the peer's library, then build its callable for ``case``."""
    importlib.import_module(peer.module)
    return peer.make(case)
