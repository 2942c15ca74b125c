"""A stage's time breakdown: steps recorded inside the stage (nested calls included), nothing outside."""

from __future__ import annotations

import time

import pytest

from trigdeploy import timing


def test_steps_inside_a_stage_are_recorded_with_their_cache_hits():
    with timing.stage("export") as rec:
        with timing.step("compile a"):
            time.sleep(0.02)
        timing.add("compile b", 0.0, cached=True)
        timing.add("simulate", 3.5)
    report = rec.report()
    assert report["stage"] == "export" and report["cache_hits"] == 1
    assert [s["step"] for s in report["steps"]] == ["compile a", "compile b", "simulate"]
    assert [s["step"] for s in report["top"]] == ["simulate", "compile a", "compile b"]
    assert 0.02 <= report["steps"][0]["seconds"] < 1.0  # slept 20 ms; generous for a loaded machine
    assert report["wall_seconds"] >= report["steps"][0]["seconds"]


def test_nothing_is_recorded_outside_a_stage_and_stages_nest():
    timing.add("stray", 1.0)  # no stage: ignored, no error
    with timing.stage("outer") as outer:
        with timing.stage("inner") as inner:
            timing.add("x", 1.0)
        timing.add("y", 2.0)
    assert [s["step"] for s in outer.steps] == ["y"] and [s["step"] for s in inner.steps] == ["x"]


def test_a_failed_step_is_not_recorded_and_the_top_keeps_ten():
    with timing.stage("csim") as rec:
        with pytest.raises(RuntimeError), timing.step("fails"):
            raise RuntimeError("boom")
        for i in range(12):
            timing.add(f"s{i}", float(i))
    report = rec.report()
    assert "fails" not in [s["step"] for s in report["steps"]]
    assert [s["seconds"] for s in report["top"]] == [float(i) for i in range(11, 1, -1)]
