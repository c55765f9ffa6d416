"""Several training instances on one GPU through Ray's fractional GPUs: total throughput against
one instance alone, and the packing the default then follows (``benchmark.sweep.resources``).

Each instance is a Ray actor asking for ``1/k`` of a GPU; all ``k`` build their net and warm up
first, then train for the same wall-clock time at once on random windows with the fast path, so
the figure is steps/s of the GPU, not of start-up.
"""

from __future__ import annotations

import time
from typing import Any

from benchmark.doctor.report import Check
from benchmark.doctor.settings import DoctorSettings
from benchmark.training.planner import TrainingPlan

__all__ = ["StepActor", "packing_checks"]


class StepActor:
    """One instance's training loop for a Ray actor (fast path, random windows)."""

    def setup(
        self, arch: str, config: dict[str, Any], options: dict, n_classes: int, warmup: int
    ) -> float:
        """Builds the net and runs ``warmup`` steps; returns the seconds it took."""
        import torch

        from architectures import build, output_window
        from benchmark.training.config import TrainConfig
        from benchmark.training.device import resolve_device
        from benchmark.training.fastpath import FastPath, configure_backends, make_step
        from benchmark.training.loss import Objective
        from benchmark.training.step import make_optimizer

        started = time.perf_counter()
        plan = TrainingPlan(arch, TrainConfig.from_dict(config), dict(options))
        device = resolve_device(plan.config.device)
        self.device = device
        fast = FastPath.from_config(plan.config, device)
        configure_backends(fast)
        build_options = plan.build_options(n_classes)
        out = output_window(
            arch, plan.window, **{k: v for k, v in build_options.items() if k != "in_channels"}
        )
        g = torch.Generator().manual_seed(0)
        b = plan.config.batch_size
        self.batch = (
            fast.prepare_input(torch.randn((b, 1, *plan.window), generator=g).to(device)),
            torch.randint(0, n_classes, (b, *out), generator=g).to(device),
            torch.rand((b, *out), generator=g).to(device),
        )
        model = fast.prepare(build(arch, seed=0, device=device, **build_options))
        optimizer = make_optimizer(model, plan.config, device)
        self.step = make_step(model, optimizer, fast, Objective(model, plan.config))
        for _ in range(warmup):
            self.step(*self.batch)
        _sync(device)
        return time.perf_counter() - started

    def run(self, seconds: float) -> float:
        """Trains for ``seconds`` (checking the clock every 5 steps); returns steps/s."""
        steps = 0
        _sync(self.device)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(5):
                self.step(*self.batch)
            steps += 5
            _sync(self.device)
        return steps / (time.perf_counter() - started)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(plan: TrainingPlan, k: int, n_classes: int, seconds: float) -> list[float]:
    import ray

    actor_class = ray.remote(StepActor)
    actors = [actor_class.options(num_gpus=1.0 / k, num_cpus=1).remote() for _ in range(k)]
    try:
        # Ray shows each actor its own GPU as the only one.
        config = dict(plan.config.to_dict(), device="cuda")
        ray.get(
            [
                a.setup.remote(plan.architecture, config, plan.arch_options, n_classes, 10)
                for a in actors
            ]
        )
        return ray.get([a.run.remote(seconds) for a in actors])
    finally:
        for a in actors:
            ray.kill(a)


def packing_checks(
    plan: TrainingPlan, settings: DoctorSettings, n_classes: int, gpu_name: str, log=None
) -> list[Check]:
    """Throughput of ``settings.packing`` instances per GPU; records the best for the default.

    Ray must be connected and see a GPU (``run_doctor`` does that).
    """
    from benchmark.sweep.resources import best_packing, record_packing

    throughput: dict[int, float] = {}
    checks = []
    for k in settings.packing:
        if log:
            log(f"  packing: {k} instance(s) per GPU for {settings.packing_seconds:g} s")
        try:
            rates = _measure(plan, k, n_classes, settings.packing_seconds)
        except Exception as exc:  # e.g. out of memory at 4 per GPU: that is the finding
            checks.append(Check("packing", f"{k} per GPU", "FAIL", f"could not run: {exc}"[:300]))
            continue
        throughput[k] = sum(rates)
        alone = throughput.get(1)
        figure = f"{throughput[k]:.2f} steps/s in all ({' + '.join(f'{r:.2f}' for r in rates)})"
        if alone and k > 1:
            figure += f", {throughput[k] / alone:.2f}x one alone"
        checks.append(
            Check("packing", f"{k} per GPU", "PASS", figure, dict(rates=rates, total=throughput[k]))
        )
    if throughput:
        best = best_packing(throughput)
        path = record_packing(
            gpu_name,
            best,
            dict(
                arch=plan.architecture,
                window=list(plan.window),
                width=plan.config.width,
                throughput={str(k): v for k, v in throughput.items()},
                measured=time.strftime("%Y-%m-%d %H:%M:%S"),
            ),
        )
        checks.append(
            Check(
                "packing",
                "default",
                "PASS",
                f"{best} per GPU (the fewest within 5 % of the best throughput); recorded in "
                f"{path}, which the default --gpus-per-trial now follows on {gpu_name}",
                dict(instances=best, record=str(path)),
            )
        )
    return checks
