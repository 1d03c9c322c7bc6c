"""``%nsight`` and ``%%nsight_profile`` in a real IPython shell, against a real ``nsight-lab up``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from nsight_lab.embedded.stack import free_port
from nsight_lab.jupyter.magics import NsightMagics, load_ipython_extension
from tests.support.jupyter_stack import ProfiledStack, profiled_stack
from tests.support.stack import wait_until


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = start_ipython()
    assert shell is not None
    load_ipython_extension(shell)
    return shell


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProfiledStack]:
    with profiled_stack(tmp_path_factory.mktemp("up"), tag="magics") as running:
        yield running


@pytest.fixture
def configured(ip: InteractiveShell, stack: ProfiledStack) -> InteractiveShell:
    ip.run_line_magic("nsight", f"configure --gw {stack.up.url} --tag {stack.tag}")
    return ip


@pytest.mark.slow
def test_a_whole_session_from_magics_ends_in_a_recipe_dataframe(
    configured: InteractiveShell,
    stack: ProfiledStack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ip = configured
    monkeypatch.chdir(tmp_path)
    ip.run_line_magic("nsight", "status")
    assert "tag magics: 1 agent(s) online" in capsys.readouterr().out

    ip.run_line_magic("nsight", "begin --title 'magic run'")
    assert "began session magic run" in capsys.readouterr().out
    ip.run_line_magic("nsight", "start")
    with stack.client() as client:
        wait_until(
            lambda: (
                client.status(stack.tag).active_session.collections[0].participants[0].state.value  # type: ignore[union-attr]
                == "RECORDING"
            ),
            20,
            "the agent to record",
        )
    time.sleep(1.5)  # let py-spy gather samples of the workload
    ip.run_line_magic("nsight", "stop")
    assert "collection 1 COMPLETED (trainer/w0: UPLOADED)" in capsys.readouterr().out

    files = ip.run_line_magic("nsight", "ls")
    assert isinstance(files, pd.DataFrame) and len(files) >= 1
    assert any(name.endswith(".speedscope.json") for name in files["file"])

    monkeypatch.setenv("NSIGHT_LAB_TRACE_CACHE", str(tmp_path / "trace-cache"))
    timeline = ip.run_line_magic("nsight", f"view {files['file_id'].iloc[0]}")
    assert type(timeline).__name__ == "Timeline" and timeline.event_count > 0
    assert {row["kind"] for row in timeline.rows} == {"sample"}  # py-spy's Python stacks
    with pytest.raises(UsageError, match="give REPORT_ID"):
        ip.run_line_magic("nsight", "view")
    with pytest.raises(UsageError, match="nosuchfile"):
        ip.run_line_magic("nsight", "view nosuchfile")

    root = ip.run_line_magic("nsight", "download -o reports")
    assert root.parent == tmp_path / "reports" and any(root.rglob("*.speedscope.json"))

    hottest = ip.run_line_magic("nsight", "recipe python_sampling_sum --top 10")
    assert isinstance(hottest, pd.DataFrame) and len(hottest) <= 10
    # The demo workload spends its time in forward() (see nsight_lab/demo/workload.py).
    assert any(f.startswith("forward ") for f in hottest["Function"]), hottest["Function"].tolist()
    assert set(ip.magics_manager.registry["NsightMagics"].last_recipe.tables) == {"stats"}

    ip.run_line_magic("nsight", "end")
    assert "ended session magic run" in capsys.readouterr().out
    with pytest.raises(UsageError, match="has no active session"):
        ip.run_line_magic("nsight", "end")


def test_recipe_runs_over_given_reports_and_picks_a_table(
    ip: InteractiveShell, fixtures_dir: Path, tmp_path: Path
) -> None:
    report = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    df = ip.run_line_magic(
        "nsight", f"recipe cuda_gpu_kern_sum --input {report} --output {tmp_path / 'out'}"
    )
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert {"Name", "Instances", "Total Time (ns)"} <= set(df.columns)
    assert int(df["Instances"].sum()) == 1312  # every kernel of the fixture
    with pytest.raises(UsageError, match="no table 'nope'; it produced"):
        ip.run_line_magic("nsight", f"recipe cuda_gpu_kern_sum --input {report} --table nope")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "the following arguments are required: command"),
        ("launch", "invalid choice: 'launch'"),
        ("status --bogus", "unexpected argument"),
        ("begin --title 'unclosed", "No closing quotation"),
        ("recipe no_such_recipe --input x.sqlite", "no_such_recipe"),
        ("recipe cuda_gpu_kern_sum --input /nonexistent.sqlite", "nonexistent.sqlite"),
        ("recipe cuda_gpu_kern_sum stray", "unexpected argument 'stray'"),
    ],
)
def test_mistakes_are_one_line_usage_errors(ip: InteractiveShell, line: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        ip.run_line_magic("nsight", line)


def test_an_unreachable_gateway_says_to_run_nsight_lab_up(ip: InteractiveShell) -> None:
    gw = f"http://127.0.0.1:{free_port()}"
    magics = ip.magics_manager.registry["NsightMagics"]
    saved = magics.gw
    try:
        ip.run_line_magic("nsight", f"configure --gw {gw}")
        with pytest.raises(
            UsageError, match=r"cannot reach the nsight-lab gateway at .* `nsight-lab up`"
        ):
            ip.run_line_magic("nsight", "status")
    finally:
        magics.gw = saved


def test_nsight_profile_finds_the_hot_function_of_the_cell(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_cell(
        "def spin_hot(n):\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        total += i * i\n"
        "    return total\n"
    )
    ip.run_cell_magic(
        "nsight_profile",
        "--rate 250 --top 5",
        "from nsight_lab import annotate\nwith annotate('spin'):\n    answer = spin_hot(4_000_000)\n",
    )
    profile = ip.user_ns["_nsight_profile"]
    assert ip.user_ns["answer"] == sum(i * i for i in range(4_000_000))  # the cell really ran
    assert profile.sample_count >= 10
    assert profile.hottest.iloc[0]["Function"].startswith("spin_hot ")
    ranges = profile.trace.tables["ranges"].column("name").to_pylist()
    assert "spin" in ranges and "%%nsight_profile" in ranges
    out = capsys.readouterr().out
    assert "hottest: spin_hot" in out and "Timeline" in out


def test_nsight_profile_refuses_a_bad_rate(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"--rate must be in 1\.\.10000"):
        ip.run_cell_magic("nsight_profile", "--rate 0", "pass")


def test_the_extension_registers_both_magics(ip: InteractiveShell) -> None:
    assert isinstance(ip.magics_manager.registry["NsightMagics"], NsightMagics)
    assert "nsight" in ip.magics_manager.magics["line"]
    assert "nsight_profile" in ip.magics_manager.magics["cell"]


def test_start_takes_the_capture_flags_and_refuses_what_the_collector_cannot_do(
    configured: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack's agent samples with py-spy: a torch option is refused, clearly."""
    with pytest.raises(
        UsageError, match=r"pyspy collector cannot apply --record-shapes \(a torch option\)"
    ):
        configured.run_line_magic("nsight", "start --record-shapes")
    with pytest.raises(UsageError, match="--max-overhead takes a percentage"):
        configured.run_line_magic("nsight", "start --max-overhead lots")
    with pytest.raises(UsageError, match="unknown collector option --warp"):
        configured.run_line_magic("nsight", "start -O warp=9")
