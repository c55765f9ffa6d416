"""``ensembles`` (top-k / random-k of a run), ``segment`` (any volume) and ``agreement``."""

from __future__ import annotations

import argparse

from benchmark.cli.formatting import fmt_float, print_table
from benchmark.cli.options import non_negative_int
from benchmark.progress import add_quiet_argument


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 2,3,4, got {text!r}") from None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ensembles",
        parents=[common],
        help="score top-k and random-k ensembles of a run (writes ensembles.parquet)",
    )
    p.add_argument("run_dir")
    p.add_argument("--max-k", type=int, help="largest ensemble (default: all usable instances)")
    p.add_argument("--draws", type=int, default=20, help="random-k repetitions (default 20)")
    p.add_argument(
        "--draw-seed",
        type=non_negative_int,
        default=0,
        help="seed of the random-k draws (default 0)",
    )
    p.add_argument(
        "--min-component-size",
        type=_ints,
        default=[],
        metavar="N[,N...]",
        help="also score the best ensembles after removing components smaller than N voxels",
    )
    p.add_argument("--device", default="auto")
    add_quiet_argument(p)
    p.set_defaults(func=cmd_ensembles)

    p = sub.add_parser(
        "segment",
        parents=[common],
        help="segment a volume with one checkpoint or an ensemble (streaming)",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        metavar="PATH",
        help="best.pt of an instance; repeat for an ensemble",
    )
    p.add_argument(
        "--input",
        required=True,
        metavar="VOLUME",
        help="image volume (TIF, NPY, Zarr, OME-Zarr, file.h5:dataset)",
    )
    p.add_argument(
        "--level",
        type=int,
        metavar="N",
        help="multiscale level of an OME-Zarr input (default 0, full resolution)",
    )
    p.add_argument(
        "--output",
        required=True,
        metavar="SEG.tif|SEG.zarr",
        help="segmentation (uint8 class ids): OME-Zarr when it ends in .zarr, else TIFF",
    )
    p.add_argument(
        "--probabilities",
        metavar="PROBS.zarr|PROBS.tif",
        help="also write class probabilities (uint8, round(p*255)): OME-Zarr (c,z,y,x) when it "
        "ends in .zarr, else an ImageJ TIFF (z,c,x,y)",
    )
    p.add_argument(
        "--min-component-size",
        type=int,
        default=0,
        metavar="N",
        help="remove connected components smaller than N voxels per class",
    )
    p.add_argument(
        "--overlap",
        type=float,
        default=0.25,
        help="tile overlap fraction (default 0.25, Gaussian blending)",
    )
    p.add_argument("--device", default="auto")
    add_quiet_argument(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser(
        "agreement", parents=[common], help="MIoU and per-class IoU between two segmentations"
    )
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--classes", type=int, help="number of classes (default: from the labels)")
    p.add_argument(
        "--org-classes", type=_ints, help="classes of MIoU(org) (default 2..6 for 7 classes)"
    )
    p.add_argument("--color-table", help="JSON/TOML color table for RGB label files")
    p.set_defaults(func=cmd_agreement)


def cmd_ensembles(args: argparse.Namespace) -> int:
    from benchmark.inference.ensembles import run_ensembles
    from benchmark.progress import set_quiet, write

    set_quiet(args.quiet)
    result = run_ensembles(
        args.run_dir,
        max_k=args.max_k,
        draws=args.draws,
        seed=args.draw_seed,
        min_component_sizes=args.min_component_size,
        device=args.device,
        log=write,
    )
    rows = []
    for _, r in result.best.iterrows():
        single = result.table[
            (result.table.architecture == r.architecture)
            & (result.table.selection == "top")
            & (result.table.k == 1)
        ].iloc[0]
        rows.append(
            (
                r.architecture,
                str(r.k),
                fmt_float(single.eval_miou_all),
                fmt_float(r.eval_miou_all),
                fmt_float(r.get("eval_miou_org")),
                fmt_float(r.get("test_miou_org")),
            )
        )
    print()
    print_table(
        (
            "architecture",
            "best k",
            "eval (k=1)",
            "eval MIoU(all)",
            "eval MIoU(org)",
            "test MIoU(org)",
        ),
        rows,
        right=(1, 2, 3, 4, 5),
    )
    if not result.postprocess.empty:
        print("\nsmall-component removal on the best ensembles:")
        pp = [
            (
                r.architecture,
                r.split,
                str(r.min_component_size),
                fmt_float(r.miou_org_before),
                fmt_float(r.miou_org_after),
            )
            for _, r in result.postprocess.iterrows()
        ]
        print_table(
            ("architecture", "volume", "min size", "MIoU(org) before", "after"), pp, right=(2, 3, 4)
        )
    print(
        f"\nwrote {args.run_dir}/ensembles.parquet"
        + (f" and {result.predictions_path}" if result.predictions_path else "")
    )
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from benchmark.inference.segment import segment_volume
    from benchmark.progress import set_quiet, write

    set_quiet(args.quiet)
    result = segment_volume(
        args.checkpoint,
        args.input,
        args.output,
        probabilities=args.probabilities,
        min_component_size=args.min_component_size,
        device=args.device,
        overlap=args.overlap,
        level=args.level,
        log=write,
    )
    total = sum(result.class_counts)
    shares = ", ".join(f"{c}: {n / total:.1%}" for c, n in enumerate(result.class_counts) if n)
    print(
        f"wrote {result.output} {result.shape} from {result.members} model(s) in {result.seconds:.1f} s; classes {shares}"
    )
    if result.probabilities:
        print(f"wrote {result.probabilities}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from benchmark.inference.segment import agreement

    scores, n, org = agreement(
        args.a,
        args.b,
        n_classes=args.classes,
        org_classes=args.org_classes,
        color_table=args.color_table,
    )
    print(
        f"MIoU(all) {scores.miou_all:.4f}  MIoU(org) {scores.miou_org:.4f}  (org classes {', '.join(map(str, org))})"
    )
    print_table(
        ("class", "IoU"), [(str(c), fmt_float(v)) for c, v in enumerate(scores.iou)], right=(1,)
    )
    return 0
