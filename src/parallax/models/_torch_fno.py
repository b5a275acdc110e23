"""Torch twin of the FNO, written like the reference code of Li et al. (``fourier_1d.py`` /
``fourier_2d.py``): channels-last input, ``fc0`` lift, channels-first spectral layers
``convs.{i}`` with complex ``weights1`` (and ``weights2`` in 2D) of shape ``(c_in, c_out,
*modes)``, kernel-size-1 convolutions ``ws.{i}``, then ``fc1``/``fc2``. Imports torch."""

from __future__ import annotations

import torch
from torch import nn

from parallax.kernels.nn.twins import ACTIVATIONS

__all__ = ["SpectralConv1d", "SpectralConv2d", "TorchFNO"]


def _act(name: str):
    return ACTIVATIONS[name]


class SpectralConv1d(nn.Module):
    def __init__(self, c_in: int, c_out: int, modes: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (c_in * c_out)
        cd = torch.promote_types(dtype, torch.complex64)  # complex64 or complex128
        self.weights1 = nn.Parameter(scale * torch.rand(c_in, c_out, modes, dtype=cd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c, n)
        n = x.shape[-1]
        x_ft = torch.fft.rfft(x)
        out_ft = torch.zeros(
            x.shape[0], self.weights1.shape[1], n // 2 + 1, dtype=x_ft.dtype, device=x.device
        )
        out_ft[:, :, : self.modes] = torch.einsum(
            "bix,iox->box", x_ft[:, :, : self.modes], self.weights1
        )
        return torch.fft.irfft(out_ft, n=n)


class SpectralConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, m1: int, m2: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.m1, self.m2 = m1, m2
        scale = 1.0 / (c_in * c_out)
        cd = torch.promote_types(dtype, torch.complex64)
        self.weights1 = nn.Parameter(scale * torch.rand(c_in, c_out, m1, m2, dtype=cd))
        self.weights2 = nn.Parameter(scale * torch.rand(c_in, c_out, m1, m2, dtype=cd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c, n1, n2)
        n1, n2 = x.shape[-2:]
        m1, m2 = self.m1, self.m2
        x_ft = torch.fft.rfft2(x)
        out_ft = torch.zeros(
            x.shape[0], self.weights1.shape[1], n1, n2 // 2 + 1, dtype=x_ft.dtype, device=x.device
        )
        mul = "bixy,ioxy->boxy"
        out_ft[:, :, :m1, :m2] = torch.einsum(mul, x_ft[:, :, :m1, :m2], self.weights1)
        out_ft[:, :, -m1:, :m2] = torch.einsum(mul, x_ft[:, :, -m1:, :m2], self.weights2)
        return torch.fft.irfft2(out_ft, s=(n1, n2))


class TorchFNO(nn.Module):
    """``TorchFNO(config, dtype)`` for a :class:`parallax.models.FNOConfig`; forward on
    channels-last ``(batch, *spatial, c_in)``."""

    def __init__(self, config, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        c = config
        w = c.width
        self.config = c
        self.fc0 = nn.Linear(c.in_channels, w, dtype=dtype)
        if c.ndim == 1:
            self.convs = nn.ModuleList(
                SpectralConv1d(w, w, c.modes[0], dtype) for _ in range(c.depth)
            )
            self.ws = nn.ModuleList(nn.Conv1d(w, w, 1, dtype=dtype) for _ in range(c.depth))
        else:
            self.convs = nn.ModuleList(
                SpectralConv2d(w, w, c.modes[0], c.modes[1], dtype) for _ in range(c.depth)
            )
            self.ws = nn.ModuleList(nn.Conv2d(w, w, 1, dtype=dtype) for _ in range(c.depth))
        self.fc1 = nn.Linear(w, c.proj_hidden, dtype=dtype)
        self.fc2 = nn.Linear(c.proj_hidden, c.out_channels, dtype=dtype)
        self.act = _act(c.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc0(x)
        x = x.movedim(-1, 1)  # channels first, as the reference
        for i, (conv, w) in enumerate(zip(self.convs, self.ws, strict=True)):
            x = conv(x) + w(x)
            if i < len(self.convs) - 1:
                x = self.act(x)
        x = x.movedim(1, -1)
        return self.fc2(self.act(self.fc1(x)))
