import numpy as np
import pandas as pd
import pytest

from analysis.tables import table1, to_markdown, write_csv, write_markdown


@pytest.fixture
def small():
    instances = pd.DataFrame(
        {
            "architecture": ["2d3d_3x3x3"] * 3 + ["2d3d_no_pyramid"] * 2 + ["unet_original"] * 2,
            "seed": [0, 1, 2, 0, 1, 0, 1],
            "eval_miou_all": [0.80, 0.83, 0.81, 0.78, np.nan, 0.75, 0.76],
            "eval_miou_org": [0.70, 0.72, 0.71, 0.66, 0.65, 0.60, 0.61],
            "test_miou_org": [0.69, 0.70, 0.74, 0.64, 0.63, 0.58, 0.62],
            "params": [10_283_406] * 3 + [7_882_311] * 2 + [31_030_983] * 2,
        }
    )
    ensembles = pd.DataFrame(
        {
            "architecture": ["2d3d_3x3x3"] * 4 + ["2d3d_no_pyramid"],
            "selection": ["top", "top", "top", "random", "top"],
            "k": [2, 3, 5, 9, 2],
            "eval_miou_all": [0.84, 0.86, 0.85, 0.99, 0.80],
            "eval_miou_org": [0.73, 0.75, 0.74, 0.9, 0.68],
            "test_miou_org": [0.71, 0.72, 0.73, 0.9, 0.66],
        }
    )
    return instances, ensembles


def test_table1_layout(small):
    instances, ensembles = small
    t = table1(instances, ensembles)
    f = t.frame
    assert f["section"].tolist() == ["ensemble", "ensemble", "single", "single", "baseline"]
    assert f["label"].tolist() == [
        "Top-3 2d3d_3x3x3",
        "Top-2 2d3d_no_pyramid",
        "2d3d_3x3x3",
        "2d3d_no_pyramid",
        "unet_original",
    ]
    # k maximizes eval MIoU(all) among top-k ensembles (random ones are not candidates)
    top = f.iloc[0]
    assert (top["k"], top["eval_miou_all"], top["test_miou_org"]) == (3, 0.86, 0.72)
    assert top["params"] == 3 * 10_283_406
    # best single instance by eval MIoU(all), even though seed 2 has the best test score
    best = f.iloc[2]
    assert (best["seed"], best["eval_miou_all"], best["test_miou_org"]) == (1, 0.83, 0.70)
    assert f.iloc[3]["seed"] == 0  # the NaN instance is not a candidate
    assert (f.iloc[4]["seed"], f.iloc[4]["params"]) == (1, 31_030_983)
    assert t.notes == ()


def test_table1_without_ensembles_and_custom_baselines(small):
    instances, _ = small
    t = table1(instances, None, baselines={"2d3d_no_pyramid"})
    assert "section (a) omitted" in t.notes[0]
    assert t.frame["section"].tolist() == ["single", "single", "baseline"]
    assert t.frame["label"].tolist() == ["2d3d_3x3x3", "unet_original", "2d3d_no_pyramid"]
    md = to_markdown(t)
    assert "(a) ensembles" not in md and "- no ensemble results: section (a) omitted" in md


def test_markdown_and_csv(small, tmp_path):
    instances, ensembles = small
    t = table1(instances.drop(columns=["test_miou_org"]), ensembles)
    assert any("no test_miou_org" in n for n in t.notes)
    md = to_markdown(t)
    lines = md.splitlines()
    assert (
        lines[0] == "| Model | Eval MIoU (all) | Eval MIoU (org) | Test MIoU (org) | Parameters |"
    )
    assert "| Top-3 2d3d_3x3x3 | 0.860 | 0.750 | 0.720 | 30,850,218 |" in lines
    assert "| 2d3d_3x3x3 (seed 1) | 0.830 | 0.720 |  | 10,283,406 |" in lines
    assert "| **(c) baselines** |" + " |" * 4 in lines
    write_markdown(t, tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text() == md
    write_csv(t, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["label"].tolist() == t.frame["label"].tolist()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_table1_needs_the_selection_column(small):
    with pytest.raises(ValueError, match="no 'eval_miou_all' column"):
        table1(small[0].drop(columns=["eval_miou_all"]))
