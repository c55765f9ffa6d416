"""The search driver: asks Optuna for candidates, schedules their seeds, races them, and keeps the
tables and the event log."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.racing import RaceResult, race
from benchmark.data.spec import DataSpec
from benchmark.records import FINAL_STATUSES, SCORED_STATUSES, write_table
from benchmark.search.settings import (
    SCORE,
    SearchSettings,
    lower_confidence_bound,
    objective_value,
)
from benchmark.search.store import jsonable
from benchmark.training.config import TrainConfig

__all__ = ["Candidate", "SearchDriver"]


@dataclass
class Candidate:
    """The driver's view of one candidate (one Optuna trial)."""

    number: int
    state: str  # running, complete, pruned, failed
    trial: Any = None  # optuna.trial.Trial while running
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    target: list[int] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    running: dict[int, Any] = field(default_factory=dict)
    arch_params: int | None = None
    values: list[float] | None = None
    race: RaceResult | None = None
    race_vs: int | None = None
    reason: str = ""

    def scores(self) -> dict[int, float]:
        return {
            s: float(r[SCORE])
            for s, r in self.results.items()
            if r.get("status") in SCORED_STATUSES
            and r.get(SCORE) is not None
            and np.isfinite(r[SCORE])
        }

    def pending(self) -> list[int]:
        return [s for s in self.target if s not in self.results and s not in self.running]

    def step_ms(self) -> float:
        values = [
            float(r["step_ms"])
            for r in self.results.values()
            if r.get("status") in SCORED_STATUSES
            and r.get("step_ms") is not None
            and np.isfinite(r["step_ms"])
        ]
        return float(np.median(values)) if values else float("nan")


class SearchDriver:
    """One invocation of a search: study, executor, candidate states, tables."""

    def __init__(
        self,
        settings: SearchSettings,
        search_dir: Path,
        study: Any,
        space: Any,
        base_config: TrainConfig,
        data: DataSpec,
        n_classes: int,
        executor: Any,
        max_concurrent: int,
        gpus_per_job: float | None,
        print_fn: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.dir = search_dir
        self.study = study
        self.space = space
        self.base_config = base_config
        self.data = data
        self.n_classes = n_classes
        self.executor = executor
        self.max_concurrent = max_concurrent
        self.gpus_per_job = gpus_per_job
        self.print = print_fn
        self.cands: dict[int, Candidate] = {}
        self.in_flight: dict[Any, tuple[int, int]] = {}
        self.cancelled: set[Any] = set()
        self.started = time.monotonic()
        self.trained = 0
        self.rows_extra: list[dict[str, Any]] = []  # cancelled seeds, for the record

    # ----------------------------------------------------------------------------- helpers
    def log(self, text: str) -> None:
        self.print(f"[{time.monotonic() - self.started:7.1f} s] {text}")

    def event(self, kind: str, **extra: Any) -> None:
        record = dict(
            time=dt.datetime.now().isoformat(timespec="seconds"), event=kind, **jsonable(extra)
        )
        with open(self.dir / "events.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def objective(self, c: Candidate) -> float:
        return objective_value(
            list(c.scores().values()), self.settings.objectives[0], self.settings.lcb_level
        )

    def incumbent(self, exclude: Candidate | None = None) -> Candidate | None:
        best, best_value = None, -math.inf
        for c in self.cands.values():
            if c.state != "complete" or c is exclude:
                continue
            value = self.objective(c)
            if np.isfinite(value) and value > best_value:
                best, best_value = c, value
        return best

    def asked(self) -> int:
        from optuna.trial import TrialState

        return len(
            [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
        )

    # ------------------------------------------------------------------------------ resume
    def reattach(self, rows: pd.DataFrame) -> None:
        """Rebuilds the candidates from the study and the seeds table (see the module docstring)."""
        import optuna
        from optuna.trial import TrialState

        by_number: dict[int, dict[int, dict[str, Any]]] = {}
        for row in rows.to_dict("records"):
            if row.get("status") in FINAL_STATUSES:
                by_number.setdefault(int(row["number"]), {})[int(row["seed"])] = row
        for ft in self.study.get_trials(deepcopy=False):
            if ft.state == TrialState.WAITING:
                continue
            c = Candidate(
                number=ft.number,
                state="running",
                params=dict(ft.params),
                results=by_number.get(ft.number, {}),
            )
            c.options = json.loads(ft.user_attrs.get("options", "{}"))
            c.train = json.loads(ft.user_attrs.get("train", "{}"))
            c.arch_params = ft.user_attrs.get("arch_params")
            c.target = list(
                ft.user_attrs.get("seeds_target", range(self.settings.seeds_per_candidate))
            )
            c.reason = ft.user_attrs.get("reason", "")
            if ft.state == TrialState.COMPLETE:
                c.state, c.values = "complete", list(ft.values)
            elif ft.state == TrialState.PRUNED:
                c.state = "pruned"
            elif ft.state == TrialState.FAIL:
                c.state = "failed"
            else:  # RUNNING: the previous driver died or was interrupted
                c.trial = optuna.trial.Trial(self.study, ft._trial_id)
                self.cands[c.number] = c
                try:
                    prepared = self._prepare(c, self.space.candidate_from_params(ft.params))
                except KeyError as exc:
                    self._fail(c, f"interrupted before its parameters were drawn ({exc})")
                    continue
                if not prepared:
                    continue
                done = len([s for s in c.target if s in c.results])
                self.log(
                    f"candidate {c.number}: re-attached with {done}/{len(c.target)} seed(s) done"
                )
                self.event("reattach", number=c.number, seeds_done=sorted(c.results))
            self.cands[c.number] = c
        for c in list(self.cands.values()):
            self.evaluate(c)

    # -------------------------------------------------------------------------------- asking
    def _prepare(self, c: Candidate, candidate: Any) -> bool:
        """Fills options / train / parameter count; False (and FAIL) when the net cannot be built."""
        from architectures import summarize

        c.options = jsonable(dict(candidate.options, **self.settings.arch_overrides))
        c.train = jsonable(dict(candidate.train))
        c.params = dict(candidate.params)
        config = self.config_for(c)
        window = config.window
        try:
            c.arch_params = int(
                summarize(
                    self.space.base,
                    window,
                    width=config.width,
                    n_classes=self.n_classes,
                    **c.options,
                ).params
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            self._fail(c, f"cannot build for window {window}: {exc}")
            return False
        for key, value in (
            ("options", json.dumps(c.options)),
            ("train", json.dumps(c.train)),
            ("arch_params", c.arch_params),
            ("seeds_target", c.target),
        ):
            c.trial.set_user_attr(key, value)
        return True

    def ask(self) -> Candidate:
        trial = self.study.ask()
        c = Candidate(
            number=trial.number,
            state="running",
            trial=trial,
            target=list(range(self.settings.seeds_per_candidate)),
        )
        self.cands[c.number] = c
        try:
            candidate = self.space.sample(trial)
        except Exception as exc:
            self._fail(c, f"sampling failed: {type(exc).__name__}: {exc}")
            return c
        if self._prepare(c, candidate):
            desc = ", ".join(f"{k}={v}" for k, v in {**c.options, **c.train}.items())
            self.log(f"candidate {c.number}: {desc} ({c.arch_params:,} parameters)")
            self.event(
                "ask",
                number=c.number,
                params=c.params,
                options=c.options,
                train=c.train,
                arch_params=c.arch_params,
            )
        return c

    def config_for(self, c: Candidate) -> TrainConfig:
        return self.base_config.replace(**c.train)

    # ------------------------------------------------------------------------------ running
    def next_job(self) -> tuple[Candidate, int] | None:
        inc = self.incumbent()
        order = sorted(
            (c for c in self.cands.values() if c.state in ("running", "complete")),
            key=lambda c: (c is not inc, c.number),
        )
        for c in order:
            pending = c.pending()
            if pending:
                return c, pending[0]
        return None

    def submit(self, c: Candidate, seed: int) -> None:
        job = dict(
            number=c.number,
            seed=seed,
            arch=self.space.base,
            options=c.options,
            train=self.config_for(c).to_dict(),
            data=self.data.to_dict(),
            plugins=list(self.settings.plugins),
            checkpoint_dir=str(self.dir / "instances" / f"c{c.number:04d}-s{seed}"),
            measure_step=True,
        )
        resources: dict[str, float] = {}
        if self.gpus_per_job:
            resources["gpu"] = self.gpus_per_job
        handle = self.executor.submit(job, resources)
        c.running[seed] = handle
        self.in_flight[handle] = (c.number, seed)
        self.event("start", number=c.number, seed=seed)

    def fill(self) -> None:
        while len(self.in_flight) < self.max_concurrent:
            job = self.next_job()
            if job is None:
                if self.asked() >= self.settings.trials:
                    return
                self.ask()
                continue
            self.submit(*job)

    def handle(self, handle: Any, row: dict[str, Any] | None, error: BaseException | None) -> None:
        number, seed = self.in_flight.pop(handle)
        c = self.cands[number]
        c.running.pop(seed, None)
        was_cancelled = handle in self.cancelled
        self.cancelled.discard(handle)
        if was_cancelled and row is None:
            self.rows_extra.append(dict(number=number, seed=seed, status="cancelled", error=None))
            self.event("cancelled", number=number, seed=seed)
            self.write_tables()
            return
        if row is None:
            row = dict(
                number=number,
                seed=seed,
                status="failed",
                error=f"{type(error).__name__}: {error}"[:500],
            )
        c.results[seed] = row
        self.trained += 1
        self.event(
            "end",
            number=number,
            seed=seed,
            status=row.get("status"),
            score=row.get(SCORE),
            error=row.get("error"),
        )
        if row.get("status") in SCORED_STATUSES:
            self.log(
                f"candidate {number} seed {seed}: eval MIoU(all) {row[SCORE]:.4f} ({row['status']}, {row.get('wall_time_s', float('nan')):.1f} s, step {row.get('step_ms', float('nan')):.1f} ms)"
            )
        else:
            self.log(f"candidate {number} seed {seed}: {row.get('status')}: {row.get('error')}")
        for other in sorted(self.cands.values(), key=lambda k: k.number):
            self.evaluate(other)
        self.write_tables()

    # ----------------------------------------------------------------------------- deciding
    def evaluate(self, c: Candidate) -> None:
        """Stops, extends or completes a running candidate (see "Racing" in the module docstring)."""
        if c.state != "running" or c.trial is None:
            return
        failed = [r for s, r in c.results.items() if r.get("status") == "failed"]
        if failed:
            self._fail(c, f"seed {failed[0]['seed']} failed: {failed[0].get('error')}")
            return
        scores = c.scores()
        inc = self.incumbent(exclude=c) if self.settings.racing else None
        result = None
        if inc is not None:
            result = race(
                scores,
                inc.scores(),
                self.settings.race_alpha,
                self.settings.race_min_seeds,
                self.settings.seed_cap,
            )
            c.race, c.race_vs = result, inc.number
            if result.verdict == "worse":
                self._prune(c, inc, result)
                return
        if any(s not in c.results for s in c.target):
            return
        if (
            inc is not None
            and result is not None
            and result.verdict in ("undecided", "too_few")
            and len(c.target) < self.settings.seed_cap
        ):
            missing = [s for s in c.target if s not in inc.results]
            if missing:  # the incumbent first runs the seeds the candidate has (pairing)
                inc.target += [s for s in missing if s not in inc.target]
                return
            extra = next(s for s in range(10**6) if s not in c.target)
            c.target.append(extra)
            c.trial.set_user_attr("seeds_target", c.target)
            if extra not in inc.target:
                inc.target.append(extra)
            self.log(
                f"candidate {c.number}: undecided against incumbent {inc.number} "
                f"({result.describe()}): adding seed {extra}"
            )
            self.event(
                "extend",
                number=c.number,
                seed=extra,
                incumbent=inc.number,
                p_sequential=result.p_sequential,
                mean_difference=result.mean_difference,
            )
            return
        self._complete(c)

    def _values(self, c: Candidate) -> list[float]:
        values = [self.objective(c)]
        if self.settings.multi:
            values.append(
                float(c.arch_params) if self.settings.objectives[1] == "params" else c.step_ms()
            )
        return values

    def _complete(self, c: Candidate) -> None:
        values = self._values(c)
        if not all(np.isfinite(values)):
            self._fail(c, f"objective undefined ({values}) from {len(c.scores())} scored seed(s)")
            return
        scores = list(c.scores().values())
        for key, value in (
            ("seeds", sorted(c.scores())),
            ("mean", float(np.mean(scores))),
            ("sd", float(np.std(scores, ddof=1)) if len(scores) > 1 else None),
            ("step_ms", c.step_ms()),
        ):
            c.trial.set_user_attr(key, value)
        self.study.tell(c.trial, values if self.settings.multi else values[0])
        c.state, c.values, c.trial = "complete", values, None
        inc = self.incumbent()
        tag = " (new incumbent)" if inc is c else ""
        self.log(
            f"candidate {c.number} complete: objective {self._fmt_values(values)} over {len(scores)} seed(s){tag}"
        )
        self.event("complete", number=c.number, values=values, seeds=sorted(c.scores()))

    def _prune(self, c: Candidate, inc: Candidate, result: RaceResult) -> None:
        self._cancel(c)
        scores = list(c.scores().values())
        c.trial.report(float(np.mean(scores)), step=len(scores))
        c.trial.set_user_attr(
            "race",
            dict(
                vs=inc.number,
                n_shared=result.n_shared,
                mean_difference=result.mean_difference,
                p_sequential=result.p_sequential,
            ),
        )
        c.reason = (
            f"raced out by candidate {inc.number}: worse by the sequential test "
            f"(alpha {self.settings.race_alpha}): {result.describe()}"
        )
        c.trial.set_user_attr("reason", c.reason)
        self.study.tell(c.trial, state=_state("PRUNED"))
        c.state, c.trial = "pruned", None
        self.log(f"candidate {c.number} stopped: {c.reason}")
        self.event(
            "prune",
            number=c.number,
            incumbent=inc.number,
            p_sequential=result.p_sequential,
            n_shared=result.n_shared,
        )

    def _fail(self, c: Candidate, reason: str) -> None:
        self._cancel(c)
        c.reason = reason
        if c.trial is not None:
            c.trial.set_user_attr("reason", reason)
            self.study.tell(c.trial, state=_state("FAIL"))
        c.state, c.trial = "failed", None
        self.log(f"candidate {c.number} failed: {reason}")
        self.event("fail", number=c.number, reason=reason)

    def _cancel(self, c: Candidate) -> None:
        for seed, handle in list(c.running.items()):
            self.cancelled.add(handle)
            if self.executor.cancel(handle):  # gone at once: no end will be reported
                self.cancelled.discard(handle)
                self.in_flight.pop(handle, None)
                c.running.pop(seed)
                self.rows_extra.append(
                    dict(number=c.number, seed=seed, status="cancelled", error=None)
                )
                self.event("cancelled", number=c.number, seed=seed)

    def _fmt_values(self, values: Sequence[float]) -> str:
        parts = []
        for name, v in zip(self.settings.objectives, values):
            parts.append(
                f"{name} {v:,.0f}"
                if name == "params"
                else f"{name} {v:.1f} ms"
                if name == "step_time"
                else f"{name} {v:.4f}"
            )
        return ", ".join(parts)

    # ------------------------------------------------------------------------------- loop
    def run(self) -> bool:
        """Runs until the study holds ``trials`` finished candidates; False when interrupted."""
        try:
            while True:
                self.fill()
                if not self.in_flight:
                    return True
                for handle, row, error in self.executor.wait(list(self.in_flight)):
                    self.handle(handle, row, error)
        except KeyboardInterrupt:
            self.log("interrupted: finished seeds are kept; continue with --resume")
            for handle in list(self.in_flight):
                self.executor.cancel(handle)
            self.event("interrupted")
            return False

    # ------------------------------------------------------------------------------ tables
    def seeds_frame(self) -> pd.DataFrame:
        rows = [dict(r) for c in self.cands.values() for r in c.results.values()]
        done = {(int(r["number"]), int(r["seed"])) for r in rows}
        rows += [r for r in self.rows_extra if (r["number"], r["seed"]) not in done]
        if not rows:
            return pd.DataFrame(columns=["number", "seed", "status"])
        frame = pd.DataFrame(rows)
        front = [
            c
            for c in (
                "number",
                "seed",
                "status",
                SCORE,
                "eval_miou_org",
                "test_miou_all",
                "test_miou_org",
                "steps",
                "params",
                "wall_time_s",
                "step_ms",
                "error",
            )
            if c in frame
        ]
        frame = frame[front + [c for c in frame.columns if c not in front]]
        return (
            frame.drop_duplicates(["number", "seed"], keep="first")
            .sort_values(["number", "seed"], kind="stable")
            .reset_index(drop=True)
        )

    def candidates_frame(self) -> pd.DataFrame:
        inc = self.incumbent() if not self.settings.multi else None
        pareto = self.pareto_numbers() if self.settings.multi else []
        rows = []
        for c in sorted(self.cands.values(), key=lambda k: k.number):
            scores = list(c.scores().values())
            row: dict[str, Any] = dict(
                number=c.number,
                state=c.state,
                objective=self.objective(c),
                mean=float(np.mean(scores)) if scores else float("nan"),
                sd=float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                lcb=lower_confidence_bound(scores, self.settings.lcb_level),
                n_seeds=len(scores),
                seeds=",".join(str(s) for s in sorted(c.scores())),
                arch_params=c.arch_params,
                step_ms=c.step_ms(),
                incumbent=c is inc,
                pareto=c.number in pareto,
                race_vs=c.race_vs,
                race_verdict=c.race.verdict if c.race else None,
                race_p=c.race.p_sequential if c.race else float("nan"),
                reason=c.reason,
                options=json.dumps(c.options),
                train=json.dumps(c.train),
            )
            row.update({f"p_{k}": v for k, v in c.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def pareto_numbers(self) -> list[int]:
        try:
            return sorted(t.number for t in self.study.best_trials)
        except (ValueError, RuntimeError):
            return []

    def write_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        seeds, cands = self.seeds_frame(), self.candidates_frame()
        write_table(seeds, self.dir / "seeds.parquet")
        if not cands.empty:
            write_table(cands, self.dir / "candidates.parquet")
        return seeds, cands


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return getattr(TrialState, name)
