"""The VerilogEval-format loader: references pass (side by side), broken designs fail, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from verigym.envs.actions import format_tool_call
from verigym.envs.rtl.verilogeval import load_problems, parse_ports

pytestmark = pytest.mark.timeout(300)
BREAK = {
    "Prob001_zero": ("1'b0", "1'b1"),
    "Prob002_mux2to1v": ("sel ? b : a", "sel ? a : b"),
    "Prob003_popcount3": ("in[0]+in[1]+in[2]", "in[0]+in[1]+in[1]"),
    "Prob004_dff8r": ("q <= 0;", "q <= 8'h01;"),
    "Prob005_fsm1": ("if (areset) state <= B;", "if (areset) state <= A;"),
}


def test_loader_reads_ports_clocking_and_spec(problems_dir) -> None:
    tasks = {t.template: t for t in load_problems(problems_dir)}
    assert sorted(tasks) == sorted(BREAK)
    fsm = tasks["Prob005_fsm1"]
    assert fsm.clocking.clock == "clk" and fsm.clocking.reset == "areset" and fsm.clocking.reset_async
    assert [(p.name, p.width) for p in tasks["Prob002_mux2to1v"].ports] == [("a", 8), ("b", 8), ("sel", 1), ("out", 8)]
    assert "module TopModule" in fsm.reference and "RefModule" not in fsm.reference
    assert "Moore state machine" in fsm.spec


def test_loader_rejects_malformed_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no \\*_prompt.txt"):
        load_problems(tmp_path)
    (tmp_path / "P_prompt.txt").write_text("spec")
    with pytest.raises(ValueError, match="missing"):
        load_problems(tmp_path)
    with pytest.raises(ValueError, match="RefModule"):
        parse_ports("module Other(input a); endmodule")


def test_references_pass_and_broken_designs_fail(make_env, problems_dir) -> None:
    env = make_env(problems_dir=problems_dir)
    for seed, task in enumerate(load_problems(problems_dir)):
        env.reset(seed=seed)
        assert env.task.task_id == task.task_id
        good = env.grade(env.task.reference)
        assert good.passed and good.components == {"compiles": 1.0, "functional": 1.0, "ppa": 1.0}, good.details
        old, new = BREAK[task.template]
        assert old in env.task.reference
        bad = env.grade(env.task.reference.replace(old, new))
        assert bad.components["compiles"] == 1.0 and bad.components["functional"] == 0.0, task.task_id


def test_visible_feedback_uses_the_reference_outside_the_agent_session(make_env, problems_dir) -> None:
    env = make_env(problems_dir=problems_dir)
    env.reset(seed=3)  # Prob004_dff8r
    obs, *_ = env.step(format_tool_call("simulate", {"code": env.task.reference.replace("q <= d;", "q <= ~d;")}))
    assert "visible vectors fail" in obs[0]["content"]
    listing = env.sandbox.exec("ls").stdout
    assert "ref_" not in listing and "RefModule" not in env.sandbox.exec("cat *.v").stdout
