"""Sections of the run report: intervals with their methods (withheld ones say why), the limits of
these seeds, a sequential run's looks and seeds spent, the average ranks, stale ensembles; and
the page builder with its packaged templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.analyze import AnalysisReport, analyze
from analysis.derived import record_derived
from analysis.distributions import Estimate
from analysis.report import build_report
from analysis.report.page import Page, anchor, template
from analysis.report.text import bounds_text, interval_text, p_phrase, withheld_text
from analysis.sequential import SequentialDesign, sequential_family
from tests.analysis.test_report import figure_specs, make_fake_run


def _section(text: str, anchor: str) -> str:
    return text.split(f'<section id="{anchor}">')[1].split("</section>")[0]


# ------------------------------------------------------------------------------- intervals
def test_text_of_intervals():
    inf = float("inf")
    assert bounds_text(0.1, 0.2, 2) == "[0.10, 0.20]"
    assert bounds_text(-inf, inf) == "unbounded"
    assert bounds_text(-inf, 0.5, 1) == "(\u2212\u221e, 0.5]"
    assert bounds_text(float("nan"), 0.5) == ""
    held = Estimate(0.8, float("nan"), float("nan"), 0.95, "t", "withheld: needs >= 6 seeds")
    assert interval_text(held) == withheld_text(held.note) == "withheld (needs >= 6 seeds)"
    exact = Estimate(0.8, 0.7, 0.9, 0.9375, "order statistics", "exact level 93.8%: ...")
    assert interval_text(exact, 1) == "[0.7, 0.9] at 93.8 %"
    assert p_phrase(0.0001) == "p < 0.001" and p_phrase(0.25, "p adj") == "p adj = 0.250"


@pytest.fixture(scope="module")
def five_seeds(tmp_path_factory) -> str:
    """4 architectures x 5 seeds: the mean's interval is withheld, the median's has its exact
    level."""
    run = make_fake_run(
        tmp_path_factory.mktemp("five") / "run", n_seeds=5, failed=0, curves=False,
        ensembles=False, predictions=False,
    )  # fmt: skip
    return build_report(run, n_resamples=500).read_text()


def test_withheld_intervals_say_why_and_methods_are_named(five_seeds):
    summary = _section(five_seeds, "distributions").split("<h3>Summary</h3>")[1]
    header = summary.split("</thead>")[0]
    assert "t, Hall skewness-corrected" not in header  # every mean is withheld: no common method
    assert "trimmed-mean t (Tukey-McLaughlin/Yuen)" in header  # the IQM's method, once
    assert "order statistics" in header
    assert summary.count("withheld (needs &gt;= 6 seeds)") == 12  # 4 architectures x 3 metrics
    assert summary.count(" at 93.8 %") == 12  # median of 5: exact level 1 - 2/32
    assert "methods chosen by simulation (docs/statistics.md)" in five_seeds
    assert "bootstrap" not in five_seeds.split("<nav>")[0]


def test_limits_of_these_seeds(five_seeds):
    limits = _section(five_seeds, "limits")
    assert "<h2>Limits of these seeds</h2>" in limits
    items = re.findall(r"<li>(.*?)</li>", limits)
    assert any(i.startswith("mean interval withheld, it needs &gt;= 6 seeds") for i in items)
    assert any("failure mode" in i for i in items)
    assert any("best-of-k band withheld" in i for i in items)


def test_comparison_table_names_the_verdict_interval(five_seeds):
    comparisons = _section(five_seeds, "comparisons")
    assert "verdict interval (Holm-step level)" in comparisons
    assert "permutation test inverted" in comparisons  # the difference's method
    caption = "permutation-test interval at the verdict's (Holm-step) level"
    assert caption in comparisons


# ------------------------------------------------------------------------------ sequential
DESIGN = SequentialDesign(min_seeds=5, max_seeds=26, round_size=3, min_effect=0.01)


def make_sequential_run(path: Path) -> tuple[Path, dict[str, int]]:
    """A run of ``run --until-decided``: each architecture trained only as long as its comparison
    needed (the reference as long as any), ``sequential.parquet`` and the design in run.json."""
    run = make_fake_run(path, failed=0, ensembles=False, predictions=False, curves=False)
    instances = pd.read_parquet(run / "instances.parquet")
    scores = {
        a: dict(zip(g["seed"], g["eval_miou_all"])) for a, g in instances.groupby("architecture")
    }
    state = sequential_family(scores, "2d3d_3x3x3", DESIGN)
    kept = {p.other: p.last.seeds for p in state.paths}
    kept["2d3d_3x3x3"] = max(kept.values())
    instances = instances[instances["seed"] < instances["architecture"].map(kept)]
    instances.to_parquet(run / "instances.parquet")
    state.frame().to_parquet(run / "sequential.parquet")
    meta = json.loads((run / "run.json").read_text())
    meta["sequential"] = dict(design=DESIGN.__dict__, reference="2d3d_3x3x3")
    (run / "run.json").write_text(json.dumps(meta))
    return run, kept


def test_sequential_section(tmp_path):
    run, kept = make_sequential_run(tmp_path / "run")
    text = build_report(run, n_resamples=300).read_text()
    section = _section(text, "sequential")
    total = sum(kept.values())
    assert f"spent {total} seeds of 104 ({total / 104:.0%})" in section
    assert total < 104  # the point of a sequential run
    looks = pd.read_parquet(run / "sequential.parquet")
    for _, group in looks.groupby("other"):
        decided = group[group["decision"] != "undecided"]
        if len(decided):
            first = decided.iloc[0]
            assert f"look {first['look']} ({first['seeds']} seeds)" in section
    assert "2d3d_3x3x3 better" in section  # the ablations lose to the reference
    assert "looks at 5, 8, 11, 14, 17, 20, 23, 26 seeds per architecture" in section
    (fig,) = [
        s for s in figure_specs(text) if s["layout"]["title"]["text"].startswith("Sequential looks")
    ]
    names = {t["name"] for t in fig["data"]}
    assert {"boundary", "2d3d_no_3x3x3", "2d3d_no_multiloss", "2d3d_no_pyramid"} <= names
    if "sequential" in AnalysisReport.__dataclass_fields__:  # analyze recomputes the looks
        assert "optional stopping" in section  # where the fixed-sample statistics stop holding
        assert "sequential.parquet agrees" in section


def test_sequential_section_reads_the_files_without_the_analysis_field(tmp_path):
    from analysis.io import load_instances
    from analysis.report.context import load_context
    from analysis.report.sequential_section import sequential_section

    run, kept = make_sequential_run(tmp_path / "run")
    ctx = load_context(load_instances(run), run, analysis=None)
    html = sequential_section(Page("t"), ctx)
    assert f"spent {sum(kept.values())} seeds of 104" in html
    assert "decisions as stored in sequential.parquet" in html
    plain = make_fake_run(tmp_path / "plain", n_seeds=3, ensembles=False, predictions=False)
    assert sequential_section(Page("t"), load_context(load_instances(plain), plain, None)) is None


# ----------------------------------------------------------------------------------- ranks
def test_ranks_section_when_the_analysis_has_a_friedman_test(tmp_path):
    run = make_fake_run(
        tmp_path / "run", n_seeds=6, curves=False, ensembles=False, predictions=False
    )
    report = analyze(run, n_resamples=300, write=False)
    ranks = {
        "2d3d_3x3x3": 1.5,
        "2d3d_no_3x3x3": 1.6,
        "2d3d_no_multiloss": 3.1,
        "2d3d_no_pyramid": 3.8,
    }
    friedman = SimpleNamespace(
        average_ranks=ranks, critical_difference=1.9, groups=[("2d3d_3x3x3", "2d3d_no_3x3x3")],
        statistic=14.2, pvalue=0.0026, n_blocks=5, method="nemenyi",
    )  # fmt: skip
    object.__setattr__(report, "friedman", friedman)  # the analysis' field, by hand
    text = build_report(run, analysis=report).read_text()
    section = _section(text, "ranks")
    assert "CD = 1.900" in section and "5 blocks" in section and "(nemenyi)" in section
    (fig,) = [s for s in figure_specs(text) if s["layout"]["title"]["text"].startswith("Average")]
    assert {"CD", "group 1", *ranks} <= {t["name"] for t in fig["data"]}
    object.__setattr__(report, "friedman", None)
    assert '<section id="ranks">' not in build_report(run, analysis=report).read_text()


# ----------------------------------------------------------------------------- stale inputs
def test_stale_ensembles_are_noted_and_the_report_is_recorded(tmp_path):
    run = make_fake_run(tmp_path / "run", n_seeds=4, curves=False, predictions=False)
    record_derived(run, "ensembles")
    report = analyze(run, n_resamples=200, write=False)
    text = build_report(run, analysis=report).read_text()
    assert "stale:" not in _section(text, "notes")
    records = json.loads((run / "derived.json").read_text())
    assert records["report"]["instances"] == records["ensembles"]["instances"]
    instances = pd.read_parquet(run / "instances.parquet")
    instances.iloc[:-1].to_parquet(run / "instances.parquet")  # a row less: another instance set
    text = build_report(run, analysis=report).read_text()
    assert "stale: ensembles.parquet was built" in _section(text, "notes")
    assert "python -m benchmark ensembles" in _section(text, "notes")
    records = json.loads((run / "derived.json").read_text())
    assert records["report"]["instances"] != records["ensembles"]["instances"]
    del records["report"]
    (run / "derived.json").write_text(json.dumps(records))
    build_report(run, tmp_path / "elsewhere.html", analysis=report)
    # a report written elsewhere is not the run's report.html: not recorded
    assert "report" not in json.loads((run / "derived.json").read_text())


# ------------------------------------------------------------------------------------ page
def test_page_renders_the_packaged_templates():
    import plotly.graph_objects as go

    page = Page("A <title>", footer="foot")
    body = page.figure(go.Figure(go.Scatter(x=[1], y=[2])), "cap")
    page.section(anchor("Optimization history: mean"), "Optimization history: mean", body)
    text = page.render("sub <b>html</b>")
    assert "<title>A &lt;title&gt;</title>" in text and "sub <b>html</b>" in text
    assert '<section id="optimization-history-mean">' in text
    assert template("page.css") in text and template("page.js") in text
    assert '<a href="#optimization-history-mean">' in text and "<footer>foot</footer>" in text
    assert 'data-target="fig-0"' in text and '<p class="caption">cap</p>' in text


# ----------------------------------------------------------------------- any metric, lower
def test_a_table_of_losses(tmp_path):
    """Any table and metric: Table 1 by the lowest loss (bold: the lowest), its distribution."""
    rng = np.random.default_rng(0)
    rows = [
        dict(architecture=a, seed=s, status="finished", val_loss=mu + rng.normal(0, 0.01))
        for a, mu in (("a", 0.30), ("b", 0.35), ("c", 0.40))
        for s in range(8)
    ]
    csv = tmp_path / "losses.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    report = analyze(csv, metric="val_loss", higher_is_better=False, n_resamples=300, write=False)
    text = build_report(csv, analysis=report).read_text()
    t1 = _section(text, "table1")
    assert "selected by val_loss (lowest)" in t1
    best = min(r["val_loss"] for r in rows)
    assert f"<b>{best:.3f}</b>" in t1
    titles = [s["layout"]["title"]["text"] for s in figure_specs(text)]
    assert any(t.startswith("Distribution of val loss") for t in titles)
