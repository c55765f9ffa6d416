import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.analyze import analyze, format_report, write_json
from tests.analysis.conftest import make_instances, write_run_dir

FILES = {
    "summaries.csv",
    "comparisons.csv",
    "pairwise.csv",
    "power.csv",
    "best_of_k.csv",
    "excluded.csv",
    "table1.csv",
    "table1.md",
    "friedman_ranks.csv",
    "friedman_pairs.csv",
}


@pytest.fixture(scope="module")
def report_and_dir(tmp_path_factory):
    df = make_instances()
    df.loc[3, ["status", "error", "eval_miou_all"]] = ["failed", "CUDA out of memory", np.nan]
    df.loc[60, "test_miou_org"] = np.nan
    run = write_run_dir(tmp_path_factory.mktemp("a") / "run", df)
    started = time.perf_counter()
    report = analyze(run, n_resamples=2000)
    print(f"\nanalyze (4 x 26, 2000 resamples, in process): {time.perf_counter() - started:.2f} s")
    return report, run


def test_end_to_end_run_dir(report_and_dir):
    report, run = report_and_dir
    assert report.reference == "2d3d_3x3x3" and report.metric == "eval_miou_all"
    assert report.metrics == ("eval_miou_all", "eval_miou_org", "test_miou_org")
    assert report.architectures == (
        "2d3d_3x3x3",
        "2d3d_no_3x3x3",
        "2d3d_no_multiloss",
        "unet_original",
    )
    assert (
        len(report.summaries) == 12 and len(report.comparisons) == 3 and len(report.pairwise) == 6
    )
    assert [c.b for c in report.comparisons] == [
        "2d3d_no_3x3x3",
        "2d3d_no_multiloss",
        "unet_original",
    ]
    assert all(c.paired and c.n_pairs == 25 for c in report.comparisons)  # seed 3 failed
    # the two families are corrected separately, with statsmodels' Holm
    for family in (report.comparisons, report.pairwise):
        expected = multipletests([c.pvalue for c in family], method="holm")[1]
        np.testing.assert_array_equal([c.p_adjusted for c in family], expected)
    ref = {c.b: c for c in report.comparisons}
    assert ref["unet_original"].significant and ref["2d3d_no_multiloss"].significant
    assert ref["2d3d_no_3x3x3"].verdict().endswith("(no detectable difference)")
    assert len(report.power) == 6 and len(report.best_of_k) == 4
    assert report.table1 is not None and "section (a) omitted" in report.table1.notes[0]
    reasons = report.excluded["reason"].tolist()
    assert reasons == ["status failed: CUDA out of memory", "test_miou_org is NaN"]
    assert report.out_dir == run / "analysis"
    assert {p.name for p in report.files} == FILES == {p.name for p in (run / "analysis").iterdir()}
    pairwise = pd.read_csv(run / "analysis" / "pairwise.csv")
    assert pairwise["verdict"].tolist() == [c.verdict() for c in report.pairwise]


def test_report_text_and_json(report_and_dir, tmp_path):
    report, _ = report_and_dir
    text = format_report(report)
    for line in report.verdicts():
        assert f"  {line}\n" in text
    for heading in (
        "distribution per architecture",
        "against each other architecture",
        "all pairs",
        "power",
        "best of k",
        "Table 1",
        "excluded rows",
    ):
        assert heading in text
    assert "status failed: CUDA out of memory" in text
    data = report.to_json()
    json.dumps(data, allow_nan=False)  # strict JSON: NaN became null
    assert data["reference"] == "2d3d_3x3x3" and len(data["pairwise"]) == 6
    assert data["verdicts"] == report.verdicts()
    write_json(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["metric"] == "eval_miou_all"


def test_same_seed_same_numbers(tmp_path):
    df = make_instances(n_seeds=8, seed=1)
    a = analyze(df, n_resamples=500, seed=3).to_json()
    b = analyze(df, n_resamples=500, seed=3).to_json()
    for d in (a, b):
        d.pop("elapsed_s")
    assert a == b
    # adding an architecture does not change the other pairs' numbers
    extra = pd.concat([df, make_instances(n_seeds=8, means={"zz_new": 0.7}, seed=2)])
    c = analyze(extra, n_resamples=500, seed=3).to_json()
    first = {(p["a"], p["b"]): p["permutation"] for p in a["pairwise"]}
    assert all(
        first[(p["a"], p["b"])] == p["permutation"]
        for p in c["pairwise"]
        if (p["a"], p["b"]) in first
    )


def test_plain_table_writes_nothing_unless_asked(tmp_path):
    path = tmp_path / "t.csv"
    make_instances(n_seeds=6).to_csv(path, index=False)
    report = analyze(
        path, reference="unet_original", metric="test_miou_org", correction="bh", n_resamples=300
    )
    assert report.out_dir is None and report.files == () and sorted(tmp_path.iterdir()) == [path]
    assert report.comparisons[0].a == "unet_original" and report.comparisons[0].correction == "bh"
    assert report.metrics[0] == "test_miou_org"
    out = analyze(path, n_resamples=300, out_dir=tmp_path / "out")
    assert {p.name for p in out.files} == FILES


def test_unknown_reference_metric_correction():
    df = make_instances(n_seeds=4)
    with pytest.raises(
        ValueError, match=r"unknown reference 'nope'; architectures: 2d3d_3x3x3, 2d3d_no_3x3x3, "
    ):
        analyze(df, reference="nope")
    with pytest.raises(
        ValueError, match=r"unknown metric 'dice'; metric columns: eval_miou_all, eval_miou_org"
    ):
        analyze(df, metric="dice")
    with pytest.raises(ValueError, match="unknown metric 'architecture'"):
        analyze(df, metric="architecture")
    with pytest.raises(ValueError, match="unknown correction 'fdr'"):
        analyze(df, correction="fdr")


def test_architecture_with_too_few_scores_is_reported():
    df = make_instances(n_seeds=6)
    df.loc[df["architecture"] == "unet_original", "eval_miou_all"] = np.nan
    df.loc[df.index[-1], "eval_miou_all"] = 0.7
    report = analyze(df, n_resamples=300)
    assert (
        "unet_original: 1 instance(s) with eval_miou_all; left out of comparisons" in report.notes
    )
    assert all("unet_original" not in (c.a, c.b) for c in report.pairwise)
    assert (report.excluded["reason"] == "eval_miou_all is NaN").sum() == 5


def test_ensembles_give_section_a(tmp_path):
    df = make_instances(n_seeds=6)
    ens = pd.DataFrame(
        {"architecture": "2d3d_3x3x3", "selection": "top", "k": [1, 2, 3], "eval_miou_all": [0.8, 0.82, 0.81],
         "eval_miou_org": 0.7, "test_miou_org": 0.69}
    )  # fmt: skip
    report = analyze(write_run_dir(tmp_path / "r", df, ens), n_resamples=300)
    assert report.table1.frame["label"].iloc[0] == "Top-2 2d3d_3x3x3"
    assert "Top-2 2d3d_3x3x3" in (tmp_path / "r" / "analysis" / "table1.md").read_text()


def test_cli_end_to_end(cli, tmp_path):
    df = make_instances()
    df.loc[3, ["status", "eval_miou_all"]] = ["failed", np.nan]
    run = write_run_dir(tmp_path / "run", df)
    started = time.perf_counter()
    proc = cli("analyze", str(run), "--json", str(tmp_path / "out.json"))
    elapsed = time.perf_counter() - started
    print(f"\nCLI analyze 4 x 26 (10^4 resamples, end to end incl. imports): {elapsed:.2f} s")
    assert proc.returncode == 0, proc.stderr
    assert "2d3d_3x3x3 > unet_original: +0.0" in proc.stdout and "p(Holm)" in proc.stdout
    assert "(no detectable difference)" in proc.stdout
    assert {p.name for p in (run / "analysis").iterdir()} == FILES
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["n_resamples"] == 10_000 and len(data["comparisons"]) == 3
    assert data["excluded"][0]["status"] == "failed"


def test_cli_errors(capsys, tmp_path):
    from benchmark.cli import main

    path = tmp_path / "t.parquet"
    make_instances(n_seeds=4).to_parquet(path)
    assert main(["analyze", str(path), "--reference", "nope", "--resamples", "200"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: unknown reference 'nope'; architectures: 2d3d_3x3x3, 2d3d_no_3x3x3, 2d3d_no_multiloss, unet_original"
    ]
    assert main(["analyze", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: exit 2 with its usage message
        main(["analyze", str(path), "--correction", "fdr"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_text_names_every_interval_method(report_and_dir):
    report, _ = report_and_dir
    text = format_report(report)
    assert "methods chosen by simulation (docs/statistics.md)" in text
    assert (
        "CI methods: mean: t, Hall skewness-corrected; median: order statistics, "
        "Hettmansperger-Sheather; IQM: trimmed-mean t (Tukey-McLaughlin/Yuen)" in text
    )
    assert "CI: the permutation test inverted at the level of its Holm step" in text
    assert "P(a>b) CI: Wilson score (seeds won)" in text
    assert "band: jackknife t, Hall skewness-corrected, for (k + 1)^2 <= n only" in text
    # 25-26 seeds: nothing withheld, every verdict has a finite interval with its level
    assert not re.search(r"\d \(withheld\)", text) and "CI unbounded" not in text
    assert all(" % CI [" in line for line in report.verdicts())
    summaries = report.summaries_frame()
    assert set(summaries["mean_method"]) == {"t, Hall skewness-corrected"}
    comparisons = report.comparisons_frame()
    assert comparisons["verdict_ci_method"].str.startswith("permutation test inverted").all()


def test_few_seeds_are_said_not_printed_as_if_not():
    report = analyze(make_instances(n_seeds=5), n_resamples=500, write=False)
    text = format_report(report)
    assert re.search(r"0\.79\d \(withheld\)", text)  # the mean is printed, its interval is not
    assert "93.8%" in text  # the median's order-statistic interval at its exact level
    limits = text[text.index("== limits of these seeds") :]
    assert "mean interval withheld, it needs >= 6 seeds: 2d3d_3x3x3 (5 seeds)" in limits
    assert (
        "no difference is detectable with 5 pairs, whatever its size: the smallest possible "
        "permutation p is 0.0625, the verdict needs p < 0.0167 (possible from 7 pairs)" in limits
    )
    assert "best-of-k band withheld (fewer than 6 seeds)" in limits
    assert "is absent from the sample with probability 59%" in limits
    for c in report.comparisons:
        assert not c.significant and "5 pairs cannot reach p(Holm) < 0.05" in c.verdict()
    assert all(np.isnan(b.low).all() for b in report.best_of_k)
    # ten seeds: intervals are back, the limits section only keeps what still applies
    ten = format_report(analyze(make_instances(n_seeds=10), n_resamples=500, write=False))
    assert not re.search(r"\d \(withheld\)", ten) and "best-of-k band only for k <= 2" in ten
