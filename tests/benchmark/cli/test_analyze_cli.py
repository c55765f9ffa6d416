"""``analyze`` and ``plan-seeds`` on anyone's table, through the CLI (in process, ``main([...])``).

One known-answer table: three architectures on 8 shared seeds whose per-seed differences never
change sign (good = bad + 0.10 = mid + 0.02), so every verdict and every rank is certain: the
exact sign-flip test gives p = 2/256 for each pair.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.adapters import FORMATS
from benchmark.cli import main
from benchmark.cli.options import TABLE_FORMATS

SHARED = np.array([0.000, 0.004, -0.003, 0.002, -0.001, 0.003, -0.002, 0.001])
JITTER = np.array([0.0004, -0.0004, 0.0002, -0.0002, 0.0003, -0.0003, 0.0001, -0.0001])
MEANS = {"good": 0.80, "mid": 0.78, "bad": 0.70}
RESAMPLES = ["--resamples", "200"]


def known(names=("model", "seed", "score")) -> pd.DataFrame:
    arch, seed, score = names
    rows = [
        {arch: a, seed: s, score: mu + SHARED[s] + sign * JITTER[s]}
        for (a, mu), sign in zip(MEANS.items(), (1, -1, 1))
        for s in range(8)
    ]
    return pd.DataFrame(rows)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _assert_higher_is_better(out: str) -> None:
    assert "good > mid: +0.020, 97.5 % CI [" in out and "good > bad: +0.100, 97.5 % CI [" in out
    assert "p(Holm) = 0.016" in out  # 2/256, Holm over the reference's 2 comparisons
    assert "average ranks (1 = best): good 1.00, mid 2.00, bad 3.00" in out
    assert "chi2 = 16.000, df = 2" in out  # N (k - 1) for identical rankings
    assert "not significantly different: {good, mid}; {mid, bad}" in out
    assert "significantly better: good over bad" in out


def test_model_seed_score_csv(capsys, tmp_path):
    path = tmp_path / "scores.csv"
    known().to_csv(path, index=False)
    code, out, err = _run(capsys, "analyze", str(path), "--reference", "good", *RESAMPLES)
    assert code == 0, err
    assert "  read: architecture column: 'model' (no 'architecture' column;" in out
    assert "  read: metric: score (the table's only metric column; --metric chooses another)" in out
    assert "metric score (higher is better); reference good" in out
    _assert_higher_is_better(out)
    assert "Nemenyi critical difference 1.17 ranks" in out  # 2.343 sqrt(3 4 / (6 8))
    assert "== Table 1 (selected by score)" in out and "| good (seed 1) | 0.804 |" in out


def test_lower_is_better_flips_every_direction(capsys, tmp_path):
    path = tmp_path / "scores.csv"
    known().to_csv(path, index=False)
    code, out, err = _run(
        capsys, "analyze", str(path), "--reference", "good", "--lower-is-better", *RESAMPLES
    )
    assert code == 0, err
    assert "metric score (lower is better)" in out
    assert "good > mid: +0.020, 97.5 % CI [" in out and "(lower is better: mid better)" in out
    assert "(lower is better: bad better)" in out
    assert "average ranks (1 = best): bad 1.00, mid 2.00, good 3.00" in out
    assert "significantly better: bad over good" in out
    assert "== expected best (lowest) of k instances" in out
    assert "P(a<b) [CI]" in out
    assert "| good (seed 2) | 0.797 |" in out  # Table 1 keeps each architecture's lowest
    # a loss is lower-is-better by its name; the flag is not needed
    known(("architecture", "seed", "val_loss")).to_csv(path, index=False)
    code, out, _ = _run(capsys, "analyze", str(path), "--reference", "good", *RESAMPLES)
    assert (
        "read: lower is better for val_loss (its name says so; --higher-is-better overrides)" in out
    )
    assert "(lower is better: mid better)" in out


def test_long_format_csv(capsys, tmp_path):
    wide = known(("architecture", "seed", "dice")).assign(hd95=lambda d: 10 * (1 - d["dice"]))
    long = wide.melt(["architecture", "seed"], var_name="metric", value_name="value")
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    code, out, err = _run(
        capsys, "analyze", str(path), "--reference", "good", "--metric", "dice", *RESAMPLES
    )
    assert code == 0, err
    assert (
        "read: format long detected (a 'metric' column naming metrics and a 'value' column" in out
    )
    assert "read: long table: 2 metric(s) from 'metric'/'value'" in out
    _assert_higher_is_better(out)
    code, out, _ = _run(
        capsys, "analyze", str(path), "--reference", "good", "--metric", "hd95", *RESAMPLES
    )
    assert "metric hd95 (lower is better)" in out and "good < mid: -0.200" in out
    assert "(lower is better: good better)" in out
    # no --metric: two candidates, the user must choose
    code, _, err = _run(capsys, "analyze", str(path))
    assert code == 2 and err.strip().endswith(
        "several columns could be the metric: dice, hd95; choose one with --metric NAME"
    )


def test_ray_tune_dataframe(capsys, tmp_path):
    df = known(("a", "s", "eval_miou_all"))
    tune = pd.DataFrame(
        {
            "eval_miou_all": df["eval_miou_all"], "train_loss": 1 - df["eval_miou_all"],
            "trial_id": [f"{i:05x}" for i in range(len(df))], "training_iteration": 40,
            "time_total_s": 1800.0, "done": True, "config/instance/arch": df["a"],
            "config/instance/seed": df["s"], "config/lr": 0.001,
        }
    )  # fmt: skip
    tune = pd.concat([tune, tune.iloc[[0]].assign(done=False, **{"config/instance/seed": 99})])
    path = tmp_path / "tune.csv"
    tune.to_csv(path, index=False)
    code, out, err = _run(capsys, "analyze", str(path), "--reference", "good", *RESAMPLES)
    assert code == 0, err
    assert "read: format tune detected (3 config/ column(s), as Ray Tune writes)" in out
    assert "config/instance/arch -> arch, config/instance/seed -> seed" in out
    assert "24 usable instances of 3 architectures; 1 row(s) excluded" in out
    assert "good            99  not done  status not done" in out
    _assert_higher_is_better(out)


def test_optuna_study(capsys, tmp_path):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = known(("arch", "seed", "dice"))
    dice = {(r.arch, r.seed): r.dice for r in table.itertuples()}
    study = optuna.create_study(direction="minimize", storage=optuna.storages.InMemoryStorage())
    for arch, seed in dice:
        study.enqueue_trial({"arch": arch, "seed": seed})

    def objective(trial):
        key = (trial.suggest_categorical("arch", list(MEANS)), trial.suggest_int("seed", 0, 7))
        trial.set_user_attr("eval_dice", dice[key])
        return 1 - dice[key]  # a loss: the study minimizes it

    study.optimize(objective, n_trials=len(dice))
    path = tmp_path / "trials.csv"
    study.trials_dataframe().to_csv(path, index=False)
    code, out, err = _run(
        capsys, "analyze", str(path), "--reference", "good", "--lower-is-better", *RESAMPLES
    )
    assert code == 0, err
    assert "read: format optuna detected (value and params_ columns, as Optuna writes)" in out
    assert "metric value (lower is better)" in out
    assert "good < mid: -0.020" in out and "(lower is better: good better)" in out
    assert "average ranks (1 = best): good 1.00, mid 2.00, bad 3.00" in out
    code, out, _ = _run(
        capsys, "analyze", str(path), "--reference", "good", "--metric", "eval_dice", *RESAMPLES
    )
    _assert_higher_is_better(out)
    # without a flag a trials table cannot say which way the study went: said, not guessed
    code, out, _ = _run(capsys, "analyze", str(path), "--reference", "good", *RESAMPLES)
    assert "an Optuna trials table does not say which way the study optimized" in out
    # the Study object itself carries its direction (Python API)
    from analysis.analyze import analyze

    report = analyze(study, reference="good", n_resamples=200)
    assert report.metric == "value" and report.higher_is_better is False
    assert {c.b: c.better for c in report.comparisons} == {"mid": "good", "bad": "good"}


def test_column_options_and_unpaired(capsys, tmp_path):
    path = tmp_path / "t.csv"
    known(("net", "rep", "miou")).assign(model="x").to_csv(path, index=False)
    code, out, err = _run(
        capsys, "analyze", str(path), "--architecture-column", "net", "--seed-column", "rep",
        "--reference", "good", *RESAMPLES,
    )  # fmt: skip
    assert code == 0, err
    _assert_higher_is_better(out)
    code, _, err = _run(capsys, "analyze", str(path), "--architecture-column", "arch")
    assert code == 2 and "missing column 'arch'; columns present: net, rep, miou, model" in err
    code, out, _ = _run(
        capsys, "analyze", str(path), "--architecture-column", "net", "--seed-column", "rep",
        "--unpaired", "--reference", "good", *RESAMPLES,
    )  # fmt: skip
    assert "8+8  " in out and "Mann-Whitney U" in out
    assert "Friedman test omitted: it ranks architectures within shared seeds (--unpaired)" in out


def test_unbalanced_seeds_are_stated(capsys, tmp_path):
    many = pd.DataFrame({"architecture": "unet", "seed": range(500), "eval_miou_all": 0.7})
    many["eval_miou_all"] += np.random.default_rng(0).normal(0, 0.01, 500)
    few = pd.DataFrame(
        {"architecture": "net", "seed": [0, 1, 2], "eval_miou_all": [0.80, 0.81, 0.79]}
    )
    path = tmp_path / "t.csv"
    pd.concat([many, few]).to_csv(path, index=False)
    code, out, _ = _run(capsys, "analyze", str(path), *RESAMPLES)
    assert code == 0
    assert (
        "seeds: net vs unet: paired on the 3 seeds both have (0-2); left out: 497 seed(s) of "
        "unet (3-499). --unpaired compares all 3 + 500 seeds instead"
    ) in out
    code, out, _ = _run(capsys, "analyze", str(path), "--unpaired", *RESAMPLES)
    assert "net > unet: +0.10" in out and "3+500" in out


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "error: {path}: the file is empty (no header, no rows)"),
        ("header", "error: {path}: the table has no rows (columns: architecture, seed, eval_miou_all)"),
        ("bounds", "error: {path}: eval_miou_all is an IoU/Dice score but 2 row(s) lie outside [0, 1]: "
                   "good seed 2 = 1.7, bad seed 1 = -0.4"),
        ("identities", "error: {path}: rows of one architecture were trained under different "
                       "configurations (identity x rows): mid: 2 configurations (3f2a9c x 6, "
                       "77b0e1 x 2); compare one configuration, or pass --allow-mixed-identities "
                       "to pool them"),
        ("empty_metric", "error: unknown metric 'dice': the column is empty (no value in any of its "
                         "24 rows); metric columns: eval_miou_all"),
        ("text_metric", "error: unknown metric 'dice': it is not numeric (24 value(s) are not "
                        "numbers, e.g. 'high'); metric columns: eval_miou_all"),
    ],
)  # fmt: skip
def test_bad_tables_are_one_line_errors(capsys, tmp_path, case, message):
    path = tmp_path / f"{case}.csv"
    df = known(("architecture", "seed", "eval_miou_all"))
    metric = []
    if case == "empty":
        path.write_text("")
    elif case == "header":
        df.head(0).to_csv(path, index=False)
    elif case == "bounds":
        df.loc[(df.architecture == "bad") & (df.seed == 1), "eval_miou_all"] = -0.4
        df.loc[(df.architecture == "good") & (df.seed == 2), "eval_miou_all"] = 1.7
        df.to_csv(path, index=False)
    elif case == "identities":
        df["identity"] = "3f2a9c"
        df.loc[(df.architecture == "mid") & (df.seed < 2), "identity"] = "77b0e1"
        df.to_csv(path, index=False)
    else:
        df.assign(dice=np.nan if case == "empty_metric" else "high").to_csv(path, index=False)
        metric = ["--metric", "dice"]
    code, out, err = _run(capsys, "analyze", str(path), *metric, *RESAMPLES)
    assert code == 2 and out == ""
    assert err.splitlines() == [message.format(path=path)]
    if case == "identities":
        code, out, _ = _run(capsys, "analyze", str(path), "--allow-mixed-identities", *RESAMPLES)
        assert (
            code == 0
            and "mixed configurations compared as one (--allow-mixed-identities): mid" in out
        )


def test_sequential_run_through_the_cli(capsys, tmp_path):
    from tests.analysis.test_sequential_run import sequential_run

    run = sequential_run(tmp_path / "run")
    code, out, err = _run(capsys, "analyze", str(run), *RESAMPLES)
    assert code == 0, err
    assert "== sequential comparisons" in out and "2d3d_3x3x3 > unet_original after 5 seeds" in out
    assert "[fixed-sample, invalid: optional stopping]" in out
    assert (run / "analysis" / "sequential_looks.csv").is_file()


def test_plan_seeds(capsys, tmp_path):
    from tests.analysis.conftest import make_instances, write_run_dir

    run = write_run_dir(
        tmp_path / "run",
        make_instances(n_seeds=8, means={"2d3d_3x3x3": 0.8, "2d3d_no_3x3x3": 0.79, "unet": 0.74}),
    )
    code, out, err = _run(
        capsys, "plan-seeds", str(run), "--simulations", "1000", "--json", str(tmp_path / "p.json")
    )
    assert code == 0, err
    assert "densecell-bench seed plan for" in out and "reference 2d3d_3x3x3" in out
    assert "hours per instance (mean wall_time_s): 2d3d_3x3x3 1.00 h (8)" in out
    data = json.loads((tmp_path / "p.json").read_text())
    fixed = data["totals"]["fixed_seeds"]
    assert f"fixed design: {fixed:.0f} seeds per architecture = {3 * fixed:.0f} instances, " in out
    assert [c["other"] for c in data["comparisons"]] == ["2d3d_no_3x3x3", "unet"]
    code, out, _ = _run(
        capsys,
        "plan-seeds",
        str(run),
        "--effect",
        "0.01",
        "--max-seeds",
        "12",
        "--simulations",
        "500",
    )
    assert "0.0100 (given)" in out and "looks at 5, 8, 11, 12 seeds" in out
    code, _, err = _run(capsys, "plan-seeds", str(run), "--effect", "-1")
    assert (
        code == 2
        and err.strip() == "error: --effect must be a positive difference in score units, got -1.0"
    )


def test_formats_listed_once():
    assert TABLE_FORMATS == FORMATS
