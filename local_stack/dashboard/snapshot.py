"""A screenshot of the live dashboard, taken in Debian's headless Chromium through selenium:
``python -m local_stack snapshot --url DASHBOARD_URL --out dashboard.png``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class BrowserMissing(RuntimeError):
    """Chromium or its driver is not installed."""


def browser(width: int = 1600, height: int = 1300) -> Any:  # noqa: ANN401 - a selenium WebDriver
    """Headless Chromium with its console log kept (``get_log("browser")``)."""
    from selenium import webdriver  # noqa: PLC0415 - only the browser tests and snapshots need it
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    binary = shutil.which("chromium") or CHROMIUM
    driver = shutil.which("chromedriver") or CHROMEDRIVER
    if not (Path(binary).exists() and Path(driver).exists()):
        raise BrowserMissing(
            "Debian's chromium and chromium-driver are needed: `make browser` installs them "
            "(apt-get, as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def wait_rendered(driver: Any, timeout: float = 30.0) -> None:  # noqa: ANN401
    """Until the page has drawn its widgets with data at least once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script("return document.body.dataset.rendered === 'true'"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the dashboard did not render within {timeout:.0f} s")


def snapshot(url: str, out: Path, *, width: int = 1600, height: int = 1300, seconds: int = 900) -> Path:
    driver = browser(width, height)
    try:
        driver.get(f"{url}?range={seconds}")
        wait_rendered(driver)
        time.sleep(1.0)  # plotly finishes its first layout
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
    return out
