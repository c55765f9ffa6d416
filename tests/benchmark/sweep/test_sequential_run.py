"""``run --until-decided``: seeds in paired rounds until the comparison is decided."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.benchmark.conftest import blob_volume
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

# An architecture that ignores its input and predicts its favourite (rare) class everywhere:
# clearly worse than any net that learns the majority class, and the same for every seed.
PLUGIN = textwrap.dedent(
    """\
    import torch
    from torch import nn

    from architectures import SegmentationNet, register


    class ConstantNet(SegmentationNet):
        def __init__(self, in_channels=1, n_classes=7, *, width=1.0, favourite=2):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(n_classes))
            self.favourite = favourite

        def forward(self, x):
            logits = self.bias[None, :, None, None, None] + torch.zeros_like(x)
            bonus = torch.zeros_like(self.bias)
            bonus[self.favourite] = 10.0
            return {"logits": logits + bonus[None, :, None, None, None]}

        def parameter_groups(self):
            return {"2d": [], "3d": [], "predictors": [self.bias]}


    @register("constant_rare", family="custom", description="ignores its input",
              window=(5, 24, 24), accepts=ConstantNet)
    def constant_rare(**kwargs):
        return ConstantNet(**kwargs)
    """
)
SUITE = textwrap.dedent(
    """\
    name = "seq"
    architectures = ["2d3d_no_pyramid", "constant_rare"]
    plugins = ["constant_net.py"]
    profile = "quick"
    """
)


def test_until_decided_stops_early_with_the_right_verdict(tmp_path):
    (tmp_path / "constant_net.py").write_text(PLUGIN)
    (tmp_path / "seq.toml").write_text(SUITE)
    data = []
    for split, shape, seed in (("train", (10, 48, 48), 1), ("eval", (6, 48, 48), 2)):
        volume = blob_volume(shape, seed, n_classes=3)
        for kind, array in (("image", volume.image), ("labels", volume.labels)):
            np.save(tmp_path / f"{split}-{kind}.npy", array)
            data += [f"--{split}-{kind}", f"{split}-{kind}.npy"]
    args = [
        "run",
        "--suite",
        "seq.toml",
        "--name",
        "s",
        "--results",
        "res",
        "--until-decided",
        "--min-seeds",
        "3",
        "--round",
        "2",
        "--max-seeds",
        "9",
        *data,
        *["--option", "max_steps=30", "--option", "window=[5,24,24]"],
        *["--option", "spacing=[2,8,8]", "--option", "width=0.0625"],
        *["--option", "evals_per_epoch=40", "--option", "early_stop_miou=0"],
    ]
    out = run_cli(*args, "--no-report", cwd=tmp_path, env={"RAY_ADDRESS": ""}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2d3d_no_pyramid > constant_rare after 3 seeds" in out.stdout, out.stdout
    run = tmp_path / "res" / "seq" / "s"
    meta = json.loads((run / "run.json").read_text())
    result = meta["sequential"]["result"]
    assert result["decisions"] == {"constant_rare": "reference_better"}
    assert result["seeds_spent"] == {"2d3d_no_pyramid": 3, "constant_rare": 3}
    assert result["instances_fixed_design"] == 18 and result["saved_fraction"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert meta["sequential"]["design"]["max_seeds"] == 9
    instances = pd.read_parquet(run / "instances.parquet")
    assert len(instances) == 6 and set(instances.seed) == {0, 1, 2}
    looks = pd.read_parquet(run / "sequential.parquet")
    assert looks.decision.iloc[-1] == "reference_better" and looks.seeds.tolist() == [3]

    # Resuming the finished run trains nothing and keeps the decision; another design is refused.
    again = run_cli(*args, "--no-report", cwd=tmp_path, env={"RAY_ADDRESS": ""}, timeout=300)
    assert again.returncode == 0 and "after 3 seeds" in again.stdout, again.stdout + again.stderr
    assert len(pd.read_parquet(run / "instances.parquet")) == 6
    other = [a if a != "9" else "12" for a in args]
    refused = run_cli(*other, "--no-report", cwd=tmp_path, env={"RAY_ADDRESS": ""}, timeout=300)
    assert refused.returncode == 2 and "sequential design" in refused.stderr, refused.stderr

    # The report of this run shows the decision and the seeds saved against the fixed plan.
    built = run_cli("report", str(run), "--plugin", "constant_net.py", cwd=tmp_path, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    html = (run / "report.html").read_text()
    assert "spent 6 seeds of 18 (33%)</b>" in html
