"""The GPU timing logic, on the CPU with a fake clock."""

from __future__ import annotations

import pytest

from verigym.envs.kernels import timing


class FakeClock:
    """Each timed run lasts the next of `durations` ms; records the order of flushes, calls and timings."""

    def __init__(self, durations, events):
        self.durations, self.events = list(durations), events

    def start(self):
        self.events.append("start")
        return len(self.events)

    def stop(self, token):
        self.events.append("stop")
        return self.durations.pop(0)


def test_measure_warms_up_untimed_then_flushes_before_every_timed_run():
    events = []
    samples = timing.measure(lambda: events.append("run"), FakeClock([3.0, 1.0, 2.0], events),
                             lambda: events.append("flush"), warmup=2, reps=3)
    assert samples == [3.0, 1.0, 2.0]
    assert events[:2] == ["run", "run"]
    assert events[2:] == ["flush", "start", "run", "stop"] * 3


def test_summary_uses_the_median():
    assert timing.summarize([5.0, 1.0, 3.0, 100.0, 2.0]) == {"median": 3.0, "min": 1.0, "max": 100.0, "n": 5}
    with pytest.raises(ValueError):
        timing.summarize([])
    with pytest.raises(ValueError):
        timing.summarize([1.0, -1.0])
    with pytest.raises(ValueError):
        timing.measure(lambda: None, FakeClock([], []), lambda: None, warmup=0, reps=0)


def test_speedup_score_is_zero_at_parity_and_capped():
    assert timing.speedup(2.0, 1.0) == 2.0
    assert timing.speedup_score(1.0, cap=4.0) == 0.0
    assert timing.speedup_score(0.5, cap=4.0) == 0.0
    assert timing.speedup_score(2.5, cap=4.0) == pytest.approx(0.5)
    assert timing.speedup_score(40.0, cap=4.0) == 1.0
    with pytest.raises(ValueError):
        timing.speedup(0.0, 1.0)


def test_speedups_above_ten_are_flagged():
    assert not timing.is_suspicious(9.9)
    assert timing.is_suspicious(10.5)
