# ruff: noqa: E501  (HLO lines are long)
"""The HLO collectives parser on every replica-group format, and the report's table."""

from __future__ import annotations

import pytest

import parallax.sharding as ps

HLO = """
HloModule m
  %all-gather = f32[8,8]{1,0} all-gather(%p), channel_id=1, replica_groups=mesh['a'=4,'b'=1,'c'=2] {'a'}, dimensions={0}
  %all-reduce.5 = (f32[32]{0}, f32[16,16]{1,0}) all-reduce(%x, %y), replica_groups={{0,1,2,3},{4,5,6,7}}, to_apply=%add
  %rs = bf16[4,16]{1,0} reduce-scatter(%z), replica_groups=[4,2]<=[8], dimensions={0}, to_apply=%add
  %a2a = c64[4,8]{1,0} all-to-all(%w), replica_groups=mesh['a'=4,'b'=2] {'a','b'}, dimensions={0}
  ROOT %cp = f32[1,4]{1,0} collective-permute(%v), source_target_pairs={{0,1},{1,0}}
  %ags = (f32[2,8]{1,0}, f32[8,8]{1,0}) all-gather-start(%q), replica_groups=[2,4]<=[8], dimensions={0}
  %agd = f32[8,8]{1,0} all-gather-done(%ags)
  %ag2 = f32[256]{0} all-gather(%m), channel_id=48, replica_groups=mesh['axis_0'=2,'axis_1'=4], device_ids=([4,2]T(1,0)) {'axis_0'}, dimensions={0}
  %add = f32[] add(%l, %r)
"""


def test_parse_formats_and_bytes():
    cs = ps.parse_collectives(HLO)
    assert [c.kind for c in cs] == [
        "all-gather",
        "all-reduce",
        "reduce-scatter",
        "all-to-all",
        "collective-permute",
        "all-gather",
        "all-gather",
    ]
    ag, ar, rs, a2a, cp, ags, ag2 = cs
    assert (ag2.group_size, ag2.result_bytes, ag2.bytes_sent) == (2, 1024, 512)
    assert (ag.group_size, ag.result_bytes, ag.bytes_sent) == (4, 256, 192)
    assert (ar.group_size, ar.result_bytes) == (4, (32 + 256) * 4)
    assert ar.bytes_sent == pytest.approx(2 * 1152 * 3 / 4)
    assert (rs.group_size, rs.result_bytes, rs.bytes_sent) == (2, 128, 128)
    assert (a2a.group_size, a2a.result_bytes, a2a.bytes_sent) == (8, 256, 224)
    assert (cp.result_bytes, cp.bytes_sent) == (16, 16)
    assert (ags.group_size, ags.result_bytes, ags.bytes_sent) == (4, 256, 192)
    rep = ps.CommsReport(tuple(cs))
    assert rep.count("all-gather") == 3 and rep.bytes("all-gather") == 384 + 512
    table = rep.table()
    assert "reduce-scatter" in table and "total" in table
    with pytest.raises(ValueError, match="kind"):
        rep.count("broadcast")
