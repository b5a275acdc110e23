"""Peers: other libraries' implementations of parallax's kernels (SciPy, NumPy, exponax, diffrax,
jax-md), keyed by kernel name and timed by ``parallax bench`` and ``parallax gpu-check`` beside
JAX and the torch twin. A user package adds its own with :func:`register_peer`.
"""

from parallax.bench.peers._peer import Peer as Peer
from parallax.bench.peers._peer import load_peer as load_peer
from parallax.bench.peers._peer import peers_for as peers_for
from parallax.bench.peers._peer import register_peer as register_peer

__all__ = ["Peer", "load_peer", "peers_for", "register_peer"]
