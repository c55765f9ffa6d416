"""Exporting the best candidates as architecture specs and a suite that trains them on fresh seeds."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.search.settings import SearchSettings
from benchmark.search.store import safe_name

__all__ = ["export_candidates"]


def _ranked(settings: SearchSettings, cands: pd.DataFrame, pareto: Sequence[int]) -> list[int]:
    if cands.empty:
        return []
    done = cands[cands["state"] == "complete"]
    if settings.multi:
        done = done[done["number"].isin(list(pareto))]
    done = done[np.isfinite(done["objective"].astype(float))]
    return [
        int(n) for n in done.sort_values(["objective", "number"], ascending=[False, True])["number"]
    ]


def export_candidates(
    search_dir: Path,
    settings: SearchSettings,
    cands: pd.DataFrame,
    meta: Mapping[str, Any],
    pareto: Sequence[int] = (),
) -> tuple[list[int], list[Path], Path | None]:
    """Writes the best candidates as ``best-<i>.toml`` specs and a ``suite.toml`` next to them.

    Single objective: the ``export`` complete candidates with the best objective (recomputed on
    all their seeds). Several objectives: the Pareto front, best segmentation objective first.
    The suite lists the specs and the space's base (``2d3d_3x3x3``) with 26 seeds that follow
    the ones the search used, so the confirmation is not biased by selection on its seeds.

    Returns:
        (candidate numbers, spec paths, suite path or None when nothing is complete).
    """
    from architectures.spec import toml_value, write_spec

    ranked = _ranked(settings, cands, pareto)[: settings.export]
    for old in search_dir.glob("best-*.toml"):
        old.unlink()
    if not ranked:
        return [], [], None
    paths = []
    by_number = cands.set_index("number")
    for i, number in enumerate(ranked, 1):
        row = by_number.loc[number]
        spec_name = safe_name(f"search_{meta['study_name']}_c{number:03d}")
        description = f"found by search {meta['study_name']} (candidate {number}): eval MIoU(all) {row['mean']:.4f} +- {0 if pd.isna(row['sd']) else row['sd']:.4f} over {row['n_seeds']} seed(s), {int(row['arch_params']):,} parameters at width {meta['config']['width']:g}"
        paths.append(
            write_spec(
                search_dir / f"best-{i}.toml",
                spec_name,
                meta["base"],
                json.loads(row["options"]),
                json.loads(row["train"]),
                description,
            )
        )
    used = max((int(s) for seeds in cands["seeds"] for s in str(seeds).split(",") if s), default=-1)
    lines = [
        "# Written by `python -m benchmark search`: the exported candidates next to the reference,",
        "# on 26 paired seeds the search never used. Run it with",
        f"#   python -m benchmark run --suite {search_dir / 'suite.toml'}",
        f"name = {toml_value('search-' + meta['study_name'])}",
        f"description = {toml_value('search ' + meta['study_name'] + ': best candidates vs ' + meta['base'])}",
        f"architectures = {toml_value([p.name for p in paths] + [meta['base']])}",
        f"profile = {toml_value(meta['profile'])}",
        f"seeds = {toml_value(list(range(used + 1, used + 27)))}",
    ]
    data_lines = _suite_data(meta["data"])
    if data_lines:
        lines += ["", "[data]", *data_lines]
    suite = search_dir / "suite.toml"
    tmp = suite.with_name(f".{suite.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(suite)
    return ranked, paths, suite


def _suite_data(data: Mapping[str, Any]) -> list[str]:
    from architectures.spec import toml_value
    from benchmark.data.spec import VOLUME_FIELDS
    from benchmark.data.spec import absolute_path as absolute

    if data["kind"] == "phantom":
        return [f"phantom_seed = {int(data['seed'])}"] if data.get("seed") else []
    out = []
    if data["kind"] == "platelet":
        out.append(f"data = {toml_value(absolute(data['data_dir']))}")
    for key in (*VOLUME_FIELDS, "color_table"):
        if data.get(key):
            out.append(f"{key} = {toml_value(absolute(data[key]))}")
    if data.get("org_classes"):
        out.append(f"org_classes = {toml_value(','.join(str(c) for c in data['org_classes']))}")
    if data.get("n_classes"):
        out.append(f"n_classes = {int(data['n_classes'])}")
    return out
