"""What ``analyze`` says about a run trained with ``run --until-decided``.

Such a run folder holds ``sequential.parquet`` (the sweep driver's
:meth:`analysis.sequential.FamilyState.frame` after its last round: one row per look per
comparison) and ``run.json`` with ``"sequential": {"design": {...}, "reference": ARCH}``.
:func:`sequential_analysis` recomputes the decisions with
:func:`analysis.sequential.sequential_family` from the instances and the stored design instead of
trusting the file, says whether the file agrees, and counts the seeds spent against the fixed plan
(``max_seeds`` per architecture).

The number of seeds of such a run depended on the scores seen so far (optional stopping), so the
fixed-sample p-values and intervals of :func:`analysis.analyze.analyze` do not hold their level
there; the repeated p-values and repeated confidence intervals of the sequential design do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.io import InstanceTable, format_seeds, natural_key
from analysis.sequential import FamilyState, SequentialDesign, sequential_family
from analysis.text_table import pvalue_cell, text_table

__all__ = [
    "SEQUENTIAL_FILE",
    "SEQUENTIAL_METRIC",
    "SequentialAnalysis",
    "format_sequential",
    "sequential_analysis",
]

SEQUENTIAL_FILE = "sequential.parquet"
#: The score the sweep driver decides on (``run.json`` may name another as ``"metric"``).
SEQUENTIAL_METRIC = "eval_miou_all"
_COMPARED = ("estimate", "low", "high", "p_repeated", "p_adjusted", "boundary")


@dataclass(frozen=True)
class SequentialAnalysis:
    """The sequential decisions of a run, recomputed.

    Attributes:
        reference: the architecture every other is compared with; metric: the score decided on.
        design: the stored :class:`~analysis.sequential.SequentialDesign` (None when ``run.json``
            has none: then only the stored looks are shown).
        state: the recomputed :class:`~analysis.sequential.FamilyState` (None without a design).
        looks: one row per look per comparison (``reference, other`` and the fields of
            :class:`~analysis.sequential.Look`: ``look, seeds, n_reference, n_other, information,
            fraction, estimate, se, df, statistic, z, level, boundary, critical, low, high,
            p_repeated, p_adjusted, decision``): the recomputed ones, else the stored ones. The
            report draws ``z`` against ``+-boundary`` per ``other``, look by look.
        summary: one row per comparison: ``other, decision, decided_at`` (look, or NA),
            ``seeds`` (per architecture at the last look), ``estimate, low, high`` (repeated
            interval at the last look), ``p_repeated, p_adjusted, verdict``.
        seeds: one row per architecture: ``architecture, trained`` (instances that ended:
            finished, early stopped or failed), ``scored``, ``fixed_plan`` (``max_seeds``),
            ``saved`` (``fixed_plan - trained``), ``fraction`` (``trained / fixed_plan``).
        stored: ``sequential.parquet`` as read, or None when absent.
        matches_stored: whether the file agrees with the recomputation (None: nothing to compare).
        differences: where they disagree, one sentence each (at most 10).
        seed_order: the order seeds joined rounds; seed_order_source: where it came from.
        notes: anything else the reader must know.
    """

    reference: str
    metric: str
    design: SequentialDesign | None
    state: FamilyState | None
    looks: pd.DataFrame
    summary: pd.DataFrame
    seeds: pd.DataFrame
    stored: pd.DataFrame | None = None
    matches_stored: bool | None = None
    differences: tuple[str, ...] = ()
    seed_order: tuple[int, ...] = ()
    seed_order_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def others(self) -> tuple[str, ...]:
        """The architectures compared with the reference."""
        return tuple(self.summary["other"]) if len(self.summary) else ()

    def verdicts(self) -> list[str]:
        """One line per comparison (the recomputed ones when a design is known)."""
        return list(self.summary["verdict"]) if len(self.summary) else []

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON."""
        from dataclasses import asdict

        return {
            "reference": self.reference,
            "metric": self.metric,
            "design": None if self.design is None else asdict(self.design),
            "looks": self.looks.to_dict("records"),
            "summary": self.summary.to_dict("records"),
            "seeds": self.seeds.to_dict("records"),
            "matches_stored": self.matches_stored,
            "differences": list(self.differences),
            "seed_order": list(self.seed_order),
            "seed_order_source": self.seed_order_source,
            "notes": list(self.notes),
        }


def sequential_analysis(table: InstanceTable) -> SequentialAnalysis | None:
    """The sequential decisions of a run directory, or None when it was not sequential.

    Args:
        table: the run's instances (:func:`analysis.io.load_instances` of the run directory; its
            ``run`` holds ``run.json``).
    """
    run_dir = table.run_dir
    spec = table.run.get("sequential") if table.run else None
    path = None if run_dir is None else run_dir / SEQUENTIAL_FILE
    stored = pd.read_parquet(path) if path is not None and path.is_file() else None
    if not spec and stored is None:
        return None
    notes: list[str] = []
    if not spec:
        reference = str(stored["reference"].iloc[0]) if len(stored) else ""
        notes.append(
            f"run.json has no sequential design: the looks of {SEQUENTIAL_FILE} are shown as "
            "stored, not recomputed"
        )
        return SequentialAnalysis(
            reference=reference, metric=SEQUENTIAL_METRIC, design=None, state=None,
            looks=stored, summary=_summary_from_looks(stored, None), seeds=pd.DataFrame(),
            stored=stored, notes=tuple(notes),
        )  # fmt: skip
    design = SequentialDesign(**spec["design"])
    reference = spec["reference"]
    metric = spec.get("metric", SEQUENTIAL_METRIC)
    scores, trained = _driver_scores(table, metric, spec, notes)
    order, source = _seed_order(table, spec)
    state = sequential_family(scores, reference, design, seed_order=order)
    looks = state.frame()
    matches, differences = (None, ())
    if stored is None:
        notes.append(f"no {SEQUENTIAL_FILE} in the run folder: nothing to check against")
    else:
        differences = _differences(stored, looks)
        matches = not differences
    return SequentialAnalysis(
        reference=reference,
        metric=metric,
        design=design,
        state=state,
        looks=looks,
        summary=_summary(state),
        seeds=_seeds_spent(trained, scores, design),
        stored=stored,
        matches_stored=matches,
        differences=differences,
        seed_order=tuple(int(s) for s in (order or [])),
        seed_order_source=source,
        notes=tuple(notes),
    )


def _driver_scores(
    table: InstanceTable, metric: str, spec: Mapping[str, Any], notes: list[str]
) -> tuple[dict[str, dict[int, float]], dict[str, int]]:
    """``{architecture: {seed: score}}`` as the driver saw them: finished and early-stopped
    instances with their score (NaN when missing), failed ones as NaN; and the instances per
    architecture that ended."""
    archs = list(table.run.get("architectures") or table.architectures)
    if metric not in table.data.columns:
        notes.append(f"the instances have no {metric} column: every score counts as missing")
    values = (
        pd.to_numeric(table.data[metric], errors="coerce")
        if metric in table.data.columns
        else pd.Series(np.nan, index=table.data.index)
    )
    scores: dict[str, dict[int, float]] = {a: {} for a in archs}
    for arch, seed, v in zip(table.data["architecture"], table.data["seed"], values):
        if arch in scores:
            scores[arch][int(seed)] = float(v)
    failed = table.excluded[table.excluded["status"].astype(str) == "failed"]
    for arch, seed in zip(failed["architecture"], failed["seed"]):
        if arch in scores and not pd.isna(seed):
            scores[arch].setdefault(int(seed), float("nan"))
    trained = {a: len(s) for a, s in scores.items()}
    if spec["reference"] not in scores:
        raise ValueError(
            f"{table.source}: run.json's sequential reference {spec['reference']!r} is not among "
            f"the run's architectures ({', '.join(archs)})"
        )
    return scores, trained


def _seed_order(table: InstanceTable, spec: Mapping[str, Any]) -> tuple[list[int] | None, str]:
    """The order seeds joined rounds: run.json's ``seed_order`` when stored, else the order in
    which the invocations first asked for each seed, else None (sorted seeds)."""
    if spec.get("seed_order"):
        return [int(s) for s in spec["seed_order"]], "run.json (sequential.seed_order)"
    asked = [
        int(seed) for inv in table.run.get("invocations", []) for _, seed in inv.get("expected", [])
    ]
    if asked:
        order = list(dict.fromkeys(asked))
        rest = sorted(set(table.data["seed"].astype(int)) - set(order))
        return order + rest, "the order the invocations in run.json asked for seeds"
    return None, "sorted seeds (run.json records no order)"


def _differences(stored: pd.DataFrame, looks: pd.DataFrame) -> tuple[str, ...]:
    out = []
    key = ["other", "look"]
    have = stored.set_index(key) if set(key) <= set(stored.columns) else None
    if have is None:
        return (f"{SEQUENTIAL_FILE} lacks the columns other and look",)
    new = looks.set_index(key) if len(looks) else looks
    for k in [k for k in have.index if k not in new.index]:
        out.append(f"{k[0]} look {k[1]} is in the file but not recomputed")
    for k in [k for k in new.index if k not in have.index]:
        out.append(f"{k[0]} look {k[1]} is recomputed but not in the file")
    for k in [k for k in new.index if k in have.index]:
        a, b = have.loc[k], new.loc[k]
        if "decision" in a and str(a["decision"]) != str(b["decision"]):
            out.append(
                f"{k[0]} look {k[1]}: decision {a['decision']} in the file, {b['decision']} "
                "recomputed"
            )
        for c in _COMPARED:
            if c in a and not np.isclose(
                float(a[c]), float(b[c]), rtol=1e-6, atol=1e-9, equal_nan=True
            ):
                out.append(
                    f"{k[0]} look {k[1]}: {c} {float(a[c]):.6g} in the file, {float(b[c]):.6g} recomputed"
                )
    return tuple(out[:10])


def _summary(state: FamilyState) -> pd.DataFrame:
    rows = []
    for p in state.paths:
        lk = p.last
        rows.append(
            dict(
                other=p.other, decision=p.decision, decided_at=p.decided_at,
                seeds=None if lk is None else lk.seeds,
                estimate=np.nan if lk is None else lk.estimate,
                low=np.nan if lk is None else lk.low, high=np.nan if lk is None else lk.high,
                p_repeated=np.nan if lk is None else lk.p_repeated,
                p_adjusted=np.nan if lk is None else lk.p_adjusted,
                verdict=p.verdict(),
            )
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)
    frame["decided_at"] = frame["decided_at"].astype("Int64")
    frame["seeds"] = frame["seeds"].astype("Int64")
    return frame


_SUMMARY_COLUMNS = [
    "other", "decision", "decided_at", "seeds", "estimate", "low", "high", "p_repeated",
    "p_adjusted", "verdict",
]  # fmt: skip


def _summary_from_looks(looks: pd.DataFrame, design: SequentialDesign | None) -> pd.DataFrame:
    rows = []
    for other, group in looks.groupby("other", sort=False):
        last = group.sort_values("look").iloc[-1]
        decided = group[group["decision"] != "undecided"]
        rows.append(
            dict(
                other=other, decision=last["decision"],
                decided_at=int(decided["look"].iloc[0]) if len(decided) else None,
                seeds=int(last["seeds"]), estimate=last["estimate"], low=last["low"],
                high=last["high"], p_repeated=last["p_repeated"], p_adjusted=last["p_adjusted"],
                verdict=f"{last['reference']} vs {other}: {last['decision']} at {int(last['seeds'])} "
                f"seeds, {last['estimate']:+.3f} [{last['low']:.3f}, {last['high']:.3f}], "
                f"p(seq) = {last['p_adjusted']:.2g} (as stored)",
            )
        )  # fmt: skip
    return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)


def _seeds_spent(
    trained: Mapping[str, int], scores: Mapping[str, Mapping[int, float]], design: SequentialDesign
) -> pd.DataFrame:
    rows = []
    for arch in sorted(trained, key=natural_key):
        n = trained[arch]
        scored = int(sum(np.isfinite(v) for v in scores[arch].values()))
        rows.append(
            dict(
                architecture=arch, trained=n, scored=scored, fixed_plan=design.max_seeds,
                saved=design.max_seeds - n, fraction=n / design.max_seeds,
            )
        )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["architecture", "trained", "scored", "fixed_plan", "saved", "fraction"]
    )


# ---------------------------------------------------------------------------------- text
def format_sequential(seq: SequentialAnalysis, digits: int = 3) -> list[str]:
    """The text section of ``analyze`` for a sequential run, one string per line."""
    d = seq.design
    if d is not None:
        how = (
            f"group-sequential {'paired' if d.paired else 'Welch'} t tests, {d.spending.upper()}"
            f"({d.parameter:g}) alpha spending, alpha {d.alpha:g} {d.correction.capitalize()} "
            f"over {len(seq.summary)}; looks at {', '.join(map(str, d.looks))} seeds"
        )
    else:
        how = "as stored by the sweep driver"
    out = [
        f"== sequential comparisons ({seq.reference} against each other architecture on "
        f"{seq.metric}; {how}; docs/sequential.md)",
        *(f"  {v}" for v in seq.verdicts()),
        "  p(seq): repeated p-values, Holm-adjusted; [low, high]: repeated confidence "
        "intervals. Both hold under optional stopping.",
        "  The seeds of this run were added until these tests decided (optional stopping): "
        "fixed-sample p-values and intervals computed on them do not hold their level, and the "
        "fixed-sample verdicts below are marked invalid.",
    ]
    if len(seq.seeds):
        total = int(seq.seeds["trained"].sum())
        plan = int(seq.seeds["fixed_plan"].sum())
        each = ", ".join(f"{r.architecture} {r.trained}" for r in seq.seeds.itertuples())
        out.append(
            f"  seeds trained against the fixed plan of {int(seq.seeds['fixed_plan'].iloc[0])} "
            f"per architecture: {each}; {total} of {plan} instances "
            f"({1 - total / plan:.0%} saved)"
        )
    if seq.matches_stored is True:
        out.append(
            f"  recomputed from the instances and run.json's design: matches {SEQUENTIAL_FILE}"
        )
    elif seq.matches_stored is False:
        out.append(
            f"  recomputed from the instances and run.json's design: DIFFERS from "
            f"{SEQUENTIAL_FILE} (the recomputed decisions are shown): " + "; ".join(seq.differences)
        )
    if seq.seed_order_source:
        order = list(seq.seed_order)
        shown = format_seeds(order) if order == sorted(order) else ", ".join(map(str, order[:12]))
        out.append(
            f"  seed order of the rounds: {seq.seed_order_source}"
            + (f" ({shown})" if order else "")
        )
    out += [f"  note: {n}" for n in seq.notes]
    if len(seq.looks):
        out += ["", *_looks_table(seq.looks, digits)]
    return out


def _looks_table(looks: pd.DataFrame, digits: int) -> list[str]:
    header = ["other", "look", "seeds", "pairs", "estimate", "repeated CI", "z", "boundary", "p rep", "p adj", "decision"]  # fmt: skip
    rows = []
    for r in looks.itertuples():
        ci = (
            f"[{r.low:.{digits}f}, {r.high:.{digits}f}]"
            if np.isfinite(r.low) and np.isfinite(r.high)
            else "unbounded"
        )
        rows.append([
            str(r.other), str(r.look), str(r.seeds), str(min(r.n_reference, r.n_other)),
            _signed(r.estimate, digits), ci, _signed(r.z, 2), _plain(r.boundary, 2),
            pvalue_cell(r.p_repeated), pvalue_cell(r.p_adjusted), str(r.decision),
        ])  # fmt: skip
    return text_table(header, rows, right=(1, 2, 3, 4, 6, 7, 8, 9))


def _signed(v: float, digits: int) -> str:
    return "" if not np.isfinite(v) else f"{v:+.{digits}f}"


def _plain(v: float, digits: int) -> str:
    return "inf" if np.isinf(v) else "" if np.isnan(v) else f"{v:.{digits}f}"
