"""jax.export artifacts on disk: saved, reloaded without model code, run with the same outputs."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax import bridge as B
from parallax import models as M

pytest.importorskip(
    "flatbuffers", reason="jax.export serialization needs flatbuffers (extra 'export')"
)

FNO2 = M.FNOConfig(in_channels=1, out_channels=2, modes=(3, 4), width=16, proj_hidden=32)
TOK = M.TransformerConfig(embed=32, heads=4, kv_heads=2, mlp_hidden=64, vocab_size=16)


def test_fno_artifact_round_trip_with_symbolic_batch(tmp_path):
    model = M.EqxFNO.init(FNO2, jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 10, 1)), jnp.float32)
    path = B.save_exported(
        model, [x], tmp_path / "fno2d", metadata={"model": "fno2d"}, polymorphic_batch=True
    )
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["format_version"] == B.FORMAT_VERSION
    assert meta["in_shapes"] == [["b", 8, 10, 1]] and meta["out_shapes"] == [["b", 8, 10, 2]]
    assert meta["in_dtypes"] == ["float32"] and meta["user"] == {"model": "fno2d"}
    call, meta2 = B.load_exported(path)
    assert meta2 == meta
    # the artifact runs XLA's ops where the eager model runs parallax's CPU handlers (dense
    # products through MKL): equal to round-off
    np.testing.assert_allclose(np.asarray(call(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)
    x5 = jnp.concatenate([x, x, x[:1]], axis=0)  # another batch size, same artifact
    np.testing.assert_allclose(np.asarray(call(x5)), np.asarray(model(x5)), rtol=1e-6, atol=1e-6)


def test_transformer_artifact_and_version_check(tmp_path):
    model = M.EqxTransformer.init(TOK, jax.random.key(0))
    tokens = jnp.asarray(np.random.default_rng(1).integers(0, 16, (2, 7)), jnp.int32)
    keep = jnp.ones((2, 7), bool).at[1, -1].set(False)
    path = B.save_exported(lambda t, m: model(t, padding_mask=m), [tokens, keep], tmp_path / "t")
    call, meta = B.load_exported(path)
    assert meta["in_dtypes"] == ["int32", "bool"] and meta["out_shapes"] == [[2, 7, 16]]
    np.testing.assert_allclose(
        np.asarray(call(tokens, keep)),
        np.asarray(model(tokens, padding_mask=keep)),
        rtol=1e-6,
        atol=1e-6,
    )
    meta["format_version"] = 99
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version 99 is not supported"):
        B.load_exported(path)
