"""Spend seeds only until the answer is known: group-sequential comparisons with a reference.

Seeds are trained in rounds (the first look after ``min_seeds``, then every ``round_size`` seeds,
up to ``max_seeds``). After each round the reference is compared with every other architecture by a
group-sequential t test whose type-I error is controlled under optional stopping:

- **Boundaries** come from a Lan-DeMets alpha-spending function (Hwang-Shih-DeCani by default)
  over the information fractions ``n_k / max_seeds``, computed by the recursive numerical
  integration of Armitage, McPherson and Rowe (Jennison & Turnbull 2000, ch. 19). Looks with fewer
  pairs than planned (failed seeds) simply get their own fraction.
- **Unknown variance**: each look's t statistic (paired t, or Welch) is mapped to the z scale
  through its p-value, and the z boundary back to a t critical value with that look's degrees of
  freedom (the "significance level" approach of Jennison & Turnbull 2000 for unknown variance).
- **Repeated confidence intervals** (Jennison & Turnbull 2000, ch. 9) hold simultaneously over all
  looks; a comparison is *futile* when its interval lies inside ``(-min_effect, min_effect)``.
- **Repeated p-values** (the smallest alpha at which the design would have rejected by that look)
  are valid under any stopping rule and never increase. Several comparisons share alpha by Holm's
  step-down on them, i.e. the closed procedure with weighted Bonferroni group-sequential tests of
  Maurer & Bretz (2013); intervals and futility use the Bonferroni level ``alpha / m``.

Decisions are final once reached, and every result is a pure function of the observed scores, so a
killed and resumed run recomputes exactly the same decisions. Differences are always
``reference - other``; "better" means a higher score. docs/sequential.md has the calibration.

Modules: :mod:`~analysis.sequential.boundaries` (spending functions, recursive integration),
:mod:`~analysis.sequential.design` (:class:`SequentialDesign`, decisions),
:mod:`~analysis.sequential.look_statistics` (one look's t, z and interval),
:mod:`~analysis.sequential.procedure` (the looks and decisions on observed scores) and
:mod:`~analysis.sequential.simulation` (simulation, calibration, seed plans). Their public names
are importable from this package.
"""

from __future__ import annotations

from analysis.sequential.boundaries import (
    SPENDING_FAMILIES,
    crossing_probabilities,
    spending,
    spending_boundaries,
    wang_tsiatis_boundaries,
)
from analysis.sequential.design import DECISIONS, SequentialDesign
from analysis.sequential.procedure import (
    ComparisonPath,
    FamilyState,
    Look,
    sequential_family,
    sequential_path,
)
from analysis.sequential.simulation import (
    SeedPlan,
    Simulation,
    calibrate,
    fixed_power,
    plan_seeds,
    simulate,
)

__all__ = [
    "DECISIONS",
    "SPENDING_FAMILIES",
    "ComparisonPath",
    "FamilyState",
    "Look",
    "SeedPlan",
    "SequentialDesign",
    "Simulation",
    "calibrate",
    "crossing_probabilities",
    "fixed_power",
    "plan_seeds",
    "sequential_family",
    "sequential_path",
    "simulate",
    "spending",
    "spending_boundaries",
    "wang_tsiatis_boundaries",
]
