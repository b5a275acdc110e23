"""Torch twins of :mod:`parallax.kernels.nn._fno`, written as the reference code of Li et al.
(2021), ``SpectralConv1d/2d.forward``, on channels-first data: the twin permutes channels-last
inputs and (modes, c_in, c_out) weights to (c_in, c_out, modes)."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def spectral_conv_1d(params: Mapping[str, torch.Tensor], x):
    """Li et al. (2021) ``SpectralConv1d.forward`` on channels-first data."""
    w = params["weight"].permute(1, 2, 0)  # (modes, in, out) -> (in, out, modes)
    xt = x.permute(0, 2, 1)  # (b, c, n)
    n, modes = xt.shape[-1], w.shape[-1]
    x_ft = torch.fft.rfft(xt)
    out_ft = torch.zeros(xt.shape[0], w.shape[1], n // 2 + 1, dtype=x_ft.dtype, device=x.device)
    out_ft[:, :, :modes] = torch.einsum("bix,iox->box", x_ft[:, :, :modes], w)
    return torch.fft.irfft(out_ft, n=n).permute(0, 2, 1)


def spectral_conv_2d(params: Mapping[str, torch.Tensor], x):
    """Li et al. (2021) ``SpectralConv2d.forward`` (weights1 = w_pos, weights2 = w_neg)."""
    w1 = params["w_pos"].permute(2, 3, 0, 1)  # (m1, m2, in, out) -> (in, out, m1, m2)
    w2 = params["w_neg"].permute(2, 3, 0, 1)
    xt = x.permute(0, 3, 1, 2)  # (b, c, n1, n2)
    n1, n2 = xt.shape[-2:]
    m1, m2 = w1.shape[-2:]
    x_ft = torch.fft.rfft2(xt)
    out_ft = torch.zeros(
        xt.shape[0], w1.shape[1], n1, n2 // 2 + 1, dtype=x_ft.dtype, device=x.device
    )
    out_ft[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m1, :m2], w1)
    out_ft[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m1:, :m2], w2)
    return torch.fft.irfft2(out_ft, s=(n1, n2)).permute(0, 2, 3, 1)
