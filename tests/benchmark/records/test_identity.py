"""Instance identity: what decides a result, and what differs between two configurations."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import DataSpec
from benchmark.data.spec import file_fingerprint
from benchmark.records.identity import (
    architecture_identity,
    configuration_identity,
    identity_differences,
    identity_hash,
)
from benchmark.training.config import PROFILES


def _identity(**changes):
    config = PROFILES["quick"].replace(**changes.pop("train", {}))
    options = dict(width=0.125, in_channels=1, n_classes=7, **changes.pop("options", {}))
    data = changes.pop("data", DataSpec(kind="phantom", profile="quick").fingerprint())
    return configuration_identity(
        changes.pop("arch", "2d3d_3x3x3"), options, config.to_dict(), data
    )


def test_same_inputs_same_hash_and_each_difference_is_named():
    assert identity_hash(_identity()) == identity_hash(_identity())
    cases = {
        "train.lr: 0.003 -> 0.01": _identity(train={"lr": 0.01}),
        "build_options.predictor_relu: (absent) -> False": _identity(
            options={"predictor_relu": False}
        ),
        "data.seed: 0 -> 7": _identity(
            data=DataSpec(kind="phantom", profile="quick", seed=7).fingerprint()
        ),
        "architecture.name: '2d3d_3x3x3' -> '2d3d_no_pyramid'": _identity(arch="2d3d_no_pyramid"),
    }
    for expected, other in cases.items():
        assert identity_hash(other) != identity_hash(_identity())
        assert expected in identity_differences(_identity(), other), expected


def test_plugin_code_is_part_of_the_identity(tmp_path):
    from architectures import load_plugin
    from architectures.registry import unregister

    plugin = tmp_path / "ident_plugin.py"
    source = (
        "from architectures import register\n"
        "from architectures.nets.twod_threed import Net2D3D\n"
        "@register('ident_net', family='x', description='d', window=(5, 64, 64), accepts=Net2D3D)\n"
        "def ident_net(**kw):\n"
        "    return Net2D3D(**kw){}\n"
    )
    try:
        plugin.write_text(source.format(""))
        load_plugin(str(plugin))
        before = architecture_identity("ident_net")
        plugin.write_text(source.format("  # edited"))
        unregister("ident_net")
        load_plugin(str(plugin))
        after = architecture_identity("ident_net")
    finally:
        unregister("ident_net")
    assert before["code"] != after["code"] and before["code"].startswith("ident_plugin:")
    assert architecture_identity("2d3d_3x3x3")["code"].startswith("densecell-bench ")


def test_file_fingerprint_sees_content_size_and_time(tmp_path):
    path = tmp_path / "vol.npy"
    np.save(path, np.zeros((4, 8, 8), np.float32))
    first = file_fingerprint(path)
    assert first == file_fingerprint(path)
    np.save(path, np.ones((4, 8, 8), np.float32))
    assert file_fingerprint(path)["sample_sha256"] != first["sample_sha256"]
    assert file_fingerprint(tmp_path / "missing.npy")["missing"] is True
    assert file_fingerprint(f"{tmp_path / 'x.h5'}:raw")["path"].endswith("x.h5:raw")


@pytest.mark.parametrize("key", ["train_image", "eval_labels"])
def test_volume_specs_fingerprint_their_files(tmp_path, key):
    names = {}
    for split in ("train", "eval"):
        for kind in ("image", "labels"):
            names[f"{split}_{kind}"] = str(tmp_path / f"{split}-{kind}.npy")
            np.save(names[f"{split}_{kind}"], np.zeros((2, 4, 4), np.uint8))
    spec = DataSpec(kind="volumes", **names)
    before = spec.fingerprint()
    np.save(names[key], np.ones((2, 4, 4), np.uint8))
    assert spec.fingerprint()["files"][key] != before["files"][key]
