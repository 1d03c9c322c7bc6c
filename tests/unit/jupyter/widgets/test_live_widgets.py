"""SessionControl and JobMonitor against a real ``nsight-lab up`` with a real profiled workload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nsight_lab.analysis_client import AnalysisClient
from nsight_lab.analysis_models import JobCreate
from nsight_lab.config import CliConfig
from nsight_lab.embedded.stack import free_port
from nsight_lab.jupyter.widgets import JobMonitor, SessionControl
from tests.support.jupyter_stack import ProfiledStack, profiled_stack
from tests.support.stack import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProfiledStack]:
    with profiled_stack(tmp_path_factory.mktemp("up"), tag="widgets") as running:
        yield running


def test_session_control_drives_a_whole_session_and_shows_its_files(stack: ProfiledStack) -> None:
    panel = SessionControl(config=stack.config)
    assert panel.tag == "widgets" and panel.gateway == stack.up.url
    assert [a["process_name"] for a in panel.agents] == ["trainer"]

    panel._on_custom_msg(panel, {"action": "begin", "title": "from the widget"}, [])
    assert panel.error == ""
    assert panel.session["title"] == "from the widget" and panel.session["state"] == "ACTIVE"

    panel.start()
    assert panel.error == "" and panel.session["collections"][0]["state"] == "RUNNING"
    wait_until(
        lambda: (
            panel.client.session(panel.session["session_id"])
            .collections[0]
            .participants[0]
            .state.value
            == "RECORDING"
        ),
        20,
        "the agent to record",
    )
    panel.stop()
    panel.wait_settled()
    assert panel.session["collections"][0]["state"] == "COMPLETED", panel.session
    names = {f["filename"] for f in panel.files}
    assert any(n.endswith(".speedscope.json") for n in names), names
    assert all(f["size"] > 0 and f["collection_index"] == 1 for f in panel.files)

    panel.end()
    assert panel.session["state"] == "ENDED" and panel.error == ""
    assert panel.message.startswith("ended session from the widget")


def test_session_control_shows_refusals_next_to_the_buttons(stack: ProfiledStack) -> None:
    panel = SessionControl(config=stack.config)
    panel.stop()  # nothing is recording
    assert panel.error.startswith("stop: ") and panel.busy is False
    panel._on_custom_msg(panel, {"action": "explode"}, [])
    assert "unknown action 'explode'" in panel.error


def test_an_unreachable_gateway_says_how_to_start_one() -> None:
    gw = f"http://127.0.0.1:{free_port()}"
    panel = SessionControl(config=CliConfig(gw=gw))
    assert panel.error == (
        f"refresh: cannot reach the nsight-lab gateway at {gw}: start one with "
        "`nsight-lab up` in a terminal, or point this kernel at yours with "
        "`%nsight configure --gw URL`"
    )


def test_job_monitor_follows_a_job_to_its_outputs(stack: ProfiledStack, tmp_path: Path) -> None:
    with stack.client() as client:
        if not client.sessions(tag=stack.tag):
            pytest.fail("the session test must run first in this module")
    analysis = AnalysisClient(stack.config)
    job = analysis.create_job(
        JobCreate(recipe="python_sampling_sum", tag=stack.tag, notebook=False, args={"top": 5})
    )
    monitor = JobMonitor(job, config=stack.config, poll_s=0.2)
    (info,) = monitor.wait(90)
    assert info.state.value == "succeeded", info.error
    wait_until(lambda: not monitor.polling, 10, "the polling thread to stop by itself")
    (shown,) = monitor.jobs
    assert shown["state"] == "succeeded" and shown["finished"] is True
    names = {o["name"] for o in shown["outputs"]}
    assert "stats.parquet" in names
    assert all(o["url"].startswith("http://127.0.0.1") for o in shown["outputs"])
    monitor.cancel("not-a-job")
    assert monitor.error == "cancel: not-a-job is not one of this monitor's jobs"
    monitor.close()


def test_job_monitor_needs_a_job() -> None:
    with pytest.raises(ValueError, match="at least one job"):
        JobMonitor([], config=CliConfig(gw="http://127.0.0.1:9"), start=False)
