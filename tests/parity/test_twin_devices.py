"""Twins run where their inputs live: on CUDA as on the CPU.

A CPU-only machine cannot place inputs on a GPU, so the test turns it around: every tensor a
twin makes by a factory call without naming a device (``torch.arange(n)``, ``torch.as_tensor(
numpy_array)``) is moved to the ``meta`` device, unless it is a 0-d scalar (CUDA kernels accept
CPU scalars). Combining such a tensor with the CPU inputs then raises exactly where the same
twin would raise next to CUDA inputs ("Expected all tensors to be on the same device").
"""

from __future__ import annotations

import pytest

from parallax.parity import torch_outputs
from parallax.registry import specs

torch = pytest.importorskip("torch", reason="the twins are torch code")
from torch.overrides import TorchFunctionMode  # noqa: E402

_FACTORIES = {
    torch.arange,
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.tensor,
    torch.as_tensor,
    torch.linspace,
    torch.eye,
    torch.rand,
    torch.randn,
}


class StrayTensorsToMeta(TorchFunctionMode):
    """Factory results without an explicit device (and not copied from a tensor) go to meta."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        from_tensor = bool(args) and isinstance(args[0], torch.Tensor)
        if (
            func in _FACTORIES
            and kwargs.get("device") is None
            and not from_tensor
            and isinstance(out, torch.Tensor)
            and out.ndim > 0
        ):
            return out.to("meta")
        return out


def test_the_mode_catches_a_stray_constant():
    x = torch.ones(4)
    with StrayTensorsToMeta(), pytest.raises(RuntimeError, match="device"):
        _ = x * torch.arange(4)
    with StrayTensorsToMeta():
        assert (x * torch.arange(4, device=x.device))[1] == 1  # named device: fine
        assert (x * torch.tensor(2.0))[0] == 2  # a 0-d CPU scalar: fine, as with CUDA


@pytest.mark.parametrize(
    "name,case",
    [(s.name, c) for s in specs() for c in s.cases if c.startswith("test")],
)
def test_twin_makes_its_tensors_on_the_inputs_device(name, case):
    spec = next(s for s in specs([name]))
    c = spec.make_case(case, "float32")
    with StrayTensorsToMeta():
        torch_outputs(spec, c, "float32", device="cpu", with_grads=False)


def test_torch_transformer_twin_makes_its_tensors_on_the_inputs_device():
    import jax

    from parallax import bridge, models

    cfg = models.TransformerConfig(embed=16, heads=2, mlp_hidden=32, vocab_size=11)
    model = models.EqxTransformer.init(cfg, jax.random.key(0))
    twin = bridge.export_to_torch(model)
    x = torch.randint(0, 11, (2, 5))
    with StrayTensorsToMeta():
        out = twin(x, padding_mask=torch.ones(2, 5, dtype=torch.bool, device=x.device))
    assert out.shape == (2, 5, 11)
