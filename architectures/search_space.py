"""Architecture search spaces, declared next to the net family they search.

A :class:`SearchSpace` is a small declarative structure: an ordered tuple of :class:`Param` (name,
kind, range or choices, an optional condition on the values drawn before it) and a function that
turns the drawn values into a :class:`Candidate` (builder options for a registered base
architecture plus training-config overrides). ``python -m benchmark search --space NAME --show``
prints it; ``python -m benchmark search --space NAME`` searches it.

Sampling is define-by-run: :meth:`SearchSpace.sample` walks the parameters in order and asks the
trial only for those whose condition holds on the values drawn so far, so a conditional parameter
(pyramid convolutions without a pyramid, an insertion in block ``e3`` of a depth-2 net) never
appears in a trial where it means nothing. ``trial`` is anything with Optuna's ``suggest_int``,
``suggest_float`` and ``suggest_categorical`` (an ``optuna.trial.Trial``, or an
``optuna.trial.FixedTrial`` that replays stored values); this module never imports Optuna, so the
architectures package works where Optuna is not installed.

A family declares its space in its own module and registers it::

    SEARCH_SPACE = register_space(SearchSpace(name="2d3d", base="2d3d_3x3x3", params=..., ...))
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Candidate",
    "Param",
    "SearchSpace",
    "UnknownSearchSpaceError",
    "get_space",
    "list_spaces",
    "register_space",
]

ParamKind = Literal["int", "float", "categorical", "bool"]


@dataclass(frozen=True)
class Param:
    """One dimension of a search space.

    Attributes:
        name: the trial parameter's name (unique in the space).
        kind: ``int`` / ``float`` (``low``..``high``, optionally ``log`` or ``step``),
            ``categorical`` (``choices``) or ``bool`` (False / True).
        low, high, log, step: range of numeric parameters (both ends included).
        choices: values of a categorical parameter (None, bool, int, float or str).
        when: condition on the values drawn before this one; None means always drawn.
        when_text: the condition in words, for ``--show``.
        reference: the value of the family's reference architecture (the paper's net), or None
            when it comes from the training profile (``lr``, ``c_2d``).
        help: one line.
    """

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: Callable[[Mapping[str, Any]], bool] | None = None
    when_text: str = ""
    reference: Any = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind in ("int", "float"):
            if self.low is None or self.high is None or self.low > self.high:
                raise ValueError(
                    f"search parameter {self.name!r}: needs low <= high, got {self.low}, {self.high}"
                )
        elif self.kind == "categorical":
            if not self.choices:
                raise ValueError(
                    f"search parameter {self.name!r}: a categorical parameter needs choices"
                )
        elif self.kind != "bool":
            raise ValueError(f"search parameter {self.name!r}: unknown kind {self.kind!r}")

    def active(self, drawn: Mapping[str, Any]) -> bool:
        """Whether this parameter is drawn, given the values drawn before it."""
        return self.when is None or bool(self.when(drawn))

    def suggest(self, trial: Any) -> Any:
        """Draws this parameter from ``trial`` (Optuna's suggest API)."""
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        if self.kind == "float":
            return trial.suggest_float(
                self.name, float(self.low), float(self.high), log=self.log, step=self.step
            )
        if self.kind == "bool":
            return trial.suggest_categorical(self.name, [False, True])
        return trial.suggest_categorical(self.name, list(self.choices))

    def domain_text(self) -> str:
        """The domain in words: ``2..4``, ``1e-4..1e-2 (log)``, ``{32, 48, 64}``, ``no/yes``."""
        if self.kind == "bool":
            return "no / yes"
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        low, high = (f"{v:g}" for v in (self.low, self.high))
        extra = " (log)" if self.log else (f" step {self.step:g}" if self.step else "")
        return f"{low}..{high}{extra}"


@dataclass(frozen=True)
class Candidate:
    """One point of a search space, ready to train.

    Attributes:
        base: registered architecture the options apply to.
        options: builder options (the family's arguments) on top of the base's defaults.
        train: training-config overrides (``lr``, ``c_2d``, ...).
        params: the drawn parameter values (the trial's ``params``).
    """

    base: str
    options: dict[str, Any]
    train: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSpace:
    """A named, ordered set of conditional parameters and their mapping to a :class:`Candidate`.

    Attributes:
        name: registry name (``--space NAME``).
        base: registered architecture whose builder the candidates' options go to.
        params: the dimensions, in drawing order (a condition may only read earlier ones).
        to_candidate: ``(drawn values) -> (builder options, training overrides)``.
        description: one line.
        train_fields: training-config fields the space sets (checked against ``TrainConfig``).
    """

    name: str
    base: str
    params: tuple[Param, ...]
    to_candidate: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
    description: str = ""
    train_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"search space {self.name!r}: duplicated parameters {duplicated}")

    def sample(self, trial: Any) -> Candidate:
        """Draws a candidate from ``trial`` (define-by-run: conditions see earlier values)."""
        drawn: dict[str, Any] = {}
        for param in self.params:
            if param.active(drawn):
                drawn[param.name] = param.suggest(trial)
        options, train = self.to_candidate(dict(drawn))
        return Candidate(self.base, options, train, drawn)

    def reference_params(self, train_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameter values of the family's reference net (the paper's); parameters whose
        reference is None take ``train_values[name]`` (the training profile's ``lr``, ...)."""
        drawn: dict[str, Any] = {}
        for param in self.params:
            if not param.active(drawn):
                continue
            value = param.reference
            if value is None:
                if train_values is None or param.name not in train_values:
                    raise ValueError(
                        f"search space {self.name!r}: no reference value for {param.name!r}"
                    )
                value = train_values[param.name]
            drawn[param.name] = value
        return drawn

    def candidate_from_params(self, params: Mapping[str, Any]) -> Candidate:
        """Replays stored parameter values (raises KeyError when a drawn parameter is missing)."""
        return self.sample(_ReplayTrial(params))

    def describe(self) -> str:
        """A table of the parameters (name, domain, condition, reference value, help)."""
        rows = [("parameter", "domain", "when", "paper", "meaning")]
        reference_values = self.reference_params({p.name: _FROM_PROFILE for p in self.params})
        for p in self.params:
            value = reference_values.get(p.name, _INACTIVE)
            reference = (
                value
                if isinstance(value, str) and value in (_FROM_PROFILE, _INACTIVE)
                else _fmt(value)
            )
            rows.append((p.name, p.domain_text(), p.when_text or "always", reference, p.help))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            f"search space {self.name!r}: {self.description}",
            f"candidates are builder options of {self.base!r}",
        ]
        if self.train_fields:
            lines[-1] += f" plus training options {', '.join(self.train_fields)}"
        lines.append("")
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


_FROM_PROFILE = "profile"  # reference value taken from the training profile (lr, c_2d)
_INACTIVE = "-"  # not drawn for the reference net


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


class _ReplayTrial:
    """Minimal stand-in for ``optuna.trial.FixedTrial`` (no Optuna import needed)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = dict(params)

    def _get(self, name: str) -> Any:
        if name not in self._params:
            raise KeyError(f"stored parameters lack {name!r}")
        return self._params[name]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return int(self._get(name))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self._get(name))

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self._get(name)


class UnknownSearchSpaceError(KeyError):
    """A search space name that is not registered; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


_SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace, *, replace: bool = False) -> SearchSpace:
    """Registers ``space`` under ``space.name`` and returns it (use at module level)."""
    if space.name in _SPACES and not replace:
        raise ValueError(f"search space {space.name!r} is already registered")
    _SPACES[space.name] = space
    return space


def _load_families() -> None:
    from architectures.registry import ensure_loaded

    ensure_loaded()


def get_space(name: str) -> SearchSpace:
    """The registered search space ``name`` (the built-in families and plug-ins are loaded first)."""
    _load_families()
    try:
        return _SPACES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_SPACES), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownSearchSpaceError(
            f"unknown search space {name!r}{hint} (registered: {', '.join(sorted(_SPACES)) or 'none'})"
        ) from None


def list_spaces() -> list[str]:
    """Names of the registered search spaces, sorted."""
    _load_families()
    return sorted(_SPACES)
