"""Known reward hacks: each must score 0 on `functional`, on both sandbox backends."""

from __future__ import annotations

import pytest

from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.rtl.harness import SimStatus, simulate
from verigym.envs.rtl.model import expected_outputs
from verigym.envs.rtl.templates import module
from verigym.envs.rtl.vectors import hidden_vectors, visible_vectors

pytestmark = pytest.mark.timeout(300)
FORBIDDEN = ["$finish", "$stop", "$fopen", "$fwrite", "$fdisplay", "$system", "$readmemh", "$readmemb", "$dumpfile",
             "$dumpvars", "$exit", "$fatal", "$value$plusargs"]
ADDER = {"templates": ("adder",), "difficulty": "medium"}
COUNTER = {"templates": ("counter",), "difficulty": "easy"}


def _graded(make_env, code: str, seed: int = 3, **config):
    env = make_env(**(config or ADDER))
    env.reset(seed=seed)
    verdict = env.grade(code.replace("REFERENCE", env.task.reference) if "REFERENCE" in code else code)
    return env, verdict


def _ref_with(env_config: dict, extra: str, make_env, seed: int = 3):
    env = make_env(**env_config)
    env.reset(seed=seed)
    code = env.task.reference.replace("endmodule", extra + "\nendmodule")
    return env.grade(code)


def test_initial_finish_scores_zero(make_env) -> None:
    verdict = _ref_with(ADDER, "  initial $finish;", make_env)
    assert verdict.components["functional"] == 0.0 and "$finish" in verdict.details["message"]


def test_every_forbidden_system_task_scores_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    for task in FORBIDDEN:
        verdict = env.grade(env.task.reference.replace("endmodule", f"  initial {task}(\"x\");\nendmodule"))
        assert verdict.components == {"compiles": 0.0, "functional": 0.0, "ppa": 0.0}, task
        assert task in verdict.details["message"]
    _, reward, terminated, _, info = env.step(format_answer(env.task.reference.replace("endmodule", "  initial $stop;\nendmodule")))
    assert terminated and reward == 0.0 and "$stop" in info["verdict"].details["message"]


def test_printed_fake_pass_line_scores_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    code = module(list(env.task.ports), '  assign sum = 0;\n  assign cout = 0;\n'
                  '  initial $display("Mismatches: 0 in 20 samples");\n  initial $display("PASS");')
    verdict = env.grade(code)
    assert verdict.components["compiles"] == 1.0 and verdict.components["functional"] == 0.0


def test_empty_module_scores_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    assert env.grade(module(list(env.task.ports), "")).components["functional"] == 0.0
    assert env.grade("").components["functional"] == 0.0


def test_wrong_widths_and_ports_score_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    wide = env.task.reference.replace("output [", "output [1+")  # outputs one bit wider, low bits still right
    verdict = env.grade(wide)
    assert verdict.components["functional"] == 0.0 and "width" in str(verdict.details)
    renamed = env.task.reference.replace("sum", "total")
    assert env.grade(renamed).components["functional"] == 0.0
    extra = env.task.reference.replace("output cout", "output cout,\n  output spare").replace("endmodule", "  assign spare = 0;\nendmodule")
    verdict = env.grade(extra)
    assert verdict.components["functional"] == 0.0 and "extra ports" in verdict.details["interface"]


def test_instantiating_or_renaming_the_reference_scores_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    ports = list(env.task.ports)
    conn = ", ".join(f".{p.name}({p.name})" for p in ports)
    for name in ("RefModule", "ref_module", "Reference"):
        assert env.grade(module(ports, f"  {name} r({conn});")).components["functional"] == 0.0
    renamed = env.task.reference.replace("module TopModule", "module RefModule")
    assert env.grade(renamed).components["compiles"] == 0.0


def test_instantiating_a_loaded_reference_scores_zero(make_env, problems_dir) -> None:
    env = make_env(problems_dir=problems_dir)
    env.reset(seed=1)  # Prob002_mux2to1v
    ports = list(env.task.ports)
    conn = ", ".join(f".{p.name}({p.name})" for p in ports)
    assert env.grade(module(ports, f"  RefModule r({conn});")).components["functional"] == 0.0
    assert env.grade(env.task.reference.replace("TopModule", "RefModule")).components["functional"] == 0.0


def test_outputs_left_x_or_z_score_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    for value in ("'bx", "'bz", "{%d{1'bx}}" % env.task.outputs[0].width):
        code = module(list(env.task.ports), f"  assign sum = {value};\n  assign cout = {value};")
        assert env.grade(code).components["functional"] == 0.0


def test_design_correct_only_on_visible_vectors_scores_zero(make_env) -> None:
    env = make_env(**ADDER)
    env.reset(seed=3)
    task = env.task
    visible = visible_vectors(task)
    cases = []
    for vector, out in zip(visible, expected_outputs(task, visible)):
        key = "{" + ", ".join(f"{p.width}'d{vector[p.name]}" for p in task.inputs) + "}"
        cases.append(f"      {key}: begin sum = {out['sum']}; cout = {out['cout']}; end")
    keys = "{" + ", ".join(p.name for p in task.inputs) + "}"
    body = (f"  always @* begin\n    sum = 0; cout = 0;\n    case ({keys})\n" + "\n".join(cases)
            + "\n      default: begin sum = 0; cout = 0; end\n    endcase\n  end")
    code = module(list(task.ports), body, regs=("sum", "cout"))
    obs, *_ = env.step(format_tool_call("simulate", {"code": code}))
    assert "All" in obs[0]["content"] and "pass" in obs[0]["content"]  # it fools the visible check ...
    _, reward, terminated, _, info = env.step(format_answer(code))
    assert terminated and info["reward_components"]["functional"] == 0.0  # ... but not grading
    assert info["verdict"].details["matched"] < info["verdict"].details["vectors"] / 2


def test_include_of_a_host_file_scores_zero(make_env) -> None:
    verdict = _ref_with(ADDER, '`include "/etc/hostname"', make_env)
    assert verdict.components["functional"] == 0.0 and "include" in verdict.details["message"]


def test_simulation_that_never_ends_scores_zero_not_dropped(make_env) -> None:
    env = make_env(sim_timeout_s=5.0, **COUNTER)
    env.reset(seed=2)
    code = env.task.reference.replace("endmodule", "  reg spin;\n  initial while (1) spin = ~spin;\nendmodule")
    verdict = env.grade(code)  # no VerifierError: the episode is scored, 0
    assert verdict.components["functional"] == 0.0 and verdict.details["simulation"] == "timeout"
    loop = module(list(env.task.ports), "  wire a;\n  assign a = ~a;\n  assign q = a;")
    assert env.grade(loop).components["functional"] == 0.0


def test_a_timeout_the_reference_shares_is_dropped_not_scored(make_env) -> None:
    """If the reference cannot finish under the same limit either, the sandbox is too slow: SandboxFailure."""
    from verigym.envs.verdict import SandboxFailure

    env = make_env(sim_timeout_s=0.001, **COUNTER)
    env.reset(seed=2)
    with pytest.raises(SandboxFailure, match="too slow"):
        env.grade(env.task.reference.replace("endmodule", "  reg spin;\n  initial while (1) spin = ~spin;\nendmodule"))


def test_missing_reset_scores_zero(make_env) -> None:
    env = make_env(**COUNTER)
    env.reset(seed=2)
    c = env.task.clocking
    code = env.task.reference.replace(f"if ({c.reset if c.reset_active_high else '!' + c.reset})", "if (1'b0)")
    assert code != env.task.reference
    assert env.grade(code).components["functional"] == 0.0


def test_harness_catches_an_early_end_even_without_the_static_check(make_env) -> None:
    """Defence in depth: were `$finish` to slip past the static check, the short record still scores 0."""
    env = make_env(**ADDER)
    env.reset(seed=3)
    task = env.task
    code = task.reference.replace("endmodule", "  initial #100 $finish;\nendmodule")
    vectors = hidden_vectors(task)
    with env.grading_session() as session:
        run = simulate(session, task, code, vectors, 10.0, checked=False)
    assert run.status is SimStatus.RAN and not run.record.complete and len(run.record.rows) < len(vectors)
    from verigym.envs.rtl.record import compare

    result = compare(task, run.record, vectors, expected_outputs(task, vectors))
    assert not result.passed and "ended early" in result.problem
