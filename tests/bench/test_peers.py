"""Peers are keyed by registered kernel names and cases; a user package can add its own."""

from __future__ import annotations

import numpy as np
import pytest

from parallax.bench import bench_spec
from parallax.bench.peers import Peer, peers_for, register_peer
from parallax.registry import get, names


def test_every_peer_belongs_to_a_registered_kernel_and_case():
    from parallax.bench.peers import _peer

    peers_for("pde.heat_1d")  # loads the built-in peers
    assert set(_peer._PEERS) <= set(names())
    for kernel, by_name in _peer._PEERS.items():
        spec = get(kernel)
        for peer in by_name.values():
            assert set(peer.cases) <= set(spec.cases), (kernel, peer.name, peer.cases)
    assert [p.name for p in peers_for("ode.dopri5_lorenz63")] == ["diffrax", "scipy"]
    assert peers_for("nn.mlp") == ()


def test_a_registered_peer_is_timed_and_a_duplicate_is_an_error(monkeypatch):
    from parallax.bench.peers import _peer

    monkeypatch.setitem(_peer._PEERS, "pde.heat_1d", dict(_peer._PEERS.get("pde.heat_1d", {})))
    calls = []

    def make(case):
        u0 = np.asarray(case.inputs["u0"])
        return lambda: calls.append(u0.shape)

    mine = register_peer("pde.heat_1d", Peer("mine", "numpy", make, cases=("test",)))
    with pytest.raises(ValueError, match="already has a peer named 'mine'"):
        register_peer("pde.heat_1d", Peer("mine", "numpy", make))
    assert mine in peers_for("pde.heat_1d")
    (rec,) = bench_spec(get("pde.heat_1d"), "test", impls=["mine"], samples=7, min_sample_s=0.0)
    assert rec.error is None and rec.median_us is not None and calls
