"""Peers of the SDE kernels: the same recursions in NumPy, one time step per Python iteration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from parallax.bench.peers._peer import Peer, register_peer
from parallax.registry import Case


def _numpy_ou(case: Case) -> Callable[[], Any]:
    x0, dW = np.asarray(case.inputs["x0"]), np.asarray(case.inputs["dW"])
    th, mu, sg, dt = (np.asarray(case.inputs[k]) for k in ("theta", "mu", "sigma", "dt"))

    def run() -> np.ndarray:
        x = x0
        for dw in dW:
            x = x + th * (mu - x) * dt + sg * dw
        return x

    return run


def _numpy_gbm(milstein: bool) -> Callable[[Case], Callable[[], Any]]:
    def make(case: Case) -> Callable[[], Any]:
        x0, dW = np.asarray(case.inputs["x0"]), np.asarray(case.inputs["dW"])
        mu, sg, dt = (np.asarray(case.inputs[k]) for k in ("mu", "sigma", "dt"))

        def run() -> np.ndarray:
            x = x0
            for dw in dW:
                nxt = x + mu * x * dt + sg * x * dw
                if milstein:
                    nxt = nxt + 0.5 * sg * sg * x * (dw * dw - dt)
                x = nxt
            return x

        return run

    return make


register_peer("sde.ou_euler_maruyama", Peer("numpy", "numpy", _numpy_ou))
register_peer("sde.gbm_euler_maruyama", Peer("numpy", "numpy", _numpy_gbm(False)))
register_peer("sde.gbm_milstein", Peer("numpy", "numpy", _numpy_gbm(True)))
