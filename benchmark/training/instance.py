"""Train and evaluate one instance (architecture x seed) the paper's way. Knows nothing about Ray.

``train_instance`` follows ``benchmark.training.config.TrainConfig``: windows on the spacing grid in an
order drawn from the data seed, augmentation on the device, the original code's loss
``sum(W * CE(3D)) + c_2D * sum(W * CE(2D))`` plus L2 per parameter group, Adam with a staircase
decay, sliding-window evaluation over the whole eval volume at regular points, early stop, best and
last checkpoints, and the best checkpoint scored on the test volume.

Speed: the volumes, labels and loss weights live on the training device; windows are cut and
augmented there; the per-epoch plan comes from the CPU ahead of time; the step runs the fast path
of ``benchmark.training.fastpath`` (on CUDA bf16 autocast with channels_last_3d, fused Adam and
cuDNN autotuning; optionally 2D slice convolutions, ``torch.compile`` and CUDA graphs); the loss is
accumulated on the device and read only at evaluation points, so the step never waits for the host.

Loss, L2 and Adam follow the original code's scale (``benchmark.training.loss`` and ``.step``):
the L2 term is part of the loss, so the reported loss is the whole objective at that scale.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.files import atomic_output
from analysis.metrics import SegmentationScores, score_confusion
from architectures import build, count_parameters, get_entry, output_window
from benchmark.data.spec import dataset_fingerprint
from benchmark.data.volumes import Dataset, check_window_fits
from benchmark.inference.sliding_window import (
    InferenceSettings,
    confusion_on_device,
    predict_probabilities,
    score_volume,
)
from benchmark.records.identity import configuration_identity, identity_hash
from benchmark.training.augment import apply_elastic, augment_window, elastic_field
from benchmark.training.checkpoints import (
    CHECKPOINT_FORMAT,
    read_resume_state,
    save_atomic,
    save_last,
)
from benchmark.training.config import TrainConfig
from benchmark.training.device import DeviceData, prepare_data, resolve_device
from benchmark.training.fastpath import FastPath, configure_backends, make_step
from benchmark.training.loss import Objective
from benchmark.training.planner import build_options as planned_build_options
from benchmark.training.results import (
    EarlyStopRule,
    EvalPoint,
    InstanceResult,
    TrainingDiverged,
    point_from_dict,
)
from benchmark.training.step import Schedule, make_optimizer
from benchmark.training.windows import epoch_plan, instance_seeds, window_grid

__all__ = ["train_instance"]


def train_instance(
    arch: str,
    seed: int,
    dataset: Dataset,
    config: TrainConfig,
    *,
    arch_overrides: dict[str, Any] | None = None,
    on_eval: Callable[[EvalPoint], bool | None] | None = None,
    checkpoint_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InstanceResult:
    """Trains instance ``seed`` of ``arch`` on ``dataset`` and scores it.

    Args:
        arch: registered architecture name (or spec .toml path).
        seed: instance seed; the data-presentation and weight seeds derive from it identically for
            every architecture (paired seeds).
        dataset: train / eval / test volumes.
        config: the training recipe (``benchmark.config``).
        arch_overrides: builder options on top of the architecture's defaults and ``config.width``.
        on_eval: called at every evaluation point; returning True stops training (the instance
            then counts as early-stopped).
        checkpoint_dir: where ``best.pt`` and ``last.pt`` go; if ``last.pt`` is already there (a
            resumed instance), training continues from it exactly.
        log: receives one progress line per evaluation point.
        progress: called as ``progress(step, total_steps)`` after every step (and once at the
            start); it gets plain ints and reads nothing from the device, so it adds no host sync.

    Returns:
        The instance's result; ``status`` is ``"finished"`` or ``"early_stopped"``.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    entry = get_entry(arch)
    in_window = tuple(config.window or entry.window)
    build_options = planned_build_options(arch, config, dataset.n_classes, arch_overrides)
    out_window = output_window(
        arch, in_window, **{k: v for k, v in build_options.items() if k != "in_channels"}
    )
    check_window_fits(dataset, in_window)
    fast = device.type == "cuda"
    fast_path = FastPath.from_config(config, device)
    configure_backends(fast_path)
    settings = InferenceSettings(
        amp_dtype=fast_path.amp_dtype,
        channels_last=fast_path.channels_last,
        batch_size=config.eval_batch_size,
        overlap=config.eval_overlap,
    )
    data_seed, weight_seed = instance_seeds(seed)
    data = prepare_data(dataset, config, device)
    stop_rule = EarlyStopRule.from_config(config)

    model = build(arch, seed=weight_seed, device=device, init=config.init, **build_options)
    model = fast_path.prepare(model)
    objective = Objective(model, config)
    optimizer = make_optimizer(model, config, device)
    scheduler = Schedule(optimizer, config)

    # Output-window corners in spacing bins (jittered per epoch); input windows reach
    # ``margin`` beyond them into the reflect-padded image.
    grid = window_grid(data.train.image.shape, out_window, config.spacing)
    margin = tuple((i - o) // 2 for i, o in zip(in_window, out_window))
    # A step presents ``batch_size`` consecutive windows of the epoch's order (paper: 1).
    steps_per_epoch = math.ceil(len(grid) / config.batch_size)
    total_steps = config.max_steps or max(1, round(config.epochs * steps_per_epoch))
    eval_every = max(1, round(steps_per_epoch / config.evals_per_epoch))
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    identity = configuration_identity(
        entry.name, build_options, config.identity_dict(), dataset_fingerprint(dataset)
    )
    base_ckpt = dict(
        format=CHECKPOINT_FORMAT,
        architecture=entry.name,
        # A spec architecture is re-registered from its file where the checkpoint is loaded.
        architecture_spec=entry.source[5:] if entry.source.startswith("spec:") else None,
        build_options=build_options,
        seed=seed,
        identity=identity,
        config=config.to_dict(),
        in_window=in_window,
        out_window=out_window,
        class_names=data.class_names,
        org_classes=data.org_classes,
        params=count_parameters(model),
    )

    step = resumed_from = 0
    curve: list[EvalPoint] = []
    best: EvalPoint | None = None
    best_state: dict[str, torch.Tensor] | None = None
    elapsed_before = 0.0
    resumed = read_resume_state(ckpt_dir, identity, seed, log)
    if resumed is not None:
        state, best_state = resumed
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = resumed_from = int(state["step"])
        curve = [point_from_dict(p) for p in state["curve"]]
        best = max(curve, key=lambda p: (p.eval.miou_all, -p.step)) if curve else None
        elapsed_before = float(state.get("elapsed_s", 0.0))
        if log:
            log(f"resumed {arch} seed {seed} at step {step}/{total_steps}")
        if curve and curve[-1].done:
            return _result(arch, seed, curve, base_ckpt, ckpt_dir, elapsed_before)

    # After a resume's load: under CUDA graphs the first step captures the loaded state.
    run_step = make_step(model, optimizer, fast_path, objective)
    batch = config.batch_size
    save_dir = ckpt_dir if config.save_probabilities else None

    # The best checkpoint's eval probabilities, kept from its evaluation for the ensembles
    # (None after a resume: _finish then recomputes them).
    best_eval_probs: np.ndarray | None = None

    def finalize(point: EvalPoint, status: str, best_weights) -> EvalPoint:
        """The last point: status and the best checkpoint's test score."""
        test = _finish(
            model, best_weights, data, in_window, out_window, settings, save_dir, best_eval_probs
        )
        return _replace(point, done=True, status=status, test=test)

    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    rate_mark = (time.perf_counter(), step)
    stopped_early = False
    if progress is not None:
        progress(step, total_steps)
    with torch.random.fork_rng(devices=[device] if fast else []):
        # Dropout (DeepLab, DeepVess) draws from the global generator: seed it from the instance.
        torch.manual_seed(weight_seed)
        model.train()
        while step < total_steps and not stopped_early:
            epoch = step // steps_per_epoch
            plan = epoch_plan(
                grid,
                data_seed,
                epoch,
                jitter=config.window_jitter,
                reflect=config.reflect,
                brightness=config.brightness,
                contrast=config.contrast,
            )
            image, labels, weights = data.train.image, data.train.labels, data.weights
            if config.elastic:
                coords = elastic_field(
                    image.shape[1:],
                    scale=config.elastic_scale,
                    alpha=config.elastic_alpha,
                    sigma=config.elastic_sigma,
                    seed=plan.elastic_seed,
                    device=device,
                )
                image, labels, weights = apply_elastic(
                    image, labels, weights, coords, config.elastic_image
                )
            # Brightness shifts are fractions of the (deformed) volume's range; stays on device.
            value_range = image.max() - image.min()
            image = _reflect_pad(image, margin)
            for i in range(step % steps_per_epoch, steps_per_epoch):
                picks = range(i * batch, min((i + 1) * batch, len(plan.corners)))
                windows = [
                    _cut_window(image, labels, weights, plan, j, in_window, out_window, value_range)
                    for j in picks
                ]
                xi = torch.stack([w[0] for w in windows])[:, None]
                li = torch.stack([w[1] for w in windows])
                wi = torch.stack([w[2] for w in windows])
                loss = run_step(fast_path.prepare_input(xi), li, wi)
                scheduler.step()
                loss_sum += loss
                loss_count += 1
                step += 1
                if progress is not None:
                    progress(step, total_steps)
                last_step = step >= total_steps
                if step % eval_every and not last_step:
                    continue
                # ---- evaluation point: the only place the host waits for the device.
                train_loss = float(loss_sum) / max(loss_count, 1)
                loss_sum.zero_()
                loss_count = 0
                if not math.isfinite(train_loss):
                    raise TrainingDiverged(
                        f"{arch} seed {seed}: loss is {train_loss} at step {step}"
                    )
                model.eval()
                eval_chunks: list[np.ndarray] | None = [] if save_dir is not None else None
                scores = score_confusion(
                    score_volume(
                        model,
                        data.eval.image,
                        data.eval.labels,
                        in_window,
                        out_window,
                        data.n_classes,
                        settings,
                        data.eval.labeled,
                        collect=eval_chunks,
                    ),
                    data.org_classes,
                )
                model.train()
                epoch_now = step / steps_per_epoch
                is_best = best is None or scores.miou_all > best.eval.miou_all
                elapsed = elapsed_before + time.perf_counter() - started
                point = EvalPoint(
                    step=step,
                    epoch=epoch_now,
                    train_loss=train_loss,
                    lr=float(scheduler.get_last_lr()[0]),
                    eval=scores,
                    elapsed_s=elapsed,
                    best_step=step if is_best else best.best_step,  # type: ignore[union-attr]
                    best_eval=scores if is_best else best.eval,  # type: ignore[union-attr]
                    params=base_ckpt["params"],
                    resumed_from=resumed_from,
                    identity=identity_hash(identity),
                )
                if is_best:
                    best = point
                    if eval_chunks:
                        best_eval_probs = np.concatenate(eval_chunks, axis=1)
                    best_state = {
                        k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                    }
                    if ckpt_dir is not None:
                        ckpt_dir.mkdir(parents=True, exist_ok=True)
                        save_atomic(
                            dict(
                                base_ckpt,
                                model=best_state,
                                step=step,
                                metrics=point.metrics(data.class_names),
                            ),
                            ckpt_dir / "best.pt",
                        )
                if stop_rule(epoch_now, point.best_eval.miou_all, point.eval.miou_all) or last_step:
                    point = finalize(
                        point, "finished" if last_step else "early_stopped", best_state
                    )
                curve.append(point)
                state = (model, optimizer, scheduler, step, elapsed)
                save_last(ckpt_dir, base_ckpt, state, curve, data.class_names)
                if log:
                    now = time.perf_counter()
                    rate = (step - rate_mark[1]) / max(now - rate_mark[0], 1e-9)
                    rate_mark = (now, step)
                    log(_progress_line(arch, seed, point, total_steps, rate, config.loss_reduction))
                if on_eval is not None and on_eval(point) and not point.done:
                    curve[-1] = finalize(point, "early_stopped", best_state)
                    save_last(ckpt_dir, base_ckpt, state, curve, data.class_names)
                if curve[-1].done:
                    stopped_early = True
                    break
    return _result(
        arch, seed, curve, base_ckpt, ckpt_dir, elapsed_before + time.perf_counter() - started
    )


def _reflect_pad(image: torch.Tensor, margin: tuple[int, int, int]) -> torch.Tensor:
    """``image`` (z, x, y) reflected ``margin`` voxels beyond each border."""
    if not any(margin):
        return image
    mz, mx, my = margin
    padded = torch.nn.functional.pad(image[None, None], (my, my, mx, mx, mz, mz), mode="reflect")
    return padded[0, 0]


def _cut_window(image, labels, weights, plan, j, in_window, out_window, value_range):
    """Window ``j`` of the epoch plan, augmented: labels and weights at the output-window corner,
    the input window around it from the reflect-padded ``image`` (whose corner index is then the
    output corner's)."""
    z, x, y = (int(v) for v in plan.corners[j])
    iz, ix, iy = in_window
    oz, ox, oy = out_window
    return augment_window(
        image[z : z + iz, x : x + ix, y : y + iy],
        labels[z : z + oz, x : x + ox, y : y + oy],
        weights[z : z + oz, x : x + ox, y : y + oy],
        tuple(bool(f) for f in plan.flips[j]),
        float(plan.contrast[j]),
        float(plan.brightness[j]) * value_range,
    )


def _finish(
    model,
    best_state,
    data: DeviceData,
    in_window,
    out_window,
    settings,
    save_dir: Path | None,
    eval_probs: np.ndarray | None = None,
) -> SegmentationScores | None:
    """Scores the best checkpoint on the test volume and, with ``save_dir``, keeps its class
    probabilities on the eval and test volumes (float16) for ensembles; ``eval_probs`` are the
    eval ones when already known. The model's current weights are restored afterwards."""
    if best_state is None:
        return None
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    test = None
    saved: dict[str, np.ndarray] = {}
    if save_dir is not None and eval_probs is not None:
        saved["eval"] = eval_probs
    for split, volume in (("eval", data.eval), ("test", data.test)):
        if volume is None or (split == "eval" and (save_dir is None or "eval" in saved)):
            continue
        probs = predict_probabilities(model, volume.image, in_window, out_window, settings)
        if split == "test":
            cm = confusion_on_device(
                volume.labels, probs.argmax(dim=0), data.n_classes, volume.labeled
            )
            test = score_confusion(cm.cpu().numpy(), data.org_classes)
        if save_dir is not None:
            saved[split] = probs.to(torch.float16).cpu().numpy()
    if saved:
        with atomic_output(save_dir / "probabilities.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **saved)
    model.load_state_dict(current)
    model.train()
    return test


def _replace(point: EvalPoint, **changes: Any) -> EvalPoint:
    return EvalPoint(**{**point.__dict__, **changes})


def _result(arch, seed, curve, base_ckpt, ckpt_dir, wall) -> InstanceResult:
    final = curve[-1]
    best = max(curve, key=lambda p: (p.eval.miou_all, -p.step))
    return InstanceResult(
        architecture=arch,
        seed=seed,
        status=final.status if final.done else "running",
        steps=final.step,
        best=best,
        final=final,
        test=final.test,
        params=int(base_ckpt["params"]),
        wall_time_s=wall,
        checkpoint_best=str(ckpt_dir / "best.pt") if ckpt_dir is not None else None,
        checkpoint_final=str(ckpt_dir / "last.pt") if ckpt_dir is not None else None,
        curve=curve,
    )


def _progress_line(
    arch: str, seed: int, p: EvalPoint, total: int, rate: float, scale: str = "sum"
) -> str:
    # The loss says its scale: "sum" over a batch's voxels (the original code) or "mean".
    line = (
        f"{arch} seed {seed}: step {p.step}/{total} (epoch {p.epoch:.2f}) "
        f"loss({scale}) {p.train_loss:.5g} "
        f"lr {p.lr:.2e} | eval MIoU(all) {p.eval.miou_all:.3f} (org) {p.eval.miou_org:.3f} "
        f"| best {p.best_eval.miou_all:.3f} @ {p.best_step} | {rate:.1f} steps/s"
    )
    if p.done:
        line += f" | {p.status}"
        if p.test is not None:
            line += f" | test MIoU(org) {p.test.miou_org:.3f}"
    return line
