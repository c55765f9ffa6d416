"""What training one instance produces: evaluation points, the instance's result and its row, and
the paper's early-stop rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.metrics import SegmentationScores
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
    """Stop an instance whose best eval MIoU(all) is below ``min_miou`` after ``after_epochs``."""

    min_miou: float = 0.3
    after_epochs: float = 10.0

    def __call__(self, epoch: float, best_miou: float) -> bool:
        return epoch >= self.after_epochs and not best_miou >= self.min_miou

    @classmethod
    def from_config(cls, config: TrainConfig) -> EarlyStopRule:
        return cls(config.early_stop_miou, config.early_stop_epochs)


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
        """One row of ``instances.parquet``."""
        row: dict[str, Any] = dict(
            architecture=self.architecture,
            seed=self.seed,
            status=self.status,
            best_step=self.best.best_step,
            steps=self.steps,
            params=self.params,
            wall_time_s=self.wall_time_s,
            checkpoint_best=self.checkpoint_best,
            checkpoint_final=self.checkpoint_final,
        )
        row.update(self.best.best_eval.as_dict("eval_", class_names))
        row.update(
            {
                f"final_{k}": v
                for k, v in self.final.eval.as_dict("eval_", class_names).items()
                if "miou" in k
            }
        )
        if self.test is not None:
            row.update(self.test.as_dict("test_", class_names))
        return row


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
