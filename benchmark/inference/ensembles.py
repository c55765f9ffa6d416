"""Ensembles of a run's instances: top-k by eval MIoU(all), and random-k as the honest baseline.

A top-k ensemble averages the 3D class probabilities of the k instances with the best eval
MIoU(all) (the paper's Table 1a); the segmentation is the voxelwise argmax. Because the k
members are picked on the eval volume, the eval score of a top-k ensemble is optimistic; random-k
ensembles (k members drawn at random, repeated ``draws`` times) show what ensembling buys without
the selection, and the test volume shows what survives a new sample.

Each instance's probabilities come from ``probabilities.npz`` next to its best checkpoint (saved
at the end of training, float16) or, when missing, from sliding-window inference with the
best checkpoint. Results go to ``RUN_DIR/ensembles.parquet`` (one row per architecture, selection
and k) and ``RUN_DIR/ensembles/predictions.npz`` (image, labels and each architecture's best
ensemble segmentation on eval and test, for the report's slice viewer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.derived import instances_fingerprint, record_derived
from analysis.files import atomic_output, atomic_write_parquet
from analysis.metrics import confusion_matrix, score_confusion
from benchmark.data.spec import DataSpec, load_data
from benchmark.data.volumes import Dataset
from benchmark.inference.postprocess import remove_small_components

__all__ = ["EnsembleRun", "ensemble_scores", "instance_probabilities", "run_ensembles"]

USABLE = ("finished", "early_stopped")


def instance_probabilities(
    row: dict, dataset: Dataset, device: str = "auto"
) -> dict[str, np.ndarray]:
    """float16 probabilities ``(c, z, x, y)`` of an instance's best checkpoint on eval and test."""
    best = row.get("checkpoint_best")
    if not best:
        raise FileNotFoundError(
            f"{row['architecture']} seed {row['seed']} has no best checkpoint recorded"
        )
    saved = Path(best).parent / "probabilities.npz"
    if saved.is_file():
        with np.load(saved) as z:
            return {k: z[k] for k in z.files}
    import torch

    from benchmark.inference.sliding_window import InferenceSettings, predict_probabilities
    from benchmark.training.checkpoints import load_checkpoint
    from benchmark.training.device import resolve_device

    dev = resolve_device(device)
    model, ckpt = load_checkpoint(best, dev)
    settings = InferenceSettings.for_device(dev)
    out = {}
    for split, volume in (("eval", dataset.eval), ("test", dataset.test)):
        if volume is None:
            continue
        probs = predict_probabilities(
            model,
            torch.as_tensor(volume.image),
            ckpt["in_window"],
            ckpt["out_window"],
            settings,
            dev,
        )
        out[split] = probs.to(torch.float16).cpu().numpy()
    return out


def _scores(
    mean_probs: np.ndarray,
    labels: np.ndarray,
    mask,
    n_classes: int,
    org: Sequence[int],
    min_size: int = 0,
):
    segmentation = mean_probs.argmax(axis=0)
    if min_size:
        segmentation = remove_small_components(segmentation, min_size, n_classes)
    return score_confusion(
        confusion_matrix(labels, segmentation, n_classes, mask), org
    ), segmentation


@dataclass(frozen=True)
class EnsembleRun:
    """What ``run_ensembles`` produced."""

    table: pd.DataFrame
    best: pd.DataFrame
    postprocess: pd.DataFrame
    predictions_path: Path | None


def ensemble_scores(
    members: Sequence[dict[str, np.ndarray]],
    dataset: Dataset,
    *,
    order: Sequence[int],
) -> list[dict[str, float]]:
    """Scores of the ensembles of the first 1..len(order) members of ``order`` (cumulative means)."""
    rows = []
    sums: dict[str, np.ndarray] = {}
    for k, index in enumerate(order, start=1):
        row: dict[str, float] = {"k": k}
        for split, volume in (("eval", dataset.eval), ("test", dataset.test)):
            if volume is None or split not in members[index]:
                continue
            # float16 probabilities (argmax-faithful; uint8 would tie on uncertain voxels) summed in
            # float32: argmax of the sum is argmax of the mean.
            probs = members[index][split]
            sums[split] = probs.astype(np.float32) if split not in sums else sums[split] + probs
            scores, _ = _scores(
                sums[split], volume.labels, volume.labeled, dataset.n_classes, dataset.org_classes
            )
            row[f"{split}_miou_all"] = scores.miou_all
            row[f"{split}_miou_org"] = scores.miou_org
        rows.append(row)
    return rows


def run_ensembles(
    run_dir: str | Path,
    *,
    max_k: int | None = None,
    draws: int = 20,
    seed: int = 0,
    min_component_sizes: Sequence[int] = (),
    device: str = "auto",
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> EnsembleRun:
    """Scores top-k and random-k ensembles of every architecture of a run and writes the results.

    Args:
        run_dir: a sweep's run folder (``instances.parquet``, ``run.json``).
        max_k: largest ensemble (default: all usable instances of the architecture).
        draws: random-k repetitions (random member orders; the first k of each order).
        seed: seed of the random orders.
        min_component_sizes: also score each architecture's best ensemble after removing
            connected components smaller than these sizes (voxels, per class).
        device: where to run inference for instances without saved probabilities.
        progress: a progress bar (members loaded, top-k curves, random-k draws); default: when
            stderr is a terminal.
    """
    from benchmark.progress import progress_bar

    run_dir = Path(run_dir)
    instances = pd.read_parquet(run_dir / "instances.parquet")
    meta = json.loads((run_dir / "run.json").read_text())
    for plugin in meta.get("plugins", []):
        from architectures import load_plugin

        load_plugin(plugin)
    spec = DataSpec.from_dict(meta["data"])
    dataset = load_data(spec)
    rng = np.random.default_rng(seed)
    rows, best_rows, pp_rows = [], [], []
    predictions: dict[str, np.ndarray] = {}
    usable_by_arch = {
        arch: instances[(instances["architecture"] == arch) & instances["status"].isin(USABLE)]
        .dropna(subset=["eval_miou_all"])
        .sort_values(["eval_miou_all", "seed"], ascending=[False, True])
        for arch in meta["architectures"]
    }
    bar = progress_bar(
        sum(len(u) + 1 + draws for u in usable_by_arch.values() if not u.empty),
        "ensembles",
        "step",
        enabled=progress,
    )
    for arch in meta["architectures"]:
        usable = usable_by_arch[arch]
        if usable.empty:
            log(f"{arch}: no usable instance, no ensembles")
            continue
        records = usable.to_dict("records")
        log(f"{arch}: probabilities of {len(records)} instance(s)")
        members = []
        for r in records:
            members.append(instance_probabilities(r, dataset, device))
            bar.update()
        n = len(members)
        k_max = min(max_k or n, n)
        seeds = [int(r["seed"]) for r in records]
        top = ensemble_scores(members, dataset, order=range(k_max))
        bar.update()
        for row in top:
            rows.append(
                dict(
                    architecture=arch,
                    selection="top",
                    **row,
                    members=",".join(map(str, seeds[: row["k"]])),
                    draws=1,
                )
            )
        # Random-k: the first k of random orders of all usable instances.
        curves = []
        for _ in range(draws):
            curves.append(ensemble_scores(members, dataset, order=rng.permutation(n)[:k_max]))
            bar.update()
        for k in range(1, k_max + 1):
            row = dict(architecture=arch, selection="random", k=k, draws=draws, members="")
            for metric in curves[0][0]:
                if metric == "k":
                    continue
                values = np.array([c[k - 1][metric] for c in curves])
                row[metric] = float(np.nanmean(values))
                row[f"{metric}_low"], row[f"{metric}_high"] = (
                    float(v) for v in np.nanpercentile(values, [2.5, 97.5])
                )
            rows.append(row)
        best = max(top, key=lambda r: (r["eval_miou_all"], -r["k"]))
        best_rows.append(
            dict(architecture=arch, k=best["k"], **{m: v for m, v in best.items() if m != "k"})
        )
        for split, volume in (("eval", dataset.eval), ("test", dataset.test)):
            if volume is None or split not in members[0]:
                continue
            mean = sum(members[i][split].astype(np.float32) for i in range(best["k"]))
            _, segmentation = _scores(
                mean, volume.labels, volume.labeled, dataset.n_classes, dataset.org_classes
            )
            predictions[f"{arch}__{split}"] = segmentation.astype(np.uint8)
            for size in min_component_sizes:
                after, _ = _scores(
                    mean,
                    volume.labels,
                    volume.labeled,
                    dataset.n_classes,
                    dataset.org_classes,
                    size,
                )
                pp_rows.append(
                    dict(
                        architecture=arch,
                        k=best["k"],
                        split=split,
                        min_component_size=size,
                        miou_all_before=best[f"{split}_miou_all"],
                        miou_all_after=after.miou_all,
                        miou_org_before=best[f"{split}_miou_org"],
                        miou_org_after=after.miou_org,
                    )
                )
        log(
            f"{arch}: best top-k ensemble k = {best['k']}: eval MIoU(all) {best['eval_miou_all']:.4f}"
            + (f", test MIoU(org) {best['test_miou_org']:.4f}" if "test_miou_org" in best else "")
        )
    bar.close()
    table = pd.DataFrame(rows)
    atomic_write_parquet(table, run_dir / "ensembles.parquet")
    record_derived(run_dir, "ensembles", instances_fingerprint(instances))
    postprocess = pd.DataFrame(pp_rows)
    if not postprocess.empty:
        atomic_write_parquet(postprocess, run_dir / "postprocess.parquet")
    path = None
    if predictions:
        out = run_dir / "ensembles"
        out.mkdir(exist_ok=True)
        arrays = dict(predictions)
        for split, volume in (("eval", dataset.eval), ("test", dataset.test)):
            if volume is not None:
                arrays[f"image__{split}"] = volume.image.astype(np.float16)
                arrays[f"labels__{split}"] = volume.labels.astype(np.uint8)
        path = out / "predictions.npz"
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, class_names=np.array(dataset.class_names), **arrays)
    return EnsembleRun(table, pd.DataFrame(best_rows), postprocess, path)
