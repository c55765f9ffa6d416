"""Derived outputs know the instances they were built from."""

from __future__ import annotations

import pandas as pd

from analysis.derived import instances_fingerprint, record_derived, stale_outputs


def _instances(n):
    return pd.DataFrame(
        dict(
            architecture=["a"] * n,
            seed=range(n),
            status=["finished"] * n,
            identity=["abc"] * n,
            eval_miou_all=[0.5] * n,
        )
    )


def test_outputs_go_stale_when_the_instances_change(tmp_path):
    _instances(3).to_parquet(tmp_path / "instances.parquet")
    (tmp_path / "ensembles.parquet").write_text("x")
    (tmp_path / "report.html").write_text("x")
    assert set(stale_outputs(tmp_path)) == {"ensembles", "report"}  # no record: unknown origin
    record_derived(tmp_path, "ensembles")
    record_derived(tmp_path, "report")
    assert stale_outputs(tmp_path) == {}
    _instances(4).to_parquet(tmp_path / "instances.parquet")  # a resumed run added a seed
    stale = stale_outputs(tmp_path)
    assert set(stale) == {"ensembles", "report"}
    assert "another set of instances" in stale["ensembles"]


def test_fingerprint_ignores_row_order_and_scores_outside_the_key():
    a = _instances(3)
    b = a.iloc[::-1].assign(eval_miou_all=0.9)
    assert instances_fingerprint(a) == instances_fingerprint(b)
    assert instances_fingerprint(a) != instances_fingerprint(a.assign(status="failed"))
