import json

import numpy as np
import pandas as pd
import pytest

from analysis.compare import align
from analysis.io import VALID_STATUSES, load_instances, natural_key, paired_seeds


def test_failed_and_nan_rows_are_excluded_and_reported(run_dir, instances):
    table = load_instances(run_dir)
    assert table.source == run_dir and table.run_dir == run_dir
    assert table.run == {"command": "run", "suite": "ablations"}
    assert table.ensembles is None
    # the failed row is out of the data, with its error in the reason
    assert len(table.data) == len(instances) - 1
    assert table.excluded.to_dict("records") == [
        {
            "architecture": "2d3d_3x3x3",
            "seed": 3,
            "status": "failed",
            "reason": "status failed: CUDA out of memory",
        }
    ]
    # early-stopped instances are samples of the distribution, not failures
    assert set(table.data["status"]) == set(VALID_STATUSES)
    # NaN in one metric excludes the row for that metric only, with a reason
    scores, nan_rows = table.scores("test_miou_org")
    assert nan_rows[["architecture", "seed", "reason"]].to_dict("records") == [
        {"architecture": "2d3d_no_multiloss", "seed": 8, "reason": "test_miou_org is NaN"}
    ]
    assert len(scores["2d3d_no_multiloss"]) == 25 and 8 not in scores["2d3d_no_multiloss"].index
    eval_scores, none = table.scores("eval_miou_all")
    assert len(none) == 0 and len(eval_scores["2d3d_3x3x3"]) == 25
    assert list(eval_scores["2d3d_3x3x3"].index) == [s for s in range(26) if s != 3]


def test_metric_columns_found_in_preferred_order(run_dir):
    table = load_instances(run_dir)
    assert table.metrics[:5] == (
        "eval_miou_all",
        "eval_miou_org",
        "test_miou_org",
        "test_miou_all",
        "final_eval_miou_all",
    )
    assert table.architectures == (
        "2d3d_3x3x3",
        "2d3d_no_3x3x3",
        "2d3d_no_multiloss",
        "unet_original",
    )


def test_csv_and_parquet_give_the_same_table(tmp_path, instances):
    instances.to_csv(tmp_path / "t.csv", index=False)
    instances.to_parquet(tmp_path / "t.parquet")
    a, b = load_instances(tmp_path / "t.csv"), load_instances(tmp_path / "t.parquet")
    cols = ["architecture", "seed", "status", "eval_miou_all"]
    pd.testing.assert_frame_equal(a.data[cols], b.data[cols])
    assert a.run == {} and a.run_dir is None


def test_missing_column_error_names_file_and_columns(tmp_path, instances):
    path = tmp_path / "t.csv"
    instances.drop(columns=["seed"]).to_csv(path, index=False)
    with pytest.raises(
        ValueError, match=r"t\.csv: missing column 'seed'; columns present: architecture, status"
    ):
        load_instances(path)
    with pytest.raises(ValueError, match=r"missing metric column 'dice'.*columns present"):
        load_instances(tmp_path / "t.csv", seed_col="best_step", metric_cols=["dice"])
    pd.DataFrame({"architecture": ["a"], "seed": [0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no metric column found"):
        load_instances(path)
    with pytest.raises(FileNotFoundError):
        load_instances(tmp_path / "absent.csv")
    with pytest.raises(FileNotFoundError, match="no instances.parquet"):
        load_instances(tmp_path)


def test_custom_column_names_and_missing_status(tmp_path):
    df = pd.DataFrame({"net": ["b", "a", "a"], "rep": [0, 0, 1], "dice": [0.5, 0.6, np.nan]})
    df.to_csv(tmp_path / "x.csv", index=False)
    table = load_instances(
        tmp_path / "x.csv", architecture_col="net", seed_col="rep", metric_cols=["dice"]
    )
    assert table.metrics == ("dice",)
    assert (table.data["status"] == "finished").all() and len(table.excluded) == 0
    scores, nan_rows = table.scores("dice")
    assert scores["a"].to_dict() == {0: 0.6} and nan_rows["seed"].tolist() == [1]


def test_unknown_status_and_duplicates(instances):
    df = instances.copy()
    df.loc[5, "status"] = "running"
    df.loc[6, "status"] = None
    table = load_instances(df)
    assert table.excluded["reason"].tolist()[-2:] == ["status running", "status missing"]
    dup = pd.concat([instances, instances.iloc[[10]]])
    with pytest.raises(ValueError, match=r"more than once.*\('2d3d_3x3x3', 10\)"):
        load_instances(dup)
    # a failed attempt plus its successful retry is fine: the failure is reported, the retry used
    retry = pd.concat([instances, instances.iloc[[3]].assign(status="finished", eval_miou_all=0.8)])
    table = load_instances(retry)
    assert len(table.excluded) == 1 and len(table.data) == len(instances)


def test_paired_detection(instances):
    table = load_instances(instances)
    scores, _ = table.scores("eval_miou_all")
    a, b = scores["2d3d_3x3x3"], scores["2d3d_no_3x3x3"]
    assert paired_seeds(a, b).tolist() == [s for s in range(26) if s != 3]
    x, y, paired = align(a, b)
    assert paired and x.size == y.size == 25
    np.testing.assert_array_equal(x, a.to_numpy())
    np.testing.assert_array_equal(y, b.drop(index=3).to_numpy())
    # disjoint seeds: independent samples
    shifted = pd.Series(b.to_numpy(), index=b.index + 100)
    assert align(a, shifted)[2] is False
    # plain arrays are paired only on request
    assert align(a.to_numpy(), b.to_numpy()[:25])[2] is False
    assert align(a.to_numpy(), b.to_numpy()[:25], paired=True)[2] is True


def test_run_dir_with_ensembles(tmp_path, instances):
    from tests.analysis.conftest import write_run_dir

    ens = pd.DataFrame(
        {"architecture": ["2d3d_3x3x3"], "selection": ["top"], "k": [3], "eval_miou_all": [0.82]}
    )
    table = load_instances(write_run_dir(tmp_path / "r", instances, ens))
    pd.testing.assert_frame_equal(table.ensembles, ens)
    assert json.loads((tmp_path / "r" / "run.json").read_text()) == table.run


def test_natural_key():
    assert sorted(["net10", "net2", "Net1"], key=natural_key) == ["Net1", "net2", "net10"]


def test_no_usable_metric_says_why_each_column_is_not_one(tmp_path):
    import pandas as pd
    import pytest

    from analysis.io import load_instances

    path = tmp_path / "t.csv"
    pd.DataFrame(dict(architecture=["a", "b"], seed=[0, 0], score=[None, None])).to_csv(
        path, index=False
    )
    with pytest.raises(ValueError, match=r"score: the column is empty \(no value in any of its 2"):
        load_instances(path)
