import numpy as np
import pandas as pd
import pytest

from analysis.adapters import detect_format, from_long, from_optuna, from_tune
from analysis.io import (
    check_bounds,
    check_identities,
    format_seeds,
    is_bounded_metric,
    load_instances,
)
from tests.analysis.conftest import make_instances


def _long(df: pd.DataFrame) -> pd.DataFrame:
    return df.melt(
        id_vars=["architecture", "seed", "status"],
        value_vars=["eval_miou_all", "test_miou_org"],
        var_name="metric",
        value_name="value",
    )


def tune_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A Ray Tune results frame of this project's sweep (nested ``instance`` config)."""
    return pd.DataFrame(
        {
            "eval_miou_all": df["eval_miou_all"].to_numpy(),
            "train_loss": 1 - df["eval_miou_all"].to_numpy(),
            "trial_id": [f"{i:05x}" for i in range(len(df))],
            "training_iteration": 40,
            "time_total_s": 1800.0,
            "done": True,
            "config/instance/arch": df["architecture"].to_numpy(),
            "config/instance/seed": df["seed"].to_numpy(),
            "config/lr": 1e-3,
        }
    )


def test_detect_format():
    df = make_instances(n_seeds=3)
    assert detect_format(df)[0] == "wide"
    assert detect_format(_long(df)) == (
        "long",
        "a 'metric' column naming metrics and a 'value' column of values",
    )
    assert detect_format(tune_frame(df))[0] == "tune"
    optuna_like = pd.DataFrame(
        {"number": [0], "value": [0.5], "params_arch": ["a"], "state": ["COMPLETE"]}
    )
    assert detect_format(optuna_like)[0] == "optuna"


def test_long_pivots_and_refuses_duplicates():
    df = make_instances(n_seeds=3)
    long = _long(df)
    table = load_instances(long)
    assert table.format == "long" and table.metrics == ("eval_miou_all", "test_miou_org")
    wide = table.data.set_index(["architecture", "seed"]).sort_index()
    expected = df.set_index(["architecture", "seed"]).sort_index()
    np.testing.assert_allclose(wide["eval_miou_all"], expected["eval_miou_all"])
    assert set(wide["status"]) == {"finished"}
    with pytest.raises(
        ValueError, match=r"given more than once: \('2d3d_3x3x3', 0, 'eval_miou_all'\)"
    ):
        from_long(pd.concat([long, long.head(1)]), "architecture", "seed")
    bad = long.astype({"value": object})
    bad.loc[2, "value"] = "n/a"
    with pytest.raises(
        ValueError, match=r"'value' holds values that are not numbers: rows 2 \('n/a'\)"
    ):
        from_long(bad, "architecture", "seed")


def test_tune_frame():
    df = make_instances(n_seeds=4)
    frame = tune_frame(df)
    frame.loc[1, "done"] = False
    adapted = from_tune(frame)
    assert {"arch", "seed", "lr"} <= set(adapted.frame.columns)
    assert adapted.metrics == ("eval_miou_all", "train_loss")  # not lr, not Tune's bookkeeping
    table = load_instances(frame)
    assert table.columns == {"architecture": "arch", "seed": "seed"}
    assert any("config/instance/arch -> arch" in n for n in table.notes)
    assert table.excluded[["seed", "status"]].to_dict("records") == [
        {"seed": 1, "status": "not done"}
    ]
    assert (table.data["wall_time_s"] == 1800.0).all()


def test_optuna_study_and_its_table():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", storage=optuna.storages.InMemoryStorage())
    for arch in ("a", "b"):
        for seed in range(3):
            study.enqueue_trial({"arch": arch, "seed": seed})

    def objective(trial):
        arch = trial.suggest_categorical("arch", ["a", "b"])
        seed = trial.suggest_int("seed", 0, 10)
        trial.set_user_attr("eval_dice", 0.5 + 0.1 * (arch == "a") + 0.01 * seed)
        if arch == "b" and seed == 2:
            raise optuna.TrialPruned()
        return 1 - trial.user_attrs["eval_dice"]

    study.optimize(objective, n_trials=6)
    adapted = from_optuna(study)
    assert adapted.higher_is_better is False and adapted.metrics == ("value", "eval_dice")
    table = load_instances(study)
    assert table.format == "optuna" and table.higher_is_better is False
    assert table.default_metric() == ("value", "the study's objective")
    assert table.excluded[["architecture", "seed", "status"]].to_dict("records") == [
        {"architecture": "b", "seed": 2, "status": "pruned"}
    ]
    assert table.data["wall_time_s"].notna().all()
    # the same trials as a CSV: detected, the direction unknown
    csv = load_instances(study.trials_dataframe())
    assert csv.format == "optuna" and csv.higher_is_better is None
    assert csv.metrics == ("value", "eval_dice") and "lr" not in csv.metrics


def test_architecture_and_seed_aliases(tmp_path):
    df = pd.DataFrame({"Model": ["a", "b"], "replicate": [0, 0], "score": [0.5, 0.6]})
    table = load_instances(df)
    assert table.columns == {"architecture": "Model", "seed": "replicate"}
    assert table.notes == (
        "architecture column: 'Model' (no 'architecture' column; --architecture-column chooses another)",
        "seed column: 'replicate' (no 'seed' column; --seed-column chooses another)",
    )
    assert table.metrics == ("score",) and table.default_metric() == (
        "score",
        "the table's only metric column",
    )
    two = df.assign(method=["x", "y"])
    with pytest.raises(
        ValueError,
        match="several that could be it: Model, method; choose one with --architecture-column",
    ):
        load_instances(two)
    # a column named explicitly is never replaced by an alias
    with pytest.raises(ValueError, match="missing column 'net'"):
        load_instances(df, architecture_col="net")
    # several metric candidates and no default: the user must choose
    with pytest.raises(
        ValueError,
        match="several columns could be the metric: score, loss; choose one with --metric",
    ):
        load_instances(df.assign(loss=[1.0, 2.0])).default_metric()


def test_empty_files_name_the_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty \(no header, no rows\)"):
        load_instances(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("architecture,seed,eval_miou_all\n")
    with pytest.raises(ValueError, match=r"header\.csv: the table has no rows"):
        load_instances(tmp_path / "header.csv")


def test_bounds_identities_and_seed_text():
    assert (
        is_bounded_metric("eval_miou_all")
        and is_bounded_metric("Dice")
        and is_bounded_metric("test_iou_org")
    )
    assert not is_bounded_metric("hd95") and not is_bounded_metric("previous_loss")
    df = make_instances(n_seeds=4)
    df.loc[1, "eval_miou_all"] = -0.4
    df.loc[5, "eval_miou_all"] = 1.7
    table = load_instances(df)
    with pytest.raises(
        ValueError,
        match=r"eval_miou_all is an IoU/Dice score but 2 row\(s\) lie outside \[0, 1\]: "
        r"2d3d_3x3x3 seed 1 = -0.4, 2d3d_no_3x3x3 seed 1 = 1.7$",
    ):
        check_bounds(table, ["eval_miou_all"])
    check_bounds(table, ["test_miou_org", "params"])  # in range / not a bounded name
    df = make_instances(n_seeds=4).assign(identity="a1")
    assert check_identities(load_instances(df)) == ()
    df.loc[[0, 1], "identity"] = "b2"
    with pytest.raises(ValueError, match=r"2d3d_3x3x3: 2 configurations \(a1 x 2, b2 x 2\)"):
        check_identities(load_instances(df))
    notes = check_identities(load_instances(df), allow_mixed=True)
    assert len(notes) == 1 and "--allow-mixed-identities" in notes[0]
    assert format_seeds([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8" and format_seeds([]) == "none"
