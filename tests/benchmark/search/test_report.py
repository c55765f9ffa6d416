"""The search report: built by the run report's page builder, self-contained, every figure drawn."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def make_search_folder(path: Path, n: int = 6, seeds: int = 2) -> Path:
    """A finished single-objective search as ``run_search`` leaves it (search.json, the Optuna
    journal, candidates.parquet and seeds.parquet), without training or Ray."""
    import optuna

    from benchmark.search.settings import SearchSettings
    from benchmark.search.store import storage_for

    path.mkdir(parents=True)
    settings = SearchSettings(trials=n, seeds_per_candidate=seeds, profile="quick")
    storage, _ = storage_for(None, path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="r",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(0),
    )
    rows, cands = [], []
    for number in range(n):
        trial = study.ask()
        depth, lr = (
            trial.suggest_int("depth", 2, 4),
            trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        )
        scores = [
            0.8
            - 0.1 * abs(depth - 3)
            - 0.05 * abs(math.log10(lr) + 2.5)
            + 0.01 * math.sin(s + number)
            for s in range(seeds)
        ]
        study.tell(trial, float(np.mean(scores)))
        rows += [
            dict(number=number, seed=s, status="finished", eval_miou_all=v)
            for s, v in enumerate(scores)
        ]
        cands.append(
            dict(
                number=number, state="complete", objective=float(np.mean(scores)),
                mean=float(np.mean(scores)), sd=float(np.std(scores, ddof=1)), n_seeds=seeds,
                seeds="0,1", arch_params=1_000_000.0 + number, step_ms=12.5, race_verdict=None,
                race_p=float("nan"), options=json.dumps({"depth": depth}),
                train=json.dumps({"lr": lr}), reason="",
            )
        )  # fmt: skip
    pd.DataFrame(rows).to_parquet(path / "seeds.parquet")
    pd.DataFrame(cands).to_parquet(path / "candidates.parquet")
    meta = dict(
        study_name="r",
        storage=None,
        settings=settings.to_dict(),
        base="2d3d_3x3x3",
        profile="quick",
    )
    (path / "search.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def search_report(tmp_path_factory):
    from benchmark.search.report import write_search_report

    return write_search_report(make_search_folder(tmp_path_factory.mktemp("search") / "r"))


def test_search_report_uses_the_shared_page(search_report):
    import plotly.offline

    from analysis.report.page import template

    text = search_report.read_text()
    assert search_report.name == "search-report.html"
    assert oct(search_report.stat().st_mode & 0o777) == "0o644"
    # the run report's template, styles and script: one look, one theme switch
    assert template("page.css") in text and template("page.js") in text
    assert '<meta name="color-scheme" content="light dark">' in text
    bundle = plotly.offline.get_plotlyjs()
    assert text.count(bundle[:300]) == 1  # plotly.js embedded once
    rest = text.replace(bundle, "")
    assert not re.search(r"""<script[^>]+src=""", rest)
    for anchor in ("search", "optimization-history", "parameter-importances", "per-seed-scores"):
        assert f'<section id="{anchor}">' in text
    assert "<p class='note'>not available" not in text  # every figure was drawn
    specs = [
        json.loads(s)
        for s in re.findall(
            r'<script type="application/json" class="plotly-figure"[^>]*>(.*?)</script>', text
        )
    ]
    assert len(specs) == 3
    for spec in specs:  # transparent backgrounds for light and dark pages, like the run report
        assert spec["layout"]["template"]["layout"]["paper_bgcolor"] == "rgba(0,0,0,0)"
    candidates = text.split('<section id="candidates">')[1].split("</section>")[0]
    assert candidates.count("<tr>") == 1 + 6 and "1,000,005" in candidates
    assert "racing: group-sequential test vs the incumbent" in text


def test_a_figure_that_cannot_be_drawn_is_a_note(tmp_path):
    from benchmark.search.report import write_search_report

    text = write_search_report(make_search_folder(tmp_path / "none", n=0)).read_text()
    seeds = text.split('<section id="per-seed-scores">')[1].split("</section>")[0]
    assert "<p class='note'>not available: no trained seeds yet</p>" in seeds
    assert "no candidates yet" in text.split('<section id="candidates">')[1]
