"""The progress of a run in phases (`make bench`): plain lines off a terminal, a bar on one."""

from __future__ import annotations

import io

from ops.progress import PhaseBar, PhaseLines, phases_for_stream


def test_off_a_terminal_each_phase_and_its_steps_are_plain_lines() -> None:
    stream = io.StringIO()
    progress = phases_for_stream("bench", 2, stream, interval=0)
    assert isinstance(progress, PhaseLines)
    progress.phase("warm latency", 4)
    progress.step("accounts GET request 1/4")
    progress.phase("cold starts", 2)
    progress.step("accounts_list_devices round 1/1")
    progress.stop()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "bench: phase 1/2, warm latency: 4 steps"
    assert lines[1].startswith(
        "bench: phase 1/2, warm latency: 1/4 (25%), accounts GET request 1/4, phase ETA "
    )
    assert lines[2] == "bench: phase 2/2, cold starts: 2 steps"
    assert "\x1b" not in stream.getvalue()


def test_plain_lines_come_every_interval_not_every_step() -> None:
    stream = io.StringIO()
    progress = PhaseLines("bench", 1, stream, interval=3600)
    progress.phase("warm latency", 1000)
    for number in range(1000):
        progress.step(f"request {number}")
    assert len(stream.getvalue().splitlines()) == 1


def test_the_bar_names_the_phase_and_the_step_under_way() -> None:
    stream = io.StringIO()
    progress = PhaseBar("bench", 2, stream)
    progress.phase("warm latency", 2)
    progress.step("accounts GET request 1/2")
    progress.stop()
    assert "bench 1/2 warm latency" in stream.getvalue()
    assert "accounts GET request 1/2" in stream.getvalue()
