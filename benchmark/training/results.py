"""What training one instance produces: evaluation points, the instance's result and its row, and
the paper's early-stop rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.metrics import SegmentationScores
from benchmark.records.rows import instance_row
from benchmark.training.config import TrainConfig

__all__ = [
    "EarlyStopRule",
    "EvalPoint",
    "InstanceResult",
    "TrainingDiverged",
    "point_from_dict",
    "point_to_dict",
]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class EarlyStopRule:
    """Stop an instance whose eval MIoU(all) is below ``min_miou`` at an evaluation after
    ``after_epochs``: the current evaluation's (``on="current"``, the original ``stop_check.py``)
    or the best so far (``on="best"``)."""

    min_miou: float = 0.3
    after_epochs: float = 11.0
    on: str = "current"

    def __call__(self, epoch: float, best_miou: float, current_miou: float | None = None) -> bool:
        miou = current_miou if self.on == "current" and current_miou is not None else best_miou
        return epoch >= self.after_epochs and not miou >= self.min_miou

    @classmethod
    def from_config(cls, config: TrainConfig) -> EarlyStopRule:
        return cls(config.early_stop_miou, config.early_stop_epochs, config.early_stop_on)


@dataclass(frozen=True)
class EvalPoint:
    """Metrics at one evaluation point. ``test`` is set on the last point only (best checkpoint)."""

    step: int
    epoch: float
    train_loss: float
    lr: float
    eval: SegmentationScores
    elapsed_s: float
    best_step: int
    best_eval: SegmentationScores
    done: bool = False
    status: str = "running"
    test: SegmentationScores | None = None
    params: int = 0
    resumed_from: int = 0
    # Hash of the configuration identity (benchmark.records.identity) the instance trains under.
    identity: str = ""

    def metrics(self, class_names: tuple[str, ...]) -> dict[str, Any]:
        """Flat dict for loggers and Ray Tune: ``eval_miou_all``, ``eval_iou_<class>``, ..."""
        out: dict[str, Any] = dict(
            step=self.step,
            epoch=self.epoch,
            train_loss=self.train_loss,
            lr=self.lr,
            elapsed_s=self.elapsed_s,
            best_step=self.best_step,
            done=self.done,
            status=self.status,
            params=self.params,
            resumed_from=self.resumed_from,
            identity=self.identity,
        )
        out.update(self.eval.as_dict("eval_", class_names))
        out.update(self.best_eval.as_dict("best_eval_", class_names))
        if self.test is not None:
            out.update(self.test.as_dict("test_", class_names))
        return out


@dataclass
class InstanceResult:
    """Outcome of one instance: best and final evaluation, test score of the best checkpoint."""

    architecture: str
    seed: int
    status: str
    steps: int
    best: EvalPoint
    final: EvalPoint
    test: SegmentationScores | None
    params: int
    wall_time_s: float
    checkpoint_best: str | None
    checkpoint_final: str | None
    curve: list[EvalPoint] = field(default_factory=list)

    def row(self, class_names: tuple[str, ...]) -> dict[str, Any]:
        """One row of ``instances.parquet`` (see ``benchmark.records.rows``)."""
        return instance_row(
            self.architecture,
            self.seed,
            self.final.metrics(class_names),
            status=self.status,
            checkpoint_best=self.checkpoint_best,
            checkpoint_final=self.checkpoint_final,
        )


def scores_to_dict(s: SegmentationScores | None) -> dict | None:
    return None if s is None else asdict(s)


def scores_from_dict(d: dict | None) -> SegmentationScores | None:
    return None if d is None else SegmentationScores(d["miou_all"], d["miou_org"], tuple(d["iou"]))


def point_to_dict(p: EvalPoint) -> dict:
    d = dict(p.__dict__)
    for key in ("eval", "best_eval", "test"):
        d[key] = scores_to_dict(d[key])
    return d


def point_from_dict(d: dict) -> EvalPoint:
    d = dict(d)
    for key in ("eval", "best_eval", "test"):
        d[key] = scores_from_dict(d[key])
    return EvalPoint(**d)
