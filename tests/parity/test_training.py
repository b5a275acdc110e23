"""compare_training: optax against torch.optim step by step, and the step where they part."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from parallax import bridge as B
from parallax import models as M
from parallax.parity import compare_training

torch = pytest.importorskip("torch", reason="compare_training runs torch.optim")

FNO1 = M.FNOConfig(in_channels=2, out_channels=1, modes=(6,), width=8, proj_hidden=16)
ADAMW = {"lr": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.1}
RNG = np.random.default_rng(0)
BATCHES = [(RNG.normal(size=(4, 16, 2)), RNG.normal(size=(4, 16, 1))) for _ in range(2)]


def mse(out, target):
    return ((out - target) ** 2).mean()


def _fno():
    model = M.EqxFNO.init(FNO1, jax.random.key(0))
    return model, model.make_torch_twin()


def test_matched_adamw_on_a_complex_weighted_fno_agrees_every_step():
    model, twin = _fno()
    report = compare_training(
        model,
        twin,
        optimizer=B.matched_optimizer("adamw", **ADAMW),
        loss=mse,
        batches=BATCHES,
        steps=4,
        dtype="float64",
        tol={"float64": (1e-9, 1e-11)},
    )
    assert report.passed, report
    assert [s.step for s in report.steps] == [1, 2, 3, 4]
    assert report.steps[-1].loss_torch < report.steps[0].loss_torch  # it trains
    names = {p.name for p in report.steps[0].params}
    assert "param[convs.0.weights1]" in names  # the complex spectral weights
    assert str(report).splitlines()[1].split()[:3] == ["step", "loss", "jax"]


def test_default_weight_decay_mismatch_is_caught_at_the_first_update():
    """optax.adamw defaults to weight_decay=1e-4, torch.optim.AdamW to 1e-2."""
    model, twin = _fno()
    tx = B.standard_promotion(
        optax.chain(
            B.conj_complex_grads(),
            optax.contrib.split_real_and_imaginary(
                optax.adamw(ADAMW["lr"], b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0)
            ),
        )
    )

    def torch_adamw(params):
        return torch.optim.AdamW(params, lr=ADAMW["lr"], betas=(0.9, 0.999), eps=1e-8)

    report = compare_training(
        model,
        twin,
        optimizer=(tx, torch_adamw),
        loss=mse,
        batches=BATCHES,
        steps=3,
        dtype="float64",
    )
    first = report.first_failure
    assert first is not None and first.step == 1
    assert first.loss.passed  # the loss before the first update still agrees
    # one AdamW step decays every weight by lr·wd·w: the two differ by lr·(1e-2 - 1e-4)·|w|
    worst = first.worst_param
    assert worst is not None and worst.want is not None and not worst.passed
    w = abs(worst.want) / (1 - ADAMW["lr"] * 1e-2)
    assert worst.max_abs == pytest.approx(ADAMW["lr"] * (1e-2 - 1e-4) * w, rel=0.5)
    assert "first failure at step 1" in str(report)


def test_bad_arguments_name_the_argument():
    model, twin = _fno()
    with pytest.raises(TypeError, match="optimizer: expected the"):
        compare_training(model, twin, optimizer=optax.sgd(0.1), loss=mse, batches=BATCHES, steps=1)
    opt = B.matched_optimizer("sgd", lr=0.1, momentum=0.0, nesterov=False)
    with pytest.raises(ValueError, match="steps: expected a positive int"):
        compare_training(model, twin, optimizer=opt, loss=mse, batches=BATCHES, steps=0)
    with pytest.raises(TypeError, match=r"batches\[0\]: expected a pair"):
        # a batch of the wrong type is the input under test
        bad = [BATCHES[0][0]]
        compare_training(model, twin, optimizer=opt, loss=mse, batches=bad, steps=1)  # pyright: ignore[reportArgumentType]
