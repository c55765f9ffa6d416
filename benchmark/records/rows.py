"""The rows of ``instances.parquet`` and ``curves.parquet``, built in one place.

Both are made from the flat metrics of an evaluation point (``EvalPoint.metrics``: ``step``,
``eval_miou_all``, ``best_eval_miou_all``, ``test_miou_org``, ``eval_iou_<class>``, ...), which is
what a Ray Tune trial reports and what ``train_instance`` returns, so a run and a single ``train``
write the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CURVE_COLUMNS", "curve_row", "instance_row"]

#: The columns of a curve row besides ``eval_iou_<class>``.
CURVE_COLUMNS = (
    "step",
    "epoch",
    "train_loss",
    "lr",
    "elapsed_s",
    "eval_miou_all",
    "eval_miou_org",
)


def instance_row(
    architecture: str,
    seed: int,
    metrics: Mapping[str, Any],
    status: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One row of ``instances.parquet`` from the metrics of the instance's latest evaluation point.

    The scores are those of the best checkpoint (``eval_*``, ``test_*``); ``final_eval_*`` are the
    latest point's; ``identity`` is the hash of the configuration the instance was trained under.
    """
    row: dict[str, Any] = {
        "architecture": architecture,
        "seed": int(seed),
        "status": status or metrics.get("status", "running"),
        "identity": metrics.get("identity"),
        "error": None,
    }
    for key, value in metrics.items():
        if key.startswith("best_eval_"):
            row[key[len("best_") :]] = value
        elif key.startswith("test_"):
            row[key] = value
    row["final_eval_miou_all"] = metrics.get("eval_miou_all")
    row["final_eval_miou_org"] = metrics.get("eval_miou_org")
    row["best_step"] = metrics.get("best_step")
    row["steps"] = metrics.get("step")
    row["epochs"] = metrics.get("epoch")
    row["params"] = metrics.get("params")
    row["wall_time_s"] = metrics.get("elapsed_s")
    row["resumed_from_step"] = metrics.get("resumed_from", 0)
    row.update(extra)
    return row


def curve_row(architecture: str, seed: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One row of ``curves.parquet``: an evaluation point of one instance."""
    row: dict[str, Any] = {"architecture": architecture, "seed": int(seed)}
    row["identity"] = metrics.get("identity")
    for name in CURVE_COLUMNS:
        row[name] = metrics.get(name)
    row.update({k: v for k, v in metrics.items() if k.startswith("eval_iou_")})
    return row
