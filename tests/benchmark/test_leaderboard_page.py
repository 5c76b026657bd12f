"""The leaderboard page in a real browser: headless Chromium renders it to a screenshot (`.ci/run` installs Debian's
chromium so CI always runs this; on a machine without it the test is skipped)."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark import leaderboard as lb
from klish.visualize import save_png

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _screenshot(page, shot, width: int, height: int) -> np.ndarray:
    """The page rendered by headless Chromium at width x height, as RGB pixels."""
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             f"--screenshot={shot}", f"--window-size={width},{height}", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert shot.is_file(), result.stderr[-2000:]
    return np.asarray(Image.open(shot).convert("RGB"))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_page_renders_in_headless_chromium(tmp_path):
    summary = pd.DataFrame([
        {"task": "ufs", "domain": d, "method": m, "metric": "miou_real_fg", "mean": v, "std": 0.01, "n_seeds": 1,
         "higher_is_better": True}
        for d in ("face", "car") for m, v in (("klish", 0.4), ("supervised", 0.7))])
    strip = tmp_path / "strip.png"
    save_png(strip, np.tile(np.array([[255, 0, 0], [0, 0, 255]], np.uint8), (40, 40, 1)))
    page = tmp_path / "index.html"
    page.write_text(lb.html_page(summary, {("face", "klish"): strip}, {"ufs": "note"}))
    pixels = _screenshot(page, tmp_path / "shot.png", 1000, 1400)
    assert pixels.shape[:2] == (1400, 1000)
    # text, table borders, the bar chart and the red/blue strip all drew something
    assert (pixels.reshape(-1, 3).std(axis=0) > 10).all()
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)).sum() > 100  # the strip's red


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_first_screen_is_the_summary(tmp_path):
    # many metrics make a long detail section; the summary (headline tables and a mask strip) must fill the first
    # screen, so the strip's red shows within its first 800 px although the detail pushes the samples far down
    summary = pd.DataFrame([
        {"task": task, "domain": d, "method": m, "metric": f"{task}_metric{i}", "mean": v, "std": 0.01, "n_seeds": 1,
         "higher_is_better": True}
        for task in ("clustering", "ufs") for i in range(4) for d in ("face", "car")
        for m, v in (("klish", 0.4), ("kmeans", 0.3))])
    strip = tmp_path / "strip.png"
    save_png(strip, np.tile(np.array([[255, 0, 0], [0, 0, 255]], np.uint8), (40, 200, 1)))
    page = tmp_path / "index.html"
    page.write_text(lb.html_page(summary, {("face", "klish"): strip}, {}, headlines={
        "clustering": "clustering_metric0", "ufs": "ufs_metric0"}))
    pixels = _screenshot(page, tmp_path / "shot.png", 1280, 800)
    assert pixels.shape[:2] == (800, 1280)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 1000  # the summary's strip is on the first screen
    text = page.read_text()
    assert text.index("id='summary'") < text.index("<h3>clustering_metric1</h3>")
