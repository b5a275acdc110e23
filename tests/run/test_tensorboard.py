"""TensorBoard events: every logged metric, the figures, the results and the hyperparameters."""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path

from parallax import run


def _events(tb: Path) -> list:
    """Every Event record of the event files in ``tb`` (TFRecord framing: length, crc, data,
    crc)."""
    # generated protobuf modules create their message classes at import time: pyright sees none
    from tensorboardX.proto.event_pb2 import Event  # pyright: ignore[reportAttributeAccessIssue]

    out = []
    for f in sorted(tb.glob("events.out.tfevents*")):
        data = f.read_bytes()
        i = 0
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            out.append(Event.FromString(data[i + 12 : i + 12 + n]))
            i += 12 + n + 4
    return out


def _by_kind(events) -> dict[str, dict[str, list[int]]]:
    kinds: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        for v in e.summary.value:
            plugin = v.metadata.plugin_data.plugin_name
            kind = plugin or v.WhichOneof("value")
            kinds[kind][v.tag].append(e.step)
    return kinds


def test_tensorboard_gets_metrics_figures_results_and_hparams(toy, tmp_path):
    import dataclasses

    def main(cfg, r):
        out = toy.main(cfg, r)
        r.plot_metrics(["loss", "eval_loss"], "training")
        return out

    cfg = toy.Config(workdir=str(tmp_path), steps=4, log_every=2, eval_every=2)
    s = run.execute(main, cfg, name="toy_experiment")
    assert s["status"] == "completed"
    kinds = _by_kind(_events(tmp_path / "tb"))
    scalars, images = kinds["simple_value"], kinds["image"]
    assert scalars["loss"] == [2, 4] and scalars["eval_loss"] == [2, 4]
    assert scalars["final/loss"] == [4] and scalars["results/w_error"] == [4]
    assert images["plots/training"] == [4]
    hp = kinds["hparams"]
    assert hp, kinds.keys()  # the experiment, session start and session end summaries
    names = {f.name for f in dataclasses.fields(cfg)}
    # (a generated protobuf module, as in _events)
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData  # pyright: ignore[reportAttributeAccessIssue]

    for e in _events(tmp_path / "tb"):
        for v in e.summary.value:
            if v.metadata.plugin_data.plugin_name != "hparams":
                continue
            data = HParamsPluginData.FromString(v.metadata.plugin_data.content)
            if data.HasField("session_start_info"):
                assert names <= set(data.session_start_info.hparams), names
                assert data.session_start_info.hparams["lr"].number_value == cfg.lr


def test_a_resumed_run_purges_events_past_its_checkpoint(toy, tmp_path):
    cfg = toy.Config(workdir=str(tmp_path), steps=8, log_every=1, checkpoint_every=4)
    run.execute(toy.main, toy.Config(**{**vars(cfg), "sigterm_at": 5}))
    run.execute(toy.main, cfg)
    events = _events(tmp_path / "tb")
    # the second writer starts with a purge marker at the step after the checkpoint (6)
    assert any(e.file_version and e.step == 7 for e in events), [
        (e.step, e.file_version) for e in events if e.file_version
    ]
