"""The Nsight panel in a real JupyterLab, against ``nsight-lab up`` with two real agents.

The journey a user takes: open the panel, begin a session, start and stop a
collection, see both agents' files, run a recipe from the Analysis form, open the
job's notebook; and the same panel readable in the dark theme.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import UpServer, Workload, wait_until
from tests.ui.lab_server import JupyterLabServer, choose_tag, open_panel

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(420)]

TAG = "ui"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[UpServer]:
    with UpServer(tmp_path / "up") as up:
        workloads = [
            Workload(up.url, TAG, name, process_name=f"trainer-{name}", seconds=300)
            for name in ("a", "b")
        ]
        try:

            def online() -> bool:
                with urllib.request.urlopen(f"{up.coordinator_url}tags/{TAG}/status") as answer:
                    agents = json.load(answer)["agents"]
                return sum(a["state"] == "ONLINE" for a in agents) == 2

            wait_until(online, 60, "two agents online")
            yield up
        finally:
            for workload in workloads:
                workload.stop()


def test_profile_analyse_and_open_the_notebook(
    browser_page: Any, lab: JupyterLabServer, screenshots: Path
) -> None:
    page = browser_page
    panel = open_panel(page, lab)

    # The tag is a choice of the known tags; its agents appear once it is chosen.
    tag = choose_tag(panel, TAG)
    tag.focus()
    page.keyboard.press("Tab")
    # Keyboard order follows the form: Tag, then the session title.
    assert page.evaluate("document.activeElement.id") == panel.get_by_label(
        "Session title"
    ).get_attribute("id")
    panel.get_by_text("trainer-a").wait_for()
    panel.get_by_text("trainer-b").wait_for()

    panel.get_by_label("Session title").fill("ui journey")
    panel.get_by_role("button", name="Begin session").click()
    panel.locator("button.jp-NsightLab-session", has_text="ui journey").wait_for()

    # Stopping with nothing running is refused, and the reason shows by the controls.
    panel.get_by_role("button", name="Stop", exact=True).click()
    controls = panel.get_by_role("region", name="Profiling controls")
    alert = controls.get_by_role("alert")
    alert.wait_for()
    assert "nothing is being profiled" in alert.inner_text()

    panel.get_by_role("button", name="Start", exact=True).click()
    panel.get_by_text("RUNNING").first.wait_for()
    assert alert.is_hidden()
    page.wait_for_timeout(3000)
    panel.get_by_role("button", name="Stop", exact=True).click()

    files = panel.locator(".jp-NsightLab-files tbody tr")
    wait_until(lambda: files.count() >= 2, 90, "both agents' reports listed")
    listed = files.all_inner_texts()
    assert any("trainer-a" in row for row in listed) and any("trainer-b" in row for row in listed)
    assert all(("B" in row) for row in listed)  # a size is shown for each file
    page.screenshot(path=str(screenshots / "1-profile-files.png"))

    # The palette knows the panel's commands.
    page.keyboard.press("Control+Shift+C")
    page.locator("input.lm-CommandPalette-input").fill("Nsight: Start")
    page.locator(".lm-CommandPalette-item", has_text="Nsight: Start profiling").wait_for()
    page.keyboard.press("Escape")

    panel.get_by_role("tab", name="Analysis").click()
    panel.get_by_label("Recipe", exact=True).select_option("python_sampling_sum")
    top = panel.get_by_label("Top", exact=True)
    top.wait_for()
    top.fill("-3")
    panel.get_by_role("button", name="Run recipe").click()
    panel.get_by_text("Top must be at least 0").wait_for()
    top.fill("5")
    panel.get_by_role("button", name="Run recipe").click()

    job = panel.locator("li.jp-NsightLab-job").first
    job.wait_for()
    page.locator('li.jp-NsightLab-job[data-state="succeeded"]').first.wait_for(timeout=150_000)
    page.screenshot(path=str(screenshots / "2-analysis-job.png"))

    page.locator('li.jp-NsightLab-job[data-state="succeeded"]').first.get_by_role(
        "button", name="Open notebook"
    ).click()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=".ipynb")
    tab.first.wait_for(timeout=60_000)
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)
    # The executed notebook arrives with its plots: the tab is ready once one renders.
    page.locator(".jp-NotebookPanel .jp-OutputArea-output img").first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots / "3-notebook-open.png"))
    opened = list((lab.root / "nsight-lab").glob("python_sampling_sum-*/*.ipynb"))
    assert len(opened) == 1


def test_panel_is_readable_in_the_dark_theme(
    browser_page: Any, lab: JupyterLabServer, screenshots: Path
) -> None:
    lab.use_theme("JupyterLab Dark")
    page = browser_page
    panel = open_panel(page, lab)
    assert page.evaluate("document.body.dataset.jpThemeLight") == "false"
    choose_tag(panel, TAG).blur()
    panel.get_by_text("trainer-a").wait_for()
    # Text and background come from the theme: light text on a dark panel.
    colours = panel.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )

    def luminance(css: str) -> float:
        r, g, b = (int(float(v)) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    text, background = colours
    assert luminance(text) > luminance(background) + 100, colours
    page.screenshot(path=str(screenshots / "4-dark-theme.png"))
