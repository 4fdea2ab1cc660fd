"""The HTML report in a real browser: headless Chromium opens the reports of a conformant and a broken run.

Skipped only when Chromium (Debian's ``chromium`` and ``chromium-driver``) is not installed; CI installs it.
Screenshots go to the test's tmp folder, and the conformant one also to /tmp/pie_report_screenshot.png.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pie_conformance.cli import main
from pie_conformance.reporters._html_sample import make_kept_run, sample_finding

CASES = Path(__file__).resolve().parents[1] / "cases"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EPOCHS = 3
SHOT = Path("/tmp/pie_report_screenshot.png")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def conformant(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """``pie-check run --html`` (no --keep: a temporary keep folder) on the kit's fast conformant script."""
    out = tmp_path_factory.mktemp("conformant") / "report.html"
    rc = main(
        [
            "run",
            str(CASES / "conformant" / "segmentation"),
            "--task",
            "segmentation",
            "--epochs",
            str(EPOCHS),
            "--scenario",
            "baseline",
            "--html",
            str(out),
        ]
    )
    return rc, out


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int, Path, Path]:
    """``pie-check run --keep`` on the OUT007 case, then ``pie-check report DIR --html FILE``."""
    base = tmp_path_factory.mktemp("broken")
    rc_run = main(
        [
            "run",
            str(CASES / "OUT007"),
            "--task",
            "segmentation",
            "--epochs",
            str(EPOCHS),
            "--scenario",
            "baseline",
            "--keep",
            str(base / "kept"),
            "--format",
            "json",
            "-o",
            str(base / "report.json"),
        ]
    )
    out = base / "report.html"
    rc_report = main(["report", str(base / "kept"), "--html", str(out)])
    return rc_run, rc_report, base / "kept", out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver, with the browser console's messages kept."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"Chromium is not installed ({CHROMIUM} and {CHROMEDRIVER}: Debian packages chromium and "
            "chromium-driver; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pie-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Flags that keep Chromium from reaching the network on its own (updates, sync, field trials).
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
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver: Any, page: Path, width: int = 1200) -> None:
    driver.set_window_size(width, 900)
    driver.get(page.resolve().as_uri())
    driver.get_log("browser")  # what an earlier page logged is not this page's


def _errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _screenshot(driver: Any, dest: Path, width: int) -> Path:
    """A full-page screenshot (the window made as tall as the page), checked to be a real picture."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(height + 140, 8000))
    driver.save_screenshot(str(dest))
    with Image.open(dest) as im:
        assert im.width >= width * 0.9 and im.height > 600
    return dest


def _shown(driver: Any, css: str) -> list[Any]:
    return [e for e in driver.find_elements("css selector", css) if e.is_displayed()]


def _viewer_state(driver: Any) -> tuple[str, int, list[str]]:
    viewer = driver.find_element("css selector", ".viewer")
    imgs = viewer.find_elements("css selector", "figure img")
    # Every picture decoded (a broken data URI would leave naturalWidth at 0).
    assert all(driver.execute_script("return arguments[0].naturalWidth", i) > 0 for i in imgs)
    return viewer.get_attribute("data-epoch"), len(imgs), [i.get_attribute("alt") for i in imgs]


def _step_through_epochs(driver: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    assert _viewer_state(driver)[:2] == (str(EPOCHS), 3)
    driver.find_element("css selector", '.viewer button[data-step="first"]').click()
    epoch, n, alts = _viewer_state(driver)
    assert (epoch, n) == ("1", 3) and alts[0] == "image.png at epoch 1: the input image"
    assert driver.find_element("css selector", ".viewer .epoch-label").text == f"Epoch 1 of {EPOCHS}"
    # Keyboard: the viewer takes focus and steps with the arrow keys, Home and End.
    viewer = driver.find_element("css selector", ".viewer")
    driver.execute_script("arguments[0].focus()", viewer)
    viewer.send_keys(Keys.ARROW_RIGHT)
    assert _viewer_state(driver)[:2] == ("2", 3)
    viewer.send_keys(Keys.END)
    assert _viewer_state(driver)[0] == str(EPOCHS)
    viewer.send_keys(Keys.HOME)
    assert _viewer_state(driver)[0] == "1"
    driver.find_element("css selector", '.viewer button[data-step="next"]').click()
    assert _viewer_state(driver)[0] == "2"


def _points(driver: Any, metric: str, split: str) -> int:
    css = f'svg.chart[data-metric="{metric}"][data-group="all"] g.series[data-split="{split}"] circle'
    return len(driver.find_elements("css selector", css))


def test_report_of_a_conformant_run(
    conformant: tuple[int, Path], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rc, page = conformant
    assert rc == 0 and page.is_file()
    driver = request.getfixturevalue("browser")
    _open(driver, page)
    assert driver.find_element("css selector", ".verdict-text").text == "CONFORMANT"
    assert driver.title.startswith("CONFORMANT: ")
    assert "No finding" in driver.find_element("id", "findings").text
    for metric in ("precision", "recall", "score", "loss"):
        assert (_points(driver, metric, "train"), _points(driver, metric, "valid")) == (EPOCHS, EPOCHS)
    _step_through_epochs(driver)
    assert _errors(driver) == []
    shot = _screenshot(driver, tmp_path / "conformant.png", 1200)
    shutil.copyfile(shot, SHOT)


def test_report_of_a_broken_run(
    broken: tuple[int, int, Path, Path], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rc_run, rc_report, kept, page = broken
    assert (rc_run, rc_report) == (1, 1)
    assert {p.name for p in kept.iterdir()} >= {"report.json", "dataset.json", "baseline"}
    driver = request.getfixturevalue("browser")
    _open(driver, page, width=400)
    assert driver.find_element("css selector", ".verdict-text").text == "NOT CONFORMANT"
    rule = driver.find_element("css selector", 'article.rule[data-rule="OUT007"]')
    assert "label.png" in rule.text and "How to fix:" in rule.text
    assert _points(driver, "loss", "valid") == EPOCHS
    _step_through_epochs(driver)
    # The finding's link steps the viewer to the finding's epoch.
    rule.find_element("css selector", "a.goto").click()
    assert _viewer_state(driver)[0] == "1"
    # A narrow screen: nothing wider than the window, the controls still on screen.
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 400
    assert len(_shown(driver, ".viewer button")) == 4
    assert _errors(driver) == []
    _screenshot(driver, tmp_path / "broken-narrow.png", 400)
    shutil.copyfile(tmp_path / "broken-narrow.png", SHOT.with_name("pie_report_screenshot_narrow.png"))
    # The narrowest common phone screen, emulated (a headless window may not shrink that far).
    metrics = {"width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.refresh()
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 320
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_untrusted_text_runs_nothing_in_the_browser(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    evil = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png, format="PNG")
    root = make_kept_run(
        tmp_path / "k",
        epochs=2,
        size=(32, 32),
        classes=(("background", 0, (0, 0, 0)), (evil, 1, (255, 0, 0))),
        findings=[sample_finding(message=evil, hint=evil, path=evil)],
        metrics={evil: evil},
        stderr=evil,
        returncode=1,
        extra_pictures={f"{evil[:40]}.png".replace("/", "_"): png.getvalue()},
    )
    page = tmp_path / "evil.html"
    assert main(["report", str(root), "--html", str(page)]) == 1
    driver = request.getfixturevalue("browser")
    _open(driver, page)
    assert driver.execute_script("return window.__pwned === undefined")
    assert evil in driver.find_element("id", "findings").text  # shown as text
    assert _viewer_state(driver)[1] == 4  # three pictures of the task and the extra file
    assert _errors(driver) == []
