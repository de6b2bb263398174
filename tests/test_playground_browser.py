"""The playground in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``), driven by Selenium.

It opens the page, chooses xor, presses Play, waits until the page shows a
loss below 0.05, takes a screenshot and checks in it that the plane is drawn
in two colours where xor's classes lie and that the training points are
marked; then Pause and one Step move the epoch by exactly one.

Skipped, saying why, where no browser can be had (Selenium, chromium or
chromedriver missing): the nox session ``playground`` installs all three.
``BACKPROP_XP_SCREENSHOT=PATH`` keeps the screenshot (docs/playground.png is one).
"""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import pytest
from conftest import TEST_ENV, selected_backends

from backprop_xp.playground import make_server

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(TEST_ENV)) and selected_backends() != ("numpy",),
    reason="the playground is tested in a browser on NumPy only",
)

BLUE, RED = np.array([33, 102, 172]), np.array([178, 24, 43])  # the points of class 0 and 1, as app.js draws them


def _browser() -> tuple[str, str]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="no browser here: Selenium is not installed "
                                    "(pip install -r backends/playground.txt, or run nox -s playground)")
    del webdriver
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(
            "no browser here: Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver, as root; nox -s playground does it)"
        )
    return chromium, driver


@pytest.fixture
def page():
    chromium, driver_path = _browser()  # skips, saying why, where there is no browser
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    server = make_server("127.0.0.1", 0, "numpy")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,1300", "--force-device-scale-factor=1", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(server.url)
        yield driver
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait(driver, condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"waited {seconds:g} s for {what}; the page shows epoch {driver.find_element('id', 'epoch').text}, "
                f"loss {driver.find_element('id', 'loss-value').text}, error {driver.find_element('id', 'error').text!r}")


def _idle(driver) -> bool:
    return driver.execute_script("return document.body.dataset.busy !== '1' && !state.playing")


def _loss(driver) -> float:
    try:
        return float(driver.find_element("id", "loss-value").text)
    except ValueError:
        return float("inf")


def test_xor_learnt_in_the_browser_shows_two_regions_and_the_points_and_step_is_one_epoch(page, tmp_path):
    from matplotlib.image import imread
    from selenium.webdriver.support.ui import Select

    driver = page
    _wait(driver, lambda: driver.execute_script("return state.info !== null"), 30, "the first session")
    Select(driver.find_element("id", "dataset")).select_by_value("xor")
    _wait(driver, lambda: driver.execute_script("return state.info.config.dataset === 'xor'"), 30, "the xor session")
    driver.find_element("id", "play").click()
    _wait(driver, lambda: _loss(driver) < 0.05, 120, "a loss below 0.05")
    driver.find_element("id", "pause").click()
    _wait(driver, lambda: _idle(driver), 30, "the last step in flight")
    assert _loss(driver) < 0.05

    shot = tmp_path / "playground.png"
    driver.save_screenshot(str(shot))
    if os.environ.get("BACKPROP_XP_SCREENSHOT"):
        shutil.copy(shot, os.environ["BACKPROP_XP_SCREENSHOT"])
    picture = np.round(imread(shot)[..., :3] * 255).astype(int)
    canvas = driver.find_element("id", "boundary").rect
    left, top = round(canvas["x"]) + 1, round(canvas["y"]) + 1  # inside its 1-px border
    size = round(canvas["width"]) - 2
    plane = picture[top:top + size, left:left + size]
    info = driver.execute_script("return state.info")
    x0, x1, y0, y1 = info["extent"]

    def pixel(x: float, y: float) -> tuple[int, int]:  # (row, column) of a point of the plane in `picture`
        return top + int((y1 - y) / (y1 - y0) * size), left + int((x - x0) / (x1 - x0) * size)

    # Two differently coloured regions: large parts of the plane blue (class 0) and red (class 1)...
    bluish = np.mean(plane[..., 2] > plane[..., 0] + 60)
    reddish = np.mean(plane[..., 0] > plane[..., 2] + 60)
    assert bluish > 0.2 and reddish > 0.2, (bluish, reddish)
    # ...where xor puts them: class 0 where the coordinates agree in sign, class 1 where they differ.
    # (The median colour of a patch, which markers cover only in part: its red against its blue.)
    for (x, y), label in [((0.6, 0.6), 0), ((-0.6, -0.6), 0), ((-0.6, 0.6), 1), ((0.6, -0.6), 1)]:
        r, c = pixel(x, y)
        red, _, blue = np.median(picture[r - 10:r + 11, c - 10:c + 11].reshape(-1, 3), axis=0)
        assert (red - blue > 40) if label else (blue - red > 40), ((x, y), red, blue)
    # The points: each one's class colour at its centre, a white halo and a dark rim around it, on
    # either background; every point that no later-drawn point covers (none within 10 px) is checked.
    where = np.array([pixel(x, y) for x, y in info["points"]])
    checked = marked = 0
    for k, ((r, c), label) in enumerate(zip(where, info["labels"])):
        if k + 1 < len(where) and np.hypot(*(where[k + 1:] - (r, c)).T).min() < 10:
            continue
        checked += 1
        centre = np.abs(picture[r, c] - (BLUE if label == 0 else RED)).max() < 40
        ring = picture[r - 8:r + 9, c - 8:c + 9].reshape(-1, 3)
        halo = np.any(np.all(ring > 215, axis=1)) and np.any(np.all(ring < 80, axis=1))
        marked += bool(centre and halo)
    assert checked > 50 and marked == checked, f"{marked} of {checked} uncovered points found in the picture"

    # Pause, then Step: exactly one epoch more, and no more after it.
    before = int(driver.find_element("id", "epoch").text)
    driver.find_element("id", "step").click()
    _wait(driver, lambda: int(driver.find_element("id", "epoch").text) != before and _idle(driver), 30, "one step")
    time.sleep(0.5)
    assert int(driver.find_element("id", "epoch").text) == before + 1
