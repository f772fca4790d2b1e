"""The template's dashboard as a person sees it: a real headless Chromium (Debian's) opens the
local stack's dashboard during a small load, and what the page shows is read from the page."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from websockets.sync.client import connect

from local_stack.dashboard.snapshot import browser, wait_rendered
from sam_template.model import load_template
from tests.e2e.conftest import start_stack
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HELD = 12


def template_widgets() -> list[dict]:
    """The DashboardBody's widgets as the template writes them (references left as text)."""
    (dashboard,) = load_template().of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]


def series(driver, title: str) -> dict[str, list[float]]:
    """Each series of the widget titled ``title``: its label and the values plotted."""
    return driver.execute_script(
        """
        const box = [...document.querySelectorAll('section.widget')]
          .find((w) => w.querySelector('h2').textContent === arguments[0]);
        const found = {};
        for (const item of box.querySelectorAll('.legend .series')) {
          found[item.dataset.label] = JSON.parse(item.dataset.values);
        }
        return found;
        """,
        title,
    )


def latest(driver, title: str, label: str) -> float | None:
    values = series(driver, title).get(label)
    return values[-1] if values else None


@pytest.fixture
def driver():
    chromium = browser()
    yield chromium
    chromium.quit()


def test_the_dashboard_shows_what_the_stack_does(tmp_path, driver):
    stack = start_stack(tmp_path, "--batch-window", "0.2", "--parameter-overrides", "GaugeWindowSeconds=2")
    try:
        driver.get(stack.ready["dashboardUrl"])
        wait_rendered(driver)

        # every widget of the template's DashboardBody, with its title, where it says
        shown = driver.execute_script(
            "return [...document.querySelectorAll('section.widget')].map((w) => "
            "[w.querySelector('h2').textContent, w.style.gridColumn, w.style.gridRow])"
        )
        expected = [
            [
                w["properties"]["title"],
                f"{w['x'] + 1} / span {w['width']}",
                f"{w['y'] + 1} / span {w['height']}",
            ]
            for w in template_widgets()
        ]
        assert shown == expected
        assert driver.find_elements("css selector", ".placeholder") == []  # nothing unsupported
        assert "No data yet" in driver.find_element("css selector", "section.widget").text

        with contextlib.ExitStack() as held:
            for n in range(HELD):
                held.enter_context(connect(f"{stack.url}?clientId=browser-{n}"))
            # active connections: the clients held open; connections per minute: the opened
            wait_for(lambda: latest(driver, "Active connections", "active") == HELD, timeout=60)
            wait_for(lambda: sum(series(driver, "Connections per minute").get("opened", [])) == HELD)
        # a lifetime percentile is plotted once the clients are gone
        wait_for(lambda: series(driver, "Connection lifetime (s)").get("p99"), timeout=60)
        assert all(0 < value < 120 for value in series(driver, "Connection lifetime (s)")["p99"])
        alarms = driver.find_elements("css selector", "#alarms li")
        assert {a.get_attribute("data-state") for a in alarms} <= {"OK", "INSUFFICIENT_DATA"}
        assert len(alarms) == len(load_template().of_type("AWS::CloudWatch::Alarm"))
        running_log = driver.get_log("browser")
    finally:
        stack.stop()

    # the page says plainly that the stack stopped
    wait_for(
        lambda: driver.find_element("tag name", "body").get_attribute("data-stack") == "stopped", timeout=20
    )
    assert "stopped" in driver.find_element("id", "status").text
    assert [entry for entry in running_log if entry["level"] == "SEVERE"] == []
    # after the stop only the refused request itself is logged, never a script error
    after = driver.get_log("browser")
    assert all(entry["source"] == "network" for entry in after if entry["level"] == "SEVERE"), after


def log_rows(driver, title: str) -> list[dict[str, str]]:
    """The rows of the log widget titled ``title``, as its table shows them."""
    return driver.execute_script(
        """
        const box = [...document.querySelectorAll('section.widget')]
          .find((w) => w.querySelector('h2').textContent === arguments[0]);
        return [...box.querySelectorAll('tbody tr')].map((tr) => JSON.parse(tr.dataset.row));
        """,
        title,
    )


def test_the_connected_now_table_lists_the_open_connections(tmp_path, driver):
    from tests.e2e.test_who_is_connected import open_scenario

    stack = start_stack(tmp_path, "--batch-window", "0.2", "--ttl-period", "0.3")
    try:
        with contextlib.ExitStack() as held:
            still_open = open_scenario(stack, held)
            driver.get(stack.ready["dashboardUrl"])
            wait_rendered(driver)
            expected = {(item["connectionId"], item["clientId"]) for item in still_open}
            # the log widget refreshes every 10 s: wait for the table to show the 18
            rows = wait_for(
                lambda: len(r := log_rows(driver, "Connected now")) == len(expected) and r, timeout=60
            )
            assert {(row["connectionId"], row["client"]) for row in rows} == expected
            headers = driver.execute_script(
                "return [...document.querySelectorAll('section.widget[data-type=\"log\"] th')]"
                ".map((th) => th.textContent)"
            )
            assert {"connectionId", "client", "since", "source"} <= set(headers)
            assert driver.find_elements("css selector", ".placeholder") == []
    finally:
        stack.stop()
