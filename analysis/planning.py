"""How many seeds, and GPU-hours, would a comparison need? ``python -m benchmark plan-seeds``.

From an existing run or table: per comparison of the reference with another architecture, the
observed spread (sd of the paired per-seed differences, or of each architecture's scores when
unpaired) and a target effect (the smallest effect of interest given, else the observed mean
difference) give

* the fixed design's seeds per architecture for the target power: statsmodels' t-test power
  (:func:`analysis.power.seeds_for_power`: ``TTestPower`` paired, ``TTestIndPower`` unpaired);
* the sequential design's expected seeds (and 10/50/90 % quantiles, its power at ``max_seeds``)
  by simulation (:func:`analysis.sequential.plan_seeds`); when that power is below the target,
  the ``max_seeds`` that reaches it and the expected seeds then;
* hours from the measured time per instance (the ``wall_time_s`` column, per architecture).

Both designs are planned at ``alpha / m`` for m comparisons (Bonferroni; the Holm step-down of a
real sequential run can only decide sooner). A family costs the others' seeds plus the largest
for the reference, which trains while any comparison is open (docs/sequential.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._seeding import derive
from analysis.analyze import choose_reference, metric_direction
from analysis.io import InstanceTable, as_instance_table, natural_key
from analysis.json_files import atomic_write_json
from analysis.power import seeds_for_power
from analysis.sequential import SequentialDesign, plan_seeds
from analysis.text_table import text_table

__all__ = ["SeedPlanReport", "format_plan", "plan_run", "write_plan_json"]

_COLUMNS = [
    "other", "paired", "n", "sd", "observed", "effect", "effect_source", "d", "fixed_seeds",
    "fixed_seeds_exact", "sequential_expected", "sequential_q10", "sequential_q50",
    "sequential_q90", "sequential_power", "sequential_p_futile", "fixed_power_at_max",
    "max_seeds_needed", "expected_at_needed",
]  # fmt: skip


@dataclass(frozen=True)
class SeedPlanReport:
    """Seeds and hours for the reference's comparisons, fixed against sequential.

    Attributes:
        source, metric, reference, higher_is_better: what was planned on.
        design: the sequential design (``alpha`` the family's level; ``paired`` as planned).
        power: target power; alpha_each: ``design.alpha / m``.
        comparisons: one row per other architecture: ``other, paired, n`` (pairs, or the smaller
            sample), ``sd``, ``observed`` (mean ``reference - other``), ``effect`` (planned, > 0),
            ``effect_source`` ("given"/"observed"), ``d`` (``effect / sd``), ``fixed_seeds``
            (statsmodels, rounded up; NaN when undefined), ``fixed_seeds_exact``,
            ``sequential_expected``, ``sequential_q10/q50/q90``, ``sequential_power`` (at
            ``max_seeds``), ``sequential_p_futile``, ``fixed_power_at_max`` (fixed test with
            ``max_seeds``), ``max_seeds_needed`` (for the target power; NA when already reached
            or beyond :data:`SEARCH_CAP`), ``expected_at_needed``.
        hours: one row per architecture: ``architecture, hours_per_instance, n_timed``
            (NaN and 0 when the table has no ``wall_time_s``).
        totals: ``fixed_seeds`` (per architecture: the largest comparison's),
            ``fixed_instances``, ``fixed_hours``; ``sequential_max_seeds``,
            ``sequential_instances``, ``sequential_hours`` (expected under the design as given;
            hours NaN without times); when some comparison's sequential power falls short of
            ``power``: ``powered_max_seeds`` (the largest ``max_seeds_needed``) and
            ``powered_instances``, ``powered_hours`` with every comparison replanned under it.
        notes: what the reader must know (assumptions, missing times, skipped comparisons).
    """

    source: str | None
    metric: str
    reference: str
    higher_is_better: bool
    design: SequentialDesign
    power: float
    alpha_each: float
    comparisons: pd.DataFrame
    hours: pd.DataFrame
    totals: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "source": self.source, "metric": self.metric, "reference": self.reference,
            "higher_is_better": self.higher_is_better, "design": asdict(self.design),
            "power": self.power, "alpha_each": self.alpha_each,
            "comparisons": self.comparisons.to_dict("records"),
            "hours": self.hours.to_dict("records"), "totals": dict(self.totals),
            "notes": list(self.notes),
        }  # fmt: skip


def plan_run(
    path_or_table: str | Path | pd.DataFrame | InstanceTable | Any,
    *,
    reference: str | None = None,
    metric: str | None = None,
    effect: float | None = None,
    power: float = 0.8,
    alpha: float | None = None,
    min_seeds: int | None = None,
    max_seeds: int | None = None,
    round_size: int | None = None,
    min_effect: float | None = None,
    paired: bool | None = None,
    higher_is_better: bool | None = None,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    format: str = "auto",
    n_simulations: int = 20_000,
    search_simulations: int = 2_000,
    seed: int = 0,
) -> SeedPlanReport:
    """Plans the seeds of the reference's comparisons from an existing run or table.

    Args:
        path_or_table: run directory, table file, DataFrame, Optuna study or loaded table.
        reference: default ``run.json``'s sequential reference, else ``2d3d_3x3x3`` when present,
            else the first architecture.
        metric: default as :func:`analysis.analyze.analyze`.
        effect: smallest difference of interest in score units (> 0), for every comparison;
            None plans each comparison on its observed mean difference.
        power: target power.
        alpha, min_seeds, max_seeds, round_size, min_effect: the sequential design; each None
            takes the run's stored design (``run --until-decided``), else 0.05, 5, 26, 3, None.
        paired: None: paired when the architectures share at least 2 seeds.
        higher_is_better: the metric's direction (only the report's wording depends on it).
        architecture_col, seed_col, format: how to read the table.
        n_simulations: sweeps per sequential plan; search_simulations: per step of the search for
            the ``max_seeds`` reaching ``power``.
        seed: base seed of the simulations.

    Raises:
        ValueError: unknown reference or metric, ``effect <= 0``, or fewer than 2 architectures.
    """
    table = as_instance_table(
        path_or_table, architecture_col=architecture_col, seed_col=seed_col, format=format
    )
    notes: list[str] = list(table.notes)
    if metric is None:
        metric, _ = table.default_metric()
    if metric not in table.data.columns:
        raise ValueError(f"unknown metric {metric!r}; metric columns: {', '.join(table.metrics)}")
    higher_is_better, why = metric_direction(metric, higher_is_better, table)
    if why:
        notes.append(why)
    if effect is not None and not effect > 0:
        raise ValueError(f"--effect must be a positive difference in score units, got {effect}")
    stored = (table.run.get("sequential") or {}) if table.run else {}
    archs = table.architectures
    if len(archs) < 2:
        raise ValueError(f"{table.source or 'table'}: need >= 2 architectures to plan a comparison")
    reference = choose_reference(archs, reference or stored.get("reference"))
    design = _design(
        stored.get("design") or {}, alpha, min_seeds, max_seeds, round_size, min_effect
    )
    scores, _ = table.scores(metric)
    others = [a for a in archs if a != reference]
    m = len(others)
    alpha_each = design.alpha / m
    rows = []
    for other in others:
        row = _plan_one(
            scores[reference], scores[other], other, design, paired, effect, power, m,
            n_simulations, search_simulations, derive(seed, "plan-seeds", reference, other), notes,
        )  # fmt: skip
        rows.append(row)
    comparisons = pd.DataFrame(rows, columns=_COLUMNS)
    for c in ("max_seeds_needed", "fixed_seeds"):
        comparisons[c] = comparisons[c].astype("Float64").round().astype("Int64")
    hours = _hours(table, [reference, *others], notes)
    expected = dict(zip(comparisons["other"], comparisons["sequential_expected"].astype(float)))
    totals = _totals(comparisons["fixed_seeds"], expected, hours, reference)
    totals["sequential_max_seeds"] = float(design.max_seeds)
    short = comparisons["sequential_power"].astype(float) < power
    needed = comparisons.loc[short, "max_seeds_needed"]
    if short.any() and needed.notna().all():
        # one max for the family: the largest needed; every comparison replanned under it
        family_max = int(needed.max())
        powered = {}
        for r in comparisons[comparisons["sd"].astype(float) > 0].itertuples():
            dsg = replace(design, paired=bool(r.paired), max_seeds=family_max)
            rng = derive(seed, "plan-seeds", reference, r.other, family_max)
            powered[r.other] = plan_seeds(
                r.sd, r.effect, dsg, n_comparisons=m, n_simulations=n_simulations, seed=rng
            ).expected_seeds
        more = _totals(comparisons["fixed_seeds"], powered, hours, reference)
        totals.update(
            powered_max_seeds=float(family_max),
            powered_instances=more["sequential_instances"],
            powered_hours=more["sequential_hours"],
        )
    if m > 1:
        notes.append(
            f"both designs planned at alpha / {m} = {alpha_each:.3g} per comparison (Bonferroni); "
            "the Holm step-down of a sequential run can only decide sooner"
        )
    notes.append(
        "sequential total: the others' expected seeds plus the largest for the reference (it "
        "trains while any comparison is open; a lower bound for it)"
    )
    return SeedPlanReport(
        source=None if table.source is None else str(table.source),
        metric=metric,
        reference=reference,
        higher_is_better=higher_is_better,
        design=design,
        power=power,
        alpha_each=alpha_each,
        comparisons=comparisons,
        hours=hours,
        totals=totals,
        notes=tuple(notes),
    )


def _design(stored, alpha, min_seeds, max_seeds, round_size, min_effect) -> SequentialDesign:
    base = SequentialDesign(**stored) if stored else SequentialDesign()
    given = dict(
        alpha=alpha, min_seeds=min_seeds, max_seeds=max_seeds, round_size=round_size,
        min_effect=min_effect,
    )  # fmt: skip
    return replace(base, **{k: v for k, v in given.items() if v is not None})


def _plan_one(
    ref, other_scores, other, design, paired, effect, power, m, n_sims, search_sims, rng, notes
):
    shared = np.intersect1d(ref.index, other_scores.index)
    use_paired = len(shared) >= 2 if paired is None else bool(paired)
    if use_paired:
        d = ref.loc[shared].to_numpy(float) - other_scores.loc[shared].to_numpy(float)
        n, observed = d.size, float(d.mean()) if d.size else float("nan")
        sd = float(d.std(ddof=1)) if d.size >= 2 else float("nan")
    else:
        x, y = ref.to_numpy(float), other_scores.to_numpy(float)
        n = min(x.size, y.size)
        observed = float(x.mean() - y.mean()) if n else float("nan")
        sd = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2) if n >= 2 else float("nan")
    target = effect if effect is not None else abs(observed)
    row = dict(
        other=other, paired=use_paired, n=n, sd=sd, observed=observed, effect=target,
        effect_source="given" if effect is not None else "observed",
    )  # fmt: skip
    if not (np.isfinite(sd) and sd > 0 and np.isfinite(target) and target > 0):
        why = (
            "fewer than 2 seeds"
            if not np.isfinite(sd)
            else "no spread"
            if sd == 0
            else "no difference"
        )
        notes.append(f"{other}: not planned ({why} to plan from)")
        return row
    dsg = replace(design, paired=use_paired)
    alpha_each = dsg.alpha / m
    n_fixed = seeds_for_power(target / sd, paired=use_paired, power=power, alpha=alpha_each)
    plan = plan_seeds(sd, target, dsg, n_comparisons=m, n_simulations=n_sims, seed=rng)
    q = dict(plan.quantiles)
    row.update(
        d=target / sd, fixed_seeds=math.ceil(n_fixed) if np.isfinite(n_fixed) else np.nan,
        fixed_seeds_exact=n_fixed, sequential_expected=plan.expected_seeds,
        sequential_q10=q.get(0.1), sequential_q50=q.get(0.5), sequential_q90=q.get(0.9),
        sequential_power=plan.power, sequential_p_futile=plan.p_futile,
        fixed_power_at_max=plan.fixed_power_at_max,
    )  # fmt: skip
    if effect is None and np.isfinite(n_fixed) and n_fixed > SEARCH_CAP:
        notes.append(
            f"{other}: its observed difference {observed:+.4g} would need {math.ceil(n_fixed)} "
            "seeds per architecture; plan on the smallest difference that matters with --effect D"
        )
    if plan.power < power:
        needed = _max_seeds_for(power, sd, target, dsg, m, search_sims, rng, n_fixed)
        if needed is not None:
            row.update(max_seeds_needed=needed[0], expected_at_needed=needed[1])
    return row


#: Largest ``max_seeds`` the search for the target power tries (a plan at 400 seeds takes ~3 s).
SEARCH_CAP = 400


def _max_seeds_for(power, sd, effect, design, m, n_sims, rng, n_fixed, cap: int = SEARCH_CAP):
    """Smallest ``max_seeds`` (to within a round) whose sequential power reaches ``power``, and
    its expected seeds; None beyond ``cap``. The fixed design's ``n_fixed`` brackets it: group-
    sequential designs need a maximum a little above the fixed sample (~1.1x here)."""

    def run(max_seeds: int):
        dsg = replace(design, max_seeds=max_seeds, min_seeds=min(design.min_seeds, max_seeds))
        return plan_seeds(sd, effect, dsg, n_comparisons=m, n_simulations=n_sims, seed=rng)

    if not np.isfinite(n_fixed) or n_fixed > cap:
        return None
    step = max(1, design.round_size)
    lo, hi, plan = design.max_seeds, None, None
    for factor in (1.25, 2.0):
        trial_max = min(cap, max(lo + step, math.ceil(factor * n_fixed)))
        trial = run(trial_max)
        if trial.power >= power:
            hi, plan = trial_max, trial
            break
        lo = trial_max
    if hi is None:
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2
        trial = run(mid)
        if trial.power >= power:
            hi, plan = mid, trial
        else:
            lo = mid
    return hi, plan.expected_seeds


def _hours(table: InstanceTable, archs: list[str], notes: list[str]) -> pd.DataFrame:
    rows = []
    has = "wall_time_s" in table.data.columns
    if not has:
        notes.append("no wall_time_s column: the time per instance is unknown, hours not estimated")
    for arch in sorted(archs, key=natural_key):
        t = (
            pd.to_numeric(table.data.loc[table.data["architecture"] == arch, "wall_time_s"], errors="coerce").dropna()
            if has
            else pd.Series(dtype=float)
        )  # fmt: skip
        rows.append(
            dict(architecture=arch, hours_per_instance=t.mean() / 3600 if len(t) else np.nan, n_timed=len(t))
        )  # fmt: skip
        if has and not len(t):
            notes.append(f"{arch}: no measured wall_time_s: its hours are not estimated")
    return pd.DataFrame(rows, columns=["architecture", "hours_per_instance", "n_timed"])


def _totals(fixed_seeds: pd.Series, expected: dict, hours: pd.DataFrame, reference: str) -> dict:
    h = dict(zip(hours["architecture"], hours["hours_per_instance"]))
    fixed = fixed_seeds.astype("Float64").max()
    fixed = float(fixed) if pd.notna(fixed) else float("nan")
    n_arch = len(fixed_seeds) + 1
    ref_seeds = max(expected.values(), default=float("nan"))
    seq_instances = ref_seeds + sum(expected.values())
    seq_hours = ref_seeds * h.get(reference, np.nan) + sum(
        s * h.get(o, np.nan) for o, s in expected.items()
    )
    return dict(
        fixed_seeds=fixed, fixed_instances=fixed * n_arch,
        fixed_hours=fixed * float(sum(h.get(a, np.nan) for a in [reference, *expected])),
        sequential_instances=float(seq_instances), sequential_hours=float(seq_hours),
    )  # fmt: skip


def write_plan_json(plan: SeedPlanReport, path: str | Path) -> Path:
    """Writes :meth:`SeedPlanReport.to_dict` atomically (strict JSON, no NaN)."""
    return atomic_write_json(path, plan.to_dict())


# ---------------------------------------------------------------------------------- text
def format_plan(plan: SeedPlanReport) -> str:
    """Readable text of a :class:`SeedPlanReport`."""
    d = plan.design
    m = len(plan.comparisons)
    out = [
        f"densecell-bench seed plan for {plan.source or 'a table'}",
        f"metric {plan.metric} ({'higher' if plan.higher_is_better else 'lower'} is better); "
        f"reference {plan.reference}; target power {plan.power:g} at alpha {d.alpha:g}"
        + (f" over {m} comparisons ({plan.alpha_each:.3g} each)" if m > 1 else ""),
        f"sequential design: {d.spending.upper()}({d.parameter:g}) alpha spending, looks at "
        f"{', '.join(map(str, d.looks))} seeds"
        + (f", futility at +-{d.min_effect:g}" if d.min_effect else "")
        + " (docs/sequential.md)",
        "",
    ]
    header = ["comparison", "seeds now", "sd", "observed", "effect", "d", "fixed (statsmodels)",
              "sequential E [10/50/90 %]", f"power at {d.max_seeds}", f"max seeds for {plan.power:g}"]  # fmt: skip
    rows = []
    for r in plan.comparisons.itertuples():
        seq = (
            f"{r.sequential_expected:.1f} [{r.sequential_q10:g}/{r.sequential_q50:g}/{r.sequential_q90:g}]"
            if pd.notna(r.sequential_expected)
            else "n/a"
        )
        need = (
            "reached" if pd.notna(r.sequential_power) and r.sequential_power >= plan.power
            else f"{r.max_seeds_needed} (E {r.expected_at_needed:.1f})" if pd.notna(r.max_seeds_needed)
            else "n/a" if pd.isna(r.sequential_power) else f"> {SEARCH_CAP}"
        )  # fmt: skip
        rows.append([
            f"{plan.reference} - {r.other}", f"{r.n} {'pairs' if r.paired else 'each'}",
            _num(r.sd, 4), _num(r.observed, 4, True), f"{_num(r.effect, 4)} ({r.effect_source})",
            _num(r.d, 2), "n/a" if pd.isna(r.fixed_seeds) else str(r.fixed_seeds), seq,
            f"seq {_num(r.sequential_power, 2)} / fixed {_num(r.fixed_power_at_max, 2)}", need,
        ])  # fmt: skip
    out += text_table(header, rows)
    times = [
        f"{r.architecture} {r.hours_per_instance:.2f} h ({r.n_timed})"
        for r in plan.hours.itertuples()
        if pd.notna(r.hours_per_instance)
    ]
    t = plan.totals
    out += ["", f"hours per instance (mean wall_time_s): {', '.join(times) or 'unknown'}"]
    if np.isfinite(t["fixed_seeds"]):
        out.append(
            f"fixed design: {t['fixed_seeds']:.0f} seeds per architecture = "
            f"{t['fixed_instances']:.0f} instances" + _hours_text(t["fixed_hours"])
        )
    if np.isfinite(t["sequential_instances"]):
        low = plan.comparisons["sequential_power"].astype(float).min()
        out.append(
            f"sequential design (max {d.max_seeds}): about {t['sequential_instances']:.0f} "
            f"instances expected"
            + _hours_text(t["sequential_hours"])
            + (f"; its power is only {low:.2f} for some comparison" if low < plan.power else "")
        )
    if "powered_max_seeds" in t:
        out.append(
            f"sequential design with max {t['powered_max_seeds']:.0f} seeds (power >= "
            f"{plan.power:g} for every comparison): about {t['powered_instances']:.0f} instances "
            f"expected" + _hours_text(t["powered_hours"])
        )
    out += [f"note: {n}" for n in plan.notes]
    return "\n".join(out) + "\n"


def _hours_text(h: float) -> str:
    return f", {h:.1f} GPU-hours" if np.isfinite(h) else " (hours unknown)"


def _num(v, digits: int, signed: bool = False) -> str:
    if v is None or pd.isna(v) or not np.isfinite(float(v)):
        return "n/a"
    return f"{float(v):+.{digits}f}" if signed else f"{float(v):.{digits}f}"
