"""Ensemble inference speed: ``segment`` of an ensemble over a synthetic volume, in seconds per
Gvoxel, against MONAI's ``sliding_window_inference`` on the same nets and volume when MONAI is
installed.

The members are untrained (seeded) nets in the checkpoint format, so the figure is speed only.
``segment`` runs its whole path (reading, normalizing, tiles with overlap and Gaussian blending,
writing the TIFF); MONAI's figure is the tiles alone on a volume already on the device, so it
flatters MONAI a little.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmark.doctor.report import Check
from benchmark.doctor.settings import DoctorSettings
from benchmark.training.planner import TrainingPlan

__all__ = ["inference_checks", "write_ensemble"]

_CLASSES = 7


def write_ensemble(plan: TrainingPlan, members: int, folder: Path) -> list[Path]:
    """``members`` checkpoints of ``plan``'s net with seeds 0.. (untrained), as ``segment`` reads
    them."""
    from architectures import build, output_window
    from benchmark.data.platelet import PLATELET_CLASSES
    from benchmark.training.checkpoints import CHECKPOINT_FORMAT, save_atomic

    options = plan.build_options(_CLASSES)
    out = output_window(
        plan.architecture, plan.window, **{k: v for k, v in options.items() if k != "in_channels"}
    )
    paths = []
    for seed in range(members):
        model = build(plan.architecture, seed=seed, **options)
        path = folder / f"member-{seed}.pt"
        save_atomic(
            dict(
                format=CHECKPOINT_FORMAT,
                architecture=plan.architecture,
                architecture_spec=None,
                build_options=options,
                seed=seed,
                in_window=tuple(plan.window),
                out_window=tuple(out),
                class_names=tuple(PLATELET_CLASSES)[:_CLASSES],
                model=model.state_dict(),
            ),
            path,
        )
        paths.append(path)
    return paths


def inference_checks(
    plan: TrainingPlan, settings: DoctorSettings, device: str, log=None
) -> list[Check]:
    """``segment`` of a ``settings.ensemble``-member ensemble over ``settings.volume``; MONAI's
    sliding window on the same when installed."""
    from benchmark.inference.segment import segment_volume

    if settings.ensemble < 1:
        return [Check("inference", "segment", "SKIP", "no ensemble asked for")]
    shape = tuple(settings.volume)
    gvoxels = float(np.prod(shape)) / 1e9
    checks = []
    with tempfile.TemporaryDirectory(prefix="dcb-doctor-") as tmp:
        folder = Path(tmp)
        members = write_ensemble(plan, settings.ensemble, folder)
        volume = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
        np.save(folder / "volume.npy", volume)
        if log:
            log(f"  inference: {len(members)} members over {shape}")
        result = segment_volume(
            [str(p) for p in members],
            str(folder / "volume.npy"),
            folder / "segmentation.tif",
            device=device,
            overlap=settings.overlap,
            blend="gaussian",
            progress=False,
            log=lambda _line: None,
        )
        per_g = result.seconds / gvoxels
        ok = tuple(result.shape) == shape and sum(result.class_counts) == int(np.prod(shape))
        checks.append(
            Check(
                "inference",
                f"segment, {len(members)} models",
                "PASS" if ok else "FAIL",
                f"{per_g:.1f} s/Gvoxel ({result.seconds:.2f} s over {shape}, overlap "
                f"{settings.overlap:g}, Gaussian blending)",
                dict(seconds=result.seconds, s_per_gvoxel=per_g, shape=list(shape)),
            )
        )
        checks.append(_monai_check(members, volume, settings, device, per_g))
    return checks


def _monai_check(members, volume, settings: DoctorSettings, device: str, segment_per_g) -> Check:
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        return Check("inference", "MONAI sliding window", "SKIP", "MONAI is not installed")
    import torch
    import torch.nn.functional as F

    from benchmark.inference.sliding_window import InferenceSettings
    from benchmark.training.checkpoints import load_checkpoint
    from benchmark.training.device import resolve_device

    dev = resolve_device(device)
    loaded = [load_checkpoint(p, dev) for p in members]
    models = [m for m, _ in loaded]
    in_window = tuple(loaded[0][1]["in_window"])
    out_window = tuple(loaded[0][1]["out_window"])
    inf = InferenceSettings.for_device(dev)
    pads = []
    for i, o in reversed(list(zip(in_window, out_window))):
        lo = (i - o) // 2
        pads += [lo, i - o - lo]

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        if inf.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        autocast = (
            torch.autocast(dev.type, dtype=inf.amp_dtype) if inf.amp_dtype is not None else None
        )
        with autocast if autocast is not None else torch.no_grad():
            probs = sum(torch.softmax(m(batch)["logits"].float(), dim=1) for m in models)
        return F.pad(probs / len(models), pads)  # back to the window's size

    x = torch.as_tensor(volume, dtype=torch.float32, device=dev)
    x = ((x - x.mean()) / x.std())[None, None]
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    started = time.perf_counter()
    with torch.no_grad():
        out = sliding_window_inference(
            x, in_window, inf.batch_size, predictor, overlap=settings.overlap, mode="gaussian"
        )
        out.argmax(dim=1)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - started
    per_g = seconds / (float(np.prod(volume.shape)) / 1e9)
    return Check(
        "inference",
        "MONAI sliding window",
        "PASS",
        f"{per_g:.1f} s/Gvoxel ({seconds:.2f} s; segment is {per_g / segment_per_g:.2f}x as fast)",
        dict(seconds=seconds, s_per_gvoxel=per_g),
    )
