"""The measurements behind docs/fidelity.md: what the loss scale does to 2d3d_3x3x3 at the paper's
window and width on the paper-sized phantom (50 x 800 x 800).

    python3 docs/fidelity_measure.py gradients          # L2 vs data gradient per group at init
    python3 docs/fidelity_measure.py norm --steps 50    # 2D weight norm after N steps
    python3 docs/fidelity_measure.py norm --gradients   # both (the data are set up once)

Two recipes, both through the package's own loss, optimizer and data path:

- ``before``: Eq. 1 as printed, as this project trained until issue 12: mean weighted
  cross-entropy, ``lambda * sum(theta^2)`` (the old ``weight_decay = 2 lambda``) with lambda
  10^-4.7 / 10^-5 / 10^-9 on the 2D module / 3D pyramid / predictors, torch's Adam epsilon;
- ``after``: the ``paper`` profile (the original code): summed cross-entropy, TensorFlow's
  ``lambda * sum(theta^2) / 2`` (none on the pyramid) times the non-zero fraction, epsilon hat.

Both use the same (new) loss weights, windows and augmentation, so the loss scale is the only
difference. Steps follow the first epoch's plan of instance seed 0 (the training loop's order,
elastic field and augmentation draws); nothing is evaluated.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from architectures import build, output_window
from benchmark.data.spec import DataSpec, load_data
from benchmark.training.augment import apply_elastic, augment_window, elastic_field
from benchmark.training.config import PROFILES
from benchmark.training.device import prepare_data
from benchmark.training.loss import Objective, data_loss
from benchmark.training.step import Schedule, make_optimizer, train_step
from benchmark.training.windows import epoch_plan, instance_seeds, window_grid

ARCH, WINDOW = "2d3d_3x3x3", (5, 300, 300)
PAPER = PROFILES["paper"]
RECIPES = {
    "after": PAPER,
    "before": PAPER.replace(
        loss_reduction="mean",
        l2_form="paper",
        l2={"2d": 10**-4.7, "3d": 1e-5, "predictors": 1e-9},
        l2_frac_nonzero=False,
        adam_eps_hat=False,
    ),
}


def setup(seed: int = 0):
    device = torch.device("cpu")
    dataset = load_data(DataSpec(kind="phantom", profile="paper"))
    data = prepare_data(dataset, PAPER, device)  # raw weights: the same for both recipes
    out = output_window(ARCH, WINDOW, n_classes=7)
    data_seed, weight_seed = instance_seeds(seed)
    grid = window_grid(data.train.image.shape, out, PAPER.spacing)
    plan = epoch_plan(grid, data_seed, 0)
    coords = elastic_field(
        data.train.image.shape[1:],
        scale=PAPER.elastic_scale,
        alpha=PAPER.elastic_alpha,
        sigma=PAPER.elastic_sigma,
        seed=plan.elastic_seed,
        device=device,
    )
    image, labels, weights = apply_elastic(
        data.train.image, data.train.labels, data.weights, coords
    )
    value_range = image.max() - image.min()
    margin = [(i - o) // 2 for i, o in zip(WINDOW, out)]
    padded = torch.nn.functional.pad(
        image[None, None], (margin[2],) * 2 + (margin[1],) * 2 + (margin[0],) * 2, mode="reflect"
    )[0, 0]

    def window(j: int):
        z, x, y = (int(v) for v in plan.corners[j])
        xi, li, wi = augment_window(
            padded[z : z + WINDOW[0], x : x + WINDOW[1], y : y + WINDOW[2]],
            labels[z : z + out[0], x : x + out[1], y : y + out[2]],
            weights[z : z + out[0], x : x + out[1], y : y + out[2]],
            (False, False, False),
            float(plan.contrast[j]),
            float(plan.brightness[j]) * value_range,
        )
        return xi[None, None], li[None], wi[None]

    def model():
        return build(ARCH, seed=weight_seed, device=device, init="xavier", n_classes=7)

    return model, window


def group_norms(net) -> dict[str, float]:
    groups = net.parameter_groups()
    return {
        g: float(torch.sqrt(sum(p.detach().pow(2).sum() for p in ps))) for g, ps in groups.items()
    }


def gradients(make_model, window) -> None:
    net = make_model()
    xi, li, wi = window(0)
    outputs = net(xi)
    frac_raw = float((wi != 0).float().mean())
    print(f"window 0: {li.numel():,} output voxels, raw weights non-zero {frac_raw:.3f}")
    for name, config in RECIPES.items():
        net.zero_grad()
        loss = data_loss(outputs, li, wi + config.weight_floor, config.c_2d, config.loss_reduction)
        loss.backward(retain_graph=True)
        coef = {id(p): c for c, ps in Objective(net, config).groups for p in ps}
        frac = frac_raw if config.l2_frac_nonzero else 1.0
        print(f"\n{name}: data loss {float(loss.detach()):.6g} ({config.loss_reduction})")
        print(
            "group       |data grad|   |L2 grad|   L2/data   median L2/data per weight   "
            "L2 > data   |g_data| < eps"
        )
        for g, ps in net.parameter_groups().items():
            data = torch.cat([p.grad.reshape(-1) for p in ps])
            l2 = torch.cat([(2 * coef.get(id(p), 0.0) * frac * p.detach()).reshape(-1) for p in ps])
            ratio = l2.abs() / data.abs().clamp(min=1e-30)
            print(
                f"{g:11s} {float(data.norm()):11.4g} {float(l2.norm()):11.4g} "
                f"{float(l2.norm() / data.norm()):9.4g} {float(ratio.median()):27.4g} "
                f"{float((l2.abs() > data.abs()).float().mean()):11.1%} "
                f"{float((data.abs() < config.eps).float().mean()):15.1%}",
                flush=True,
            )


def cmd_gradients(args) -> None:
    gradients(*setup())


def cmd_norm(args) -> None:
    make_model, window = setup()
    if args.gradients:
        gradients(make_model, window)
    for name in args.recipe:
        config = RECIPES[name]
        torch.manual_seed(0)
        net = make_model()
        start = group_norms(net)
        objective = Objective(net, config)
        optimizer = make_optimizer(net, config, torch.device("cpu"))
        schedule = Schedule(optimizer, config)
        t0 = time.perf_counter()
        for step in range(1, args.steps + 1):
            xi, li, wi = window(step - 1)
            loss = train_step(net, optimizer, xi, li, wi, objective, contextlib.nullcontext())
            schedule.step()
            if step % args.every == 0 or step == args.steps:
                norms = group_norms(net)
                ratios = "  ".join(f"{g} {norms[g] / start[g]:.3f}" for g in start if start[g])
                print(
                    f"{name} step {step:3d}: loss {float(loss):.5g}  norm / initial: {ratios}  "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("gradients")
    p.set_defaults(func=cmd_gradients)
    p = sub.add_parser("norm")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--recipe", nargs="+", default=["before", "after"], choices=sorted(RECIPES))
    p.add_argument("--gradients", action="store_true", help="the gradients table first")
    p.set_defaults(func=cmd_norm)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
