"""Results never come from another configuration, and every bad input is one clear line.

The commands run in this process (``benchmark.cli.main``): a user error returns 2 with one
``error:`` line, a bug returns 1 and names the file that holds its traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main

TINY = [
    "--profile",
    "quick",
    "--max-steps",
    "2",
    "--option",
    "window=[5,16,16]",
    "--option",
    "width=0.0625",
    "--option",
    "spacing=[2,16,16]",
    "--option",
    "save_probabilities=false",
    "--option",
    "early_stop_miou=0",
]


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in ``tmp_path`` on small blob volumes (``--train-image ...``): the quick phantom
    would make every instance here take tens of seconds."""
    from tests.benchmark.conftest import blob_volume

    data = []
    for split, shape, seed in (("train", (8, 24, 24), 1), ("eval", (6, 24, 24), 2)):
        volume = blob_volume(shape, seed)
        for kind, array in (("image", volume.image), ("labels", volume.labels)):
            np.save(tmp_path / f"{split}-{kind}.npy", array)
            data += [f"--{split}-{kind}", str(tmp_path / f"{split}-{kind}.npy")]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(f"{__name__}.TINY", [*TINY, *data])
    return tmp_path


def test_train_resumes_the_same_configuration_and_refuses_any_other(capsys, in_tmp):
    out_dir = str(in_tmp / "inst")
    code, out, err = _main(capsys, "train", "--arch", "2d3d_3x3x3", *TINY, "--out", out_dir)
    assert code == 0, err
    code, out, err = _main(capsys, "train", "--arch", "2d3d_3x3x3", *TINY, "--out", out_dir)
    assert code == 0 and "resumed 2d3d_3x3x3 seed 0 at step 2/2" in out, out + err
    np.save(in_tmp / "other.npy", np.load(in_tmp / "eval-labels.npy")[::-1].copy())
    refusals = {
        "train.lr: 0.003 -> 0.01": ["--arch", "2d3d_3x3x3", "--option", "lr=0.01"],
        "train.max_steps: 2 -> 3": ["--arch", "2d3d_3x3x3", "--max-steps", "3"],
        "data.files.eval_labels.path": [
            "--arch",
            "2d3d_3x3x3",
            "--eval-labels",
            str(in_tmp / "other.npy"),
        ],
        "seed: 0 -> 1": ["--arch", "2d3d_3x3x3", "--seed", "1"],
        "build_options.predictor_relu": [
            "--arch",
            "2d3d_3x3x3",
            "--arch-option",
            "predictor_relu=false",
        ],
        "architecture.name: '2d3d_3x3x3' -> '2d3d_no_multiloss'": ["--arch", "2d3d_no_multiloss"],
    }
    for expected, args in refusals.items():
        code, out, err = _main(capsys, "train", *TINY, *args, "--out", out_dir)
        assert code == 2, (expected, out, err)
        assert expected in err and "trained under another configuration" in err, (expected, err)
        assert f"Delete {out_dir}" in err and len(err.strip().splitlines()) == 1
    # Without --out, each configuration gets its own folder: nothing collides.
    for lr in ("0.003", "0.01"):
        assert _main(capsys, "train", "--arch", "2d3d_3x3x3", *TINY, "--option", f"lr={lr}")[0] == 0
    folders = sorted(p.name for p in (in_tmp / "results" / "train").iterdir())
    assert len(folders) == 2 and all(f.startswith("2d3d_3x3x3-seed0-") for f in folders)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--option", "lr=abc"], "training option lr takes a number, got 'abc'"),
        (["--option", "lr=0"], r"lr must be in (0, 1]"),
        (["--option", "lr=1e9"], r"lr must be in (0, 1]"),
        (["--option", "batch_size=0"], "batch_size must be a positive integer"),
        (["--option", "threads=-1"], "threads must be a positive integer"),
        (["--option", "reflect=maybe"], "reflect takes true/false"),
        (["--option", "amp=fp8"], "amp must be one of"),
        (["--option", "max_steps=2.5"], "max_steps takes an integer"),
        (["--option", "early_stop_miou=2"], r"early_stop_miou must be in [0, 1]"),
        (["--option", "bogus=1"], "unknown training option(s) ['bogus']"),
        (["--arch-option", "bogus=1"], "2d3d_3x3x3 has no builder option(s) ['bogus']"),
        (["--phantom-seed", "3", "--org-classes", "2,3"], "the built-in phantom has its own"),
    ],
)
def test_bad_options_fail_before_any_work(capsys, args, message):
    code, out, err = _main(capsys, "train", "--arch", "2d3d_3x3x3", "--profile", "quick", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["--max-steps", "0"], ["--max-steps", "-3"], ["--seed", "-1"], ["--phantom-seed", "x"]],
)
def test_bad_numbers_are_refused_by_the_parser(capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--arch", "2d3d_3x3x3", *args])
    assert exit_info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_class_list_with_a_typo_names_the_flag(capsys, tmp_path):
    vols = []
    for name in ("ti", "tl", "ei", "el"):
        np.save(tmp_path / f"{name}.npy", np.zeros((2, 4, 4), np.uint8))
        vols.append(str(tmp_path / f"{name}.npy"))
    flags = ["--train-image", "--train-labels", "--eval-image", "--eval-labels"]
    data = [x for pair in zip(flags, vols) for x in pair]
    code, _, err = _main(capsys, "train", "--arch", "2d3d_3x3x3", *data, "--org-classes", "2,x")
    assert code == 2 and "--org-classes takes class ids like 2,3,4, got '2,x'" in err


def test_segment_checks_its_output_path_before_any_work(capsys, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    missing = str(tmp_path / "nowhere.pt")
    for output, message in [
        (str(folder), "name the file to write"),
        (str(tmp_path / "seg.png"), "ending in .tif/.tiff"),
    ]:
        code, _, err = _main(
            capsys, "segment", "--checkpoint", missing, "--input", missing, "--output", output
        )
        assert code == 2 and message in err, err
    assert not list(folder.iterdir())


def test_segment_refuses_members_of_different_classes(capsys, tmp_path, tiny_dataset):
    from benchmark.data import Dataset, Volume
    from benchmark.training.instance import train_instance
    from tests.benchmark.training.test_train import TINY as TINY_CONFIG

    two = Dataset(
        *(
            Volume(v.image, (v.labels > 0).astype(v.labels.dtype), v.name)
            for v in (tiny_dataset.train, tiny_dataset.eval, tiny_dataset.test)
        ),
        class_names=("background", "object"),
        org_classes=(1,),
    )
    config = TINY_CONFIG.replace(max_steps=1, save_probabilities=False)
    a = train_instance("2d3d_no_pyramid", 0, tiny_dataset, config, checkpoint_dir=tmp_path / "a")
    b = train_instance("2d3d_no_pyramid", 0, two, config, checkpoint_dir=tmp_path / "b")
    np.save(tmp_path / "vol.npy", tiny_dataset.eval.image)
    code, _, err = _main(
        capsys,
        "segment",
        "--checkpoint",
        a.checkpoint_best,
        "--checkpoint",
        b.checkpoint_best,
        "--input",
        str(tmp_path / "vol.npy"),
        "--output",
        str(tmp_path / "seg.tif"),
    )
    assert code == 2 and "trained on different classes" in err, err
    assert not (tmp_path / "seg.tif").exists()


def test_a_full_disk_is_reported_as_such(capsys, in_tmp, monkeypatch):
    import torch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "best.pt")

    monkeypatch.setattr(torch, "save", full)
    code, _, err = _main(capsys, "train", "--arch", "2d3d_no_pyramid", *TINY, "--out", "x")
    assert code == 2 and "the disk is full while writing best.pt" in err, err
    assert not [p for p in (in_tmp / "x").rglob("*") if p.is_file()]  # nothing half-written


def test_a_bug_names_its_saved_traceback_and_debug_shows_it(capsys, monkeypatch):
    import benchmark.cli.architectures as commands

    def broken(args):
        raise RuntimeError("deliberate")

    monkeypatch.setattr(commands, "cmd_list", broken)
    monkeypatch.setattr("benchmark.cli.COMMAND_MODULES", ["benchmark.cli.architectures"])
    code, _, err = _main(capsys, "list")
    assert code == 1 and "an internal error (RuntimeError: deliberate)" in err
    saved = Path(err.split("the traceback is in ")[1].split(" (or rerun")[0])
    assert "raise RuntimeError" in saved.read_text()
    with pytest.raises(RuntimeError, match="deliberate"):
        main(["list", "--debug"])


def test_the_cli_shows_the_sequential_design_defaults():
    from analysis.sequential import SequentialDesign
    from benchmark.cli.options import DESIGN_DEFAULTS

    design = SequentialDesign()
    assert {k: getattr(design, k) for k in DESIGN_DEFAULTS} == DESIGN_DEFAULTS


def test_a_suite_naming_an_architecture_twice_is_refused(capsys, tmp_path):
    suite = tmp_path / "dup.toml"
    suite.write_text('name = "d"\narchitectures = ["2d3d_3x3x3", "2d3d_3x3x3"]\n')
    code, _, err = _main(capsys, "run", "--suite", str(suite), "--results", str(tmp_path))
    assert code == 2 and "['2d3d_3x3x3'] are listed more than once" in err


def test_a_broken_color_table_is_an_error_even_for_integer_labels(capsys, in_tmp):
    (in_tmp / "colors.json").write_text('{"0": [0, 0')
    code, _, err = _main(
        capsys, "train", "--arch", "2d3d_3x3x3", *TINY, "--color-table", "colors.json"
    )
    assert code == 2 and "colors.json: cannot parse the color table" in err
