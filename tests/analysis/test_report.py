"""The HTML report: sections, self-containment, missing inputs, PNG encoding, and the page in
headless Chromium (skipped where /usr/bin/chromium or /usr/bin/chromedriver is missing)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.analyze import AnalysisReport
from analysis.report import build_report, png_bytes, slice_stacks
from analysis.report.theme import architecture_colors, metric_label
from benchmark.data.platelet import PLATELET_CLASSES

CLASSES = PLATELET_CLASSES
ORG = (2, 3, 4, 5, 6)
ARCHS = {
    "2d3d_3x3x3": 0.80,
    "2d3d_no_3x3x3": 0.80,
    "2d3d_no_multiloss": 0.77,
    "2d3d_no_pyramid": 0.75,
}
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# 3 distributions, matrix, forest, ensembles, best-of-k, training, classes, and the
# critical-difference diagram when the analysis has a Friedman test (AnalysisReport.friedman).
N_FIGURES_FULL = 9 + ("friedman" in AnalysisReport.__dataclass_fields__)


# ----------------------------------------------------------------------------- fake run dir
def _scores(rng: np.random.Generator, mu: float, n: int) -> dict[str, np.ndarray]:
    """Per-class IoUs around ``mu`` and the MIoUs computed from them, for one split."""
    offsets = np.array([0.15, 0.2, 0.0, -0.05, 0.02, -0.1, -0.2])
    iou = np.clip(mu + offsets[None, :] + rng.normal(0, 0.02, (n, len(CLASSES))), 0, 1)
    out = {f"iou_{c}": iou[:, i] for i, c in enumerate(CLASSES)}
    out["miou_all"] = iou.mean(axis=1)
    out["miou_org"] = iou[:, list(ORG)].mean(axis=1)
    return out


def make_fake_run(
    path: Path,
    archs: dict[str, float] | None = None,
    n_seeds: int = 26,
    *,
    seed: int = 0,
    failed: int = 1,
    run_json: bool = True,
    curves: bool = True,
    ensembles: bool = True,
    predictions: bool = True,
    test_volume: bool = True,
    shape: tuple[int, int, int] = (12, 96, 80),
) -> Path:
    """A realistic run directory (the contract of ``python -m benchmark run`` + ``ensembles``).

    No training: scores are drawn around each architecture's mean, with a per-seed effect shared
    by all architectures (paired seeds); ``failed`` instances of the last architecture fail.
    """
    rng = np.random.default_rng(seed)
    archs = archs or ARCHS
    path.mkdir(parents=True, exist_ok=True)
    seed_effect = rng.normal(0, 0.008, n_seeds)
    rows, curve_rows = [], []
    for a_index, (arch, mu) in enumerate(archs.items()):
        splits = {
            s: _scores(rng, mu - (0.02 if s == "test" else 0), n_seeds) for s in ("eval", "test")
        }
        for s in range(n_seeds):
            row = dict(architecture=arch, seed=s, status="finished", error=None)
            for split, values in splits.items():
                if split == "test" and not test_volume:
                    continue
                for key, v in values.items():
                    row[f"{split}_{key}"] = float(v[s] + seed_effect[s])
            steps = 600
            best = int(rng.integers(100, steps + 1))
            row.update(
                final_eval_miou_all=row["eval_miou_all"] - 0.004,
                final_eval_miou_org=row["eval_miou_org"] - 0.004,
                best_step=best,
                steps=steps,
                epochs=steps / 245,
                params=10_283_406 - 400_000 * a_index,
                wall_time_s=float(rng.uniform(900, 1100)),
                trial_id=f"abc_{a_index:02d}{s:03d}",
                node_id="node0",
                checkpoint_best=f"{path}/tune/{arch}_{s}/best.pt",
                checkpoint_final=f"{path}/tune/{arch}_{s}/last.pt",
            )
            rows.append(row)
            for step in range(100, steps + 1, 100):
                frac = min(1.0, step / best)
                curve = dict(
                    architecture=arch,
                    seed=s,
                    step=step,
                    epoch=step / 245,
                    train_loss=2.0 * np.exp(-step / 300) + 0.3,
                    lr=0.003 * 0.75 ** (step // 200),
                    elapsed_s=step * 1.7,
                    eval_miou_all=row["eval_miou_all"] * (0.6 + 0.4 * frac),
                    eval_miou_org=row["eval_miou_org"] * (0.5 + 0.5 * frac),
                )
                curve.update({f"eval_iou_{c}": row[f"eval_iou_{c}"] * frac for c in CLASSES})
                curve_rows.append(curve)
    instances = pd.DataFrame(rows)
    last = list(archs)[-1]
    for s in range(failed):
        i = instances.index[(instances["architecture"] == last) & (instances["seed"] == s)][0]
        metric_cols = [c for c in instances.columns if c.startswith(("eval_", "test_", "final_"))]
        instances.loc[i, metric_cols] = np.nan
        instances.loc[i, ["status", "error"]] = ["failed", "RuntimeError: CUDA out of memory"]
    instances.to_parquet(path / "instances.parquet")
    if curves:
        pd.DataFrame(curve_rows).to_parquet(path / "curves.parquet")
    if run_json:
        meta = dict(
            suite="ablations",
            suite_description="2D-3D+3x3x3 and its three ablations (paper Table 1 a/b)",
            architectures=list(archs),
            seeds=list(range(n_seeds)),
            profile="quick",
            data=dict(kind="phantom", profile="quick", seed=0),
            train_overrides={},
            configs={a: dict(profile="quick", window=[5, 32, 32], width=0.125) for a in archs},
            plugins=[],
            experiments=[dict(name="tune")],
            invocations=[
                dict(
                    command="python -m benchmark run --suite ablations --name fake",
                    started="2026-11-24T18:00:00",
                    ended="2026-11-24T19:00:00",
                    complete=True,
                    wall_time_s=3600.0,
                    resources=dict(cpu=1.0),
                    cluster=dict(CPU=2.0),
                    address="local",
                )
            ],
            versions=dict(torch="2.13.0+cpu", plotly="7.1.0"),
            git_revision="0123abc",
            hardware=dict(host="vm", cpus=2, cuda_devices=[]),
        )
        (path / "run.json").write_text(json.dumps(meta))
    usable = instances[instances["status"] == "finished"]
    if ensembles:
        _fake_ensembles(usable, rng, test_volume).to_parquet(path / "ensembles.parquet")
    if predictions:
        _fake_predictions(path, list(archs), rng, shape, test_volume)
    return path


def _fake_ensembles(usable: pd.DataFrame, rng, test_volume: bool) -> pd.DataFrame:
    rows = []
    metrics = ["eval_miou_all", "eval_miou_org"] + (
        ["test_miou_all", "test_miou_org"] if test_volume else []
    )
    for arch, group in usable.groupby("architecture"):
        group = group.sort_values("eval_miou_all", ascending=False)
        for k in range(1, len(group) + 1):
            gain = 0.02 * (1 - np.exp(-(k - 1) / 3))
            top = dict(architecture=arch, selection="top", k=k, draws=1)
            top["members"] = ",".join(map(str, group["seed"].iloc[:k]))
            rand = dict(architecture=arch, selection="random", k=k, draws=20, members="")
            for m in metrics:
                top[m] = float(group[m].iloc[:k].mean() + gain)
                rand[m] = float(group[m].mean() + gain)
                rand[f"{m}_low"] = rand[m] - 0.01 / np.sqrt(k)
                rand[f"{m}_high"] = rand[m] + 0.01 / np.sqrt(k)
            rows += [top, rand]
    return pd.DataFrame(rows)


def _blobs(rng, shape) -> np.ndarray:
    """Labels: a cell on background with round organelles of the other classes."""
    z, x, y = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    labels = np.zeros(shape, np.uint8)
    labels[(x - shape[1] / 2) ** 2 + (y - shape[2] / 2) ** 2 < (0.45 * min(shape[1:])) ** 2] = 1
    for c in range(2, 7):
        for _ in range(3):
            cz, cx, cy = (rng.uniform(0, n) for n in shape)
            r = rng.uniform(3, 8)
            labels[((z - cz) * 3) ** 2 + (x - cx) ** 2 + (y - cy) ** 2 < r**2] = c
    return labels


def _fake_predictions(path: Path, archs, rng, shape, test_volume: bool) -> None:
    arrays = {}
    for split in ("eval", "test") if test_volume else ("eval",):
        labels = _blobs(rng, shape)
        image = (labels * -0.5 + rng.normal(0, 0.6, shape)).astype(np.float16)
        arrays[f"image__{split}"], arrays[f"labels__{split}"] = image, labels
        for arch in archs:
            seg = labels.copy()
            flip = rng.random(shape) < 0.05
            seg[flip] = rng.integers(0, 7, flip.sum())
            arrays[f"{arch}__{split}"] = seg
    (path / "ensembles").mkdir(exist_ok=True)
    np.savez_compressed(
        path / "ensembles" / "predictions.npz", class_names=np.array(CLASSES), **arrays
    )


# -------------------------------------------------------------------------------- helpers
def figure_specs(text: str) -> list[dict]:
    """The plotly figures embedded in a report."""
    pattern = (
        r'<script type="application/json" class="plotly-figure" data-target="[^"]+">(.*?)</script>'
    )
    return [json.loads(s) for s in re.findall(pattern, text, flags=re.S)]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    """4 architectures x 26 seeds with every optional input; prints the generation time."""
    run = make_fake_run(tmp_path_factory.mktemp("report") / "run")
    started = time.perf_counter()
    path = build_report(run)
    elapsed = time.perf_counter() - started
    size = path.stat().st_size / 1e6
    print(
        f"\nbuild_report (4 x 26 fake run, 10,000 resamples, in process): {elapsed:.1f} s, {size:.2f} MB"
    )
    return path


# ---------------------------------------------------------------------------------- tests
def test_full_report_sections(full_report: Path):
    assert full_report.name == "report.html"
    text = full_report.read_text()
    for anchor in (
        "run",
        "table1",
        "distributions",
        "comparisons",
        "limits",
        "ensembles",
        "power",
        "training",
        "classes",
        "slices",
        "notes",
    ):
        assert f'<section id="{anchor}">' in text
    assert len(figure_specs(text)) == N_FIGURES_FULL
    assert ('<section id="ranks">' in text) == (N_FIGURES_FULL == 10)
    assert '<section id="sequential">' not in text  # a fixed-seed run
    assert text.count('class="viewer"') == 2  # eval and test volumes
    main = text.split("<main>")[1].split('<section id="notes">')[0]
    assert "omitted" not in main
    # metadata, Table 1 sections and the failed instance
    assert "python -m benchmark run --suite ablations --name fake" in text
    assert "0-25 (26 seeds)" in text and "0123abc" in text
    assert "(a) ensembles" in text and "(b) single instances" in text
    assert "Top-" in text and "CUDA out of memory" in text
    # the power table has one row per pair
    power = text.split('<section id="power">')[1].split("</section>")[0]
    assert power.count("<tr>") == 1 + 6


def test_self_contained(full_report: Path):
    import plotly.offline

    bundle = plotly.offline.get_plotlyjs()
    full = full_report.read_text()
    assert full.count(bundle[:300]) == 1  # plotly.js embedded exactly once
    text = full.replace(bundle, "")
    assert not re.search(r"""<script[^>]+src=""", text)
    assert not re.search(r"""<link[^>]+href=["']?https?:""", text)
    assert not re.search(r"""<img[^>]+src=["']?https?:""", text)
    assert len(text) < 3_000_000


def test_distribution_hover_and_colors(full_report: Path):
    specs = figure_specs(full_report.read_text())
    colors = architecture_colors(list(ARCHS))
    dist = specs[0]
    assert dist["layout"]["title"]["text"].startswith(
        f"Distribution of {metric_label('eval_miou_all')}"
    )
    points = [t for t in dist["data"] if t["type"] == "scatter" and t["mode"] == "markers"]
    assert [t["name"] for t in points] == list(ARCHS)
    for t in points:
        assert t["marker"]["color"] == colors[t["name"]]
        assert "seed %{customdata[0]}" in t["hovertemplate"]
        seeds = sorted(int(row[0]) for row in t["customdata"])
        n = 25 if t["name"] == "2d3d_no_pyramid" else 26  # seed 0 failed
        assert seeds == list(range(26 - n, 26))
    # the same architecture has the same color in the training curves
    training = next(s for s in specs if s["layout"]["title"]["text"].startswith("Training curves"))
    assert {t["name"]: t["line"]["color"] for t in training["data"]} == colors
    for spec in specs:  # transparent backgrounds for light and dark pages
        assert spec["layout"]["template"]["layout"]["paper_bgcolor"] == "rgba(0,0,0,0)"


def test_architecture_colors_do_not_depend_on_order():
    names = ["b", "a10", "a2"]
    assert architecture_colors(names) == architecture_colors(sorted(names))
    assert list(architecture_colors(names)) == ["a2", "a10", "b"]


def test_missing_optional_inputs(tmp_path):
    run = make_fake_run(
        tmp_path / "run", n_seeds=5, curves=False, ensembles=False, predictions=False
    )
    out = build_report(run, tmp_path / "r.html", n_resamples=500)
    text = out.read_text()
    assert "no ensembles.parquet: ensemble curves omitted" in text
    assert "no curves.parquet: training curves omitted" in text
    assert "no ensembles/predictions.npz: slice viewer omitted" in text
    assert "section (a) omitted" in text  # Table 1 without ensembles
    # distributions (3), matrix, forest, best-of-k, classes (and the ranks, see N_FIGURES_FULL)
    assert len(figure_specs(text)) == N_FIGURES_FULL - 2
    assert not (run / "report.html").exists()


def test_no_test_volume(tmp_path):
    run = make_fake_run(tmp_path / "run", n_seeds=4, test_volume=False, failed=0)
    text = build_report(run, n_resamples=500).read_text()
    assert text.count('class="viewer"') == 1 and 'data-split="eval"' in text
    specs = figure_specs(text)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert not any(metric_label("test_miou_org") in t for t in titles[:3])
    assert "no failed instances" in text


def test_plain_table_without_run_json(tmp_path):
    run = make_fake_run(tmp_path / "run", n_seeds=4, run_json=False, predictions=False)
    table = pd.read_parquet(run / "instances.parquet")
    csv = tmp_path / "scores.csv"
    table.to_csv(csv, index=False)
    out = build_report(csv, n_resamples=500)
    assert out == tmp_path / "scores.report.html"
    text = out.read_text()
    assert "no run.json: metadata unavailable" in text
    assert "no curves.parquet" in text and "status failed" in text


def test_all_instances_failed(tmp_path):
    run = make_fake_run(
        tmp_path / "run",
        {"only": 0.8},
        n_seeds=2,
        failed=2,
        curves=False,
        ensembles=False,
        predictions=False,
    )
    text = build_report(run).read_text()
    assert "no usable instance: statistics omitted" in text
    assert figure_specs(text) == []


def test_report_reuses_analysis_and_reference(tmp_path):
    from analysis.analyze import analyze

    run = make_fake_run(tmp_path / "run", n_seeds=6, predictions=False)
    report = analyze(run, reference="2d3d_no_pyramid", n_resamples=300, write=False)
    text = build_report(run, analysis=report).read_text()
    assert "reference <b>2d3d_no_pyramid</b>" in text and "300 resamples" in text
    with pytest.raises(ValueError, match="unknown reference"):
        build_report(run, reference="nope")


def _decode_png(data: bytes) -> tuple[str, np.ndarray, list[int] | None]:
    """(mode, pixels, RGB palette) of a PNG, read back with Pillow."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.mode, np.asarray(image), image.getpalette()


def test_png_round_trip():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 13), dtype=np.uint8)
    mode, pixels, _ = _decode_png(png_bytes(gray))
    assert mode == "L"
    np.testing.assert_array_equal(pixels, gray)
    idx = rng.integers(0, 3, (5, 4), dtype=np.uint8)
    data = png_bytes(idx, palette=[(1, 2, 3), (4, 5, 6), (7, 8, 9)], transparent=2)
    mode, pixels, palette = _decode_png(data)
    assert mode == "P" and palette[:9] == list(range(1, 10)) and b"tRNS" in data
    np.testing.assert_array_equal(pixels, idx)
    from PIL import Image

    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert (rgba[..., 3] == np.where(idx == 2, 0, 255)).all()  # index 2 is transparent
    with pytest.raises(ValueError):
        png_bytes(np.zeros((2, 2, 2)))


def test_slice_stacks_downsample_and_cap():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, (30, 150, 520), dtype=np.uint8)
    arrays = {
        "image__eval": rng.normal(size=labels.shape).astype(np.float16),
        "labels__eval": labels,
        "a__eval": labels,
    }
    (stack,) = slice_stacks(arrays, ["a"], max_side=256, max_slices=10)
    assert stack.split == "eval" and len(stack.z) == 10 and stack.z[0] == 0 and stack.z[-1] == 29
    assert stack.step == 3 and stack.shape == (30, 150, 520)
    _, pixels, _ = _decode_png(_uri_bytes(stack.image[0]))
    assert pixels.shape == (50, 173)
    _, errors, _ = _decode_png(_uri_bytes(stack.errors["a"][0]))
    assert errors.max() == 0  # a perfect prediction has no error


def _uri_bytes(uri: str) -> bytes:
    import base64

    return base64.b64decode(uri.split(",", 1)[1])


def test_cli_report(tmp_path, cli):
    run = make_fake_run(tmp_path / "run", n_seeds=3, predictions=False, ensembles=False)
    out = tmp_path / "cli.html"
    result = cli("report", str(run), "--out", str(out), "--metric", "eval_miou_org")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert "metric <b>eval_miou_org</b>" in out.read_text()
    bad = cli("report", str(run), "--reference", "nope")
    assert bad.returncode == 2 and "unknown reference" in bad.stderr


# ------------------------------------------------------------------------------- browser
@pytest.mark.slow
@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless Chromium test needs /usr/bin/chromium and /usr/bin/chromedriver",
)
def test_report_in_headless_chromium(full_report: Path, tmp_path: Path):
    pytest.importorskip("selenium", reason="selenium is not installed")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    shot = browse_report(full_report, tmp_path)
    driver = shot.pop("driver")
    try:
        figures = shot["figures"]
        assert len(figures) == N_FIGURES_FULL
        for f in figures:
            assert f["svg"] and f["width"] > 100 and f["height"] > 100, f
            assert f["traces"] > 0, f  # something was drawn
        assert shot["severe"] == [], shot["severe"]
        # moving the z slider changes the slice shown
        slider = driver.find_element(By.CSS_SELECTOR, ".viewer .zslider")
        viewer = driver.find_element(By.CSS_SELECTOR, ".viewer")
        before = viewer.find_element(By.CSS_SELECTOR, ".zlabel").text
        src = viewer.find_element(By.CSS_SELECTOR, "img.v-pred").get_attribute("src")
        slider.send_keys(Keys.ARROW_RIGHT)
        after = viewer.find_element(By.CSS_SELECTOR, ".zlabel").text
        assert before != after and before.startswith("z = ")
        assert viewer.find_element(By.CSS_SELECTOR, "img.v-pred").get_attribute("src") != src
        width = driver.execute_script(
            "return document.querySelector('.viewer img.v-image').naturalWidth"
        )
        assert width > 0
        # a dark system theme re-colors the figures' text and keeps their sizes
        heights = (
            "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(d => d.getBoundingClientRect().height)"
        )
        light_heights = driver.execute_script(heights)
        assert light_heights == [f["height"] for f in figures]
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        WebDriverWait(driver, 10).until(
            lambda d: (
                d.execute_script("return document.getElementById('fig-0').layout.font.color")
                == "#e6edf3"
            )
        )
        time.sleep(0.5)
        assert driver.execute_script(heights) == light_heights
        dark = tmp_path / "report-dark.png"
        driver.save_screenshot(str(dark))
        assert dark.stat().st_size > 20_000
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
    png = Path(shot["screenshot"])
    assert png.exists() and png.stat().st_size > 50_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def browse_report(path: Path, tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Opens a report in headless Chromium, waits for every figure and takes a screenshot.

    Returns the still open ``driver``, the per-figure render facts, SEVERE console entries and the
    screenshot path. Usable by hand: ``browse_report(Path("results/.../report.html"), Path("/tmp"))``.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(120)
        driver.get(path.resolve().as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.body.dataset.rendered") == "true"
        )
        figures = driver.execute_script(
            """
            return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (d) {
              var r = d.getBoundingClientRect();
              var drawn = d.querySelectorAll(
                '.overplot .mlayer path, .overplot .mlayer image');
              return {id: d.id, width: r.width, height: r.height,
                      svg: !!d.querySelector('svg.main-svg'), traces: drawn.length,
                      data: (d.data || []).length};
            });
            """
        )
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 100, 16000))
        time.sleep(1.0)  # let the responsive figures settle at the new size
        screenshot = screenshot or tmp_path / "report.png"
        driver.save_screenshot(str(screenshot))
        extra = os.environ.get("DCB_SCREENSHOT_DIR")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshot, Path(extra) / screenshot.name)
        driver.set_window_size(1280, 1000)
    except BaseException:
        driver.quit()
        raise
    return dict(driver=driver, figures=figures, severe=severe, screenshot=str(screenshot))
