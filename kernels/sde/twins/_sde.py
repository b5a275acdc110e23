"""Torch twins of :mod:`parallax.kernels.sde` (same recursions, fed the same ``dW``)."""

from __future__ import annotations

import torch
from torch.func import jvp

from parallax.kernels._twins import python_loop

__all__ = ["euler_maruyama", "gbm_euler_maruyama", "gbm_milstein", "milstein", "ou_euler_maruyama"]


def _sde_step(method, drift, diffusion, x, t, dt, dw, args):
    g = diffusion(x, t, args)
    x_new = x + drift(x, t, args) * dt + g * dw
    if method == "milstein":
        dg_g = jvp(lambda y: diffusion(y, t, args), (x,), (g,))[1]
        x_new = x_new + 0.5 * dg_g * (dw * dw - dt)
    return x_new


@python_loop
def _solve(method, drift, diffusion, x0, dt, dW, args, t0, save_every):
    x, frames = x0, []
    for n in range(dW.shape[0]):
        x = _sde_step(method, drift, diffusion, x, t0 + n * dt, dt, dW[n], args)
        if (n + 1) % save_every == 0:
            frames.append(x)
    return x, torch.stack(frames)


def euler_maruyama(drift, diffusion, x0, dt, dW, args=None, *, t0=0.0, save_every: int = 1):
    return _solve("euler_maruyama", drift, diffusion, x0, dt, dW, args, t0, save_every)


def milstein(drift, diffusion, x0, dt, dW, args=None, *, t0=0.0, save_every: int = 1):
    return _solve("milstein", drift, diffusion, x0, dt, dW, args, t0, save_every)


def _ou_drift(x, t, args):
    return args[0] * (args[1] - x)


def _ou_diffusion(x, t, args):
    return args[2].expand(x.shape)


def _gbm_drift(x, t, args):
    return args[0] * x


def _gbm_diffusion(x, t, args):
    return args[1] * x


def ou_euler_maruyama(x0, theta, mu, sigma, dt, dW, *, save_every: int = 1):
    args = (theta, mu, sigma)
    return euler_maruyama(_ou_drift, _ou_diffusion, x0, dt, dW, args, save_every=save_every)


def gbm_euler_maruyama(x0, mu, sigma, dt, dW, *, save_every: int = 1):
    return euler_maruyama(
        _gbm_drift, _gbm_diffusion, x0, dt, dW, (mu, sigma), save_every=save_every
    )


def gbm_milstein(x0, mu, sigma, dt, dW, *, save_every: int = 1):
    return milstein(_gbm_drift, _gbm_diffusion, x0, dt, dW, (mu, sigma), save_every=save_every)
