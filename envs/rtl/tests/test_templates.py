"""Templates, generator and Python models (no sandbox needed)."""

from __future__ import annotations

import pytest

from verigym.envs.rtl.generator import generate_task, template_names
from verigym.envs.rtl.model import expected_outputs
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.templates import DIFFICULTIES, load_all
from verigym.envs.rtl.vectors import hidden_vectors, visible_vectors

COMBINATIONAL = {"adder", "subtractor", "comparator", "mux", "demux", "decoder", "priority_encoder", "parity",
                 "barrel_shifter", "alu", "popcount", "bin2gray", "gray2bin"}
SEQUENTIAL = {"counter", "updown_counter", "load_counter", "shift_register", "edge_detector", "sequence_detector",
              "traffic_light", "fifo", "clock_divider"}


def test_at_least_25_templates_covering_the_issue_list() -> None:
    registry = load_all()
    assert len(registry) >= 25
    assert COMBINATIONAL <= {n for n, t in registry.items() if not t.sequential}
    assert SEQUENTIAL <= {n for n, t in registry.items() if t.sequential}


@pytest.mark.parametrize("name", template_names())
def test_every_template_generates_on_every_difficulty(name: str) -> None:
    for difficulty in DIFFICULTIES:
        for seed in range(3):
            task = generate_task(seed, difficulty, (name,))
            assert task.template == name and task.difficulty == difficulty
            assert "module TopModule" in task.reference and "TopModule" in task.spec
            vectors = hidden_vectors(task)
            outputs = expected_outputs(task, vectors)
            assert len(outputs) == len(vectors) > 0
            for out in outputs[:50]:
                for port in task.outputs:
                    assert 0 <= out[port.name] < (1 << port.width)
            assert RtlTask.from_json(task.to_json()) == task


def test_spec_states_clocking_and_reset_polarity() -> None:
    seen = set()
    for seed in range(200):
        task = generate_task(seed, templates=("counter",))
        c = task.clocking
        assert "rising edge of `clk`" in task.spec
        assert ("active-high" if c.reset_active_high else "active-low") in task.spec
        assert ("asynchronous" if c.reset_async else "synchronous") in task.spec
        seen.add((c.reset_active_high, c.reset_async))
    assert len(seen) == 4
    assert "purely combinational" in generate_task(0, templates=("adder",)).spec


def test_difficulty_widens_designs() -> None:
    easy = [generate_task(s, "easy", ("adder",)).ports[0].width for s in range(30)]
    hard = [generate_task(s, "hard", ("adder",)).ports[0].width for s in range(30)]
    assert max(easy) < min(hard)


def test_hidden_vectors_differ_from_visible_ones_and_cover_several_seeds() -> None:
    task = generate_task(5, "hard", ("alu",))
    visible, hidden = visible_vectors(task), hidden_vectors(task)
    assert len(hidden) > 3 * len(visible)
    random_visible = {tuple(sorted(v.items())) for v in visible[7:]}
    random_hidden = {tuple(sorted(v.items())) for v in hidden[7:]}
    assert len(random_hidden - random_visible) > 500


def test_sequential_streams_reset_at_each_segment_start() -> None:
    task = generate_task(1, "medium", ("fifo",))
    hidden = hidden_vectors(task)
    on = 1 if task.clocking.reset_active_high else 0
    assert [hidden[k * 300][task.clocking.reset] for k in range(3)] == [on] * 3


def test_models_match_hand_computed_values() -> None:
    from verigym.envs.rtl.generator import build_task
    from verigym.envs.rtl.task import Clocking

    counter = build_task(load_all()["counter"], {"W": 3, "M": 5}, Clocking("clk", "rst", True, False), 0, "easy")
    vectors = [{"rst": 0, "en": 1}] * 6 + [{"rst": 1, "en": 1}, {"rst": 0, "en": 0}]
    assert [o["q"] for o in expected_outputs(counter, vectors)] == [0, 1, 2, 3, 4, 0, 1, 0]
    asynchronous = build_task(load_all()["counter"], {"W": 3, "M": 5}, Clocking("clk", "rst_n", False, True), 0, "easy")
    vectors = [{"rst_n": 1, "en": 1}] * 3 + [{"rst_n": 0, "en": 1}]
    assert [o["q"] for o in expected_outputs(asynchronous, vectors)] == [0, 1, 2, 0]
    gray = build_task(load_all()["gray2bin"], {"W": 4}, Clocking(), 0, "easy")
    assert expected_outputs(gray, [{"gray": 0b1101}]) == [{"bin": 0b1001}]
