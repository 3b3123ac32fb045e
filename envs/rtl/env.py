"""`rtl-verilog-v0`: design a Verilog module from a spec, with simulation and synthesis tools, graded hack-proof.

Tools run in the episode's own sandbox (`rtl` image: iverilog, vvp, yosys); grading runs in a fresh grading
session (see `verifier`). Tasks are generated from templates, or loaded from a VerilogEval-format folder
(`problems_dir`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from verigym.envs.actions import Answer, MalformedAction, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.rtl import prompt
from verigym.envs.rtl.formal import synthesize
from verigym.envs.rtl.generator import generate_task
from verigym.envs.rtl.harness import SimStatus, simulate
from verigym.envs.rtl.record import Value
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.templates import DIFFICULTIES
from verigym.envs.rtl.vectors import VISIBLE, visible_vectors
from verigym.envs.rtl.verifier import GATES, GradeSettings, check_design, grade, refused_verdict
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.verdict import SandboxFailure, Verdict
from verigym.sandbox.records import Limits, Requirements

TOOLS = ("simulate", "synthesize")
MiB = 1024 * 1024


@dataclass
class RtlConfig(EnvConfig):
    """Settings of `rtl-verilog-v0`. `difficulty`: easy/medium/hard (None: any); `templates`: empty means all;
    `problems_dir`: a VerilogEval-format folder whose problems replace the generated tasks."""

    max_turns: int = 8
    difficulty: str | None = None
    templates: tuple[str, ...] = ()
    problems_dir: str | None = None
    sim_timeout_s: float = 10.0
    formal: bool = True
    compiles_weight: float = 0.1
    functional_weight: float = 0.8
    ppa_weight: float = 0.1


class RtlEnv(TextEnv[RtlTask]):
    """Verilog design against a spec: simulate / synthesize tools, then a submission graded in a fresh session."""

    env_id = "rtl-verilog-v0"
    task_type = RtlTask
    config_type = RtlConfig
    config: RtlConfig
    sandbox_requirements = Requirements(image="rtl", tools=("iverilog", "vvp", "yosys"))
    sandbox_limits = Limits(timeout_s=60.0, memory_bytes=1024 * MiB, output_bytes=256 * 1024)

    def __init__(self, config: RtlConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if isinstance(overrides.get("templates"), list):
            overrides["templates"] = tuple(overrides["templates"])
        super().__init__(config, render_mode, **overrides)
        if self.config.difficulty is not None and self.config.difficulty not in DIFFICULTIES:
            raise ValueError(f"rtl-verilog-v0: difficulty must be one of {DIFFICULTIES} or None, got {self.config.difficulty!r}")
        self.problems: tuple[RtlTask, ...] = ()
        if self.config.problems_dir:
            from verigym.envs.rtl.verilogeval import load_problems

            self.problems = tuple(load_problems(self.config.problems_dir))
        self.last_design: str | None = None
        self.simulated = 0
        self._visible_expected: list[dict[str, Value]] | None = None

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"compiles": self.config.compiles_weight, "functional": self.config.functional_weight,
                                    "ppa": self.config.ppa_weight}, only_if=GATES)

    def generate_task(self, seed: int) -> RtlTask:
        if self.problems:
            return self.problems[seed % len(self.problems)]
        return generate_task(seed, self.config.difficulty, self.config.templates)

    def on_reset(self) -> None:
        self.last_design = None
        self.simulated = 0
        self._visible_expected = None

    def opening_messages(self, task: RtlTask) -> list[Message]:
        system = prompt.SYSTEM.format(
            visible=VISIBLE["seq" if task.clocking.sequential else "comb"].per_segment, turns=self.config.max_turns,
            w_compiles=self.config.compiles_weight, w_functional=self.config.functional_weight, w_ppa=self.config.ppa_weight)
        return [{"role": "system", "content": system}, {"role": "user", "content": prompt.opening_user(task)}]

    # --- turns --------------------------------------------------------------------------------------------
    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None
        parsed = parse_action(action, TOOLS)
        if isinstance(parsed, MalformedAction):
            return TurnResult([_user(f"Malformed action: {parsed.reason}.")], malformed=parsed.reason)
        if isinstance(parsed, Answer):
            return self._submit(prompt.strip_fence(parsed.text), "Design submitted")
        code = parsed.arguments.get("code")
        if set(parsed.arguments) != {"code"} or not isinstance(code, str):
            reason = f'{parsed.name} takes exactly one argument "code" (the Verilog source, a string), got {sorted(parsed.arguments)}'
            return TurnResult([_user(f"Malformed action: {reason}.")], malformed=reason)
        code = prompt.strip_fence(code)
        self.last_design = code
        if self.turn >= self.config.max_turns:
            return self._submit(code, f"Turn budget of {self.config.max_turns} reached; the design of this last "
                                "tool call was graded")
        if parsed.name == "simulate":
            return TurnResult([_tool(self._simulate(code))])
        return TurnResult([_tool(prompt.synthesis_feedback(synthesize(self.sandbox, code, self.task.module)))])

    def _simulate(self, code: str) -> str:
        assert self.task is not None
        self.simulated += 1
        vectors = visible_vectors(self.task)
        expected = self._visible_reference(vectors) if self.task.source != "generated" else None
        run, comparison = check_design(self.sandbox, self.task, code, vectors, self.config.sim_timeout_s, expected)
        return prompt.simulation_feedback(run, comparison, self.task)

    def _visible_reference(self, vectors) -> list[dict[str, Value]]:
        """A loaded task's expected visible outputs: its reference simulated alone in a grading session (the
        reference never enters the agent's session)."""
        assert self.task is not None
        if self._visible_expected is None:
            with self.grading_session() as session:
                run = simulate(session, self.task, self.task.reference, vectors, self.config.sim_timeout_s, checked=False)
            if run.status is not SimStatus.RAN or run.record is None or not run.record.complete:
                raise SandboxFailure(f"the reference of {self.task.task_id} did not simulate: {run.status.value} {run.message}")
            names = [p.name for p in self.task.outputs]
            self._visible_expected = [dict(zip(names, row)) for row in run.record.rows]
        return self._visible_expected

    def _submit(self, code: str, note: str) -> TurnResult:
        verdict = self.grade(code)
        outcome = "functional" if verdict.components["functional"] else (
            "compiles but is not functional" if verdict.components["compiles"] else "does not compile or was refused")
        detail = verdict.details.get("message") or verdict.details.get("problem") or verdict.details.get(
            "interface") or verdict.details.get("synthesis") or ""
        text = f"{note}: {outcome}" + (f" ({detail})" if detail and not verdict.passed else "") + "."
        return TurnResult([_user(text)], terminated=True, verdict=verdict)

    def grade(self, code: str) -> Verdict:
        """The verdict on `code` for the current task, in a fresh grading session."""
        assert self.task is not None
        refused = refused_verdict(code)
        if refused is not None:
            return refused
        with self.grading_session() as session:
            return grade(session, self.task, code, GradeSettings(self.config.sim_timeout_s, self.config.formal))

    # --- baselines ----------------------------------------------------------------------------------------
    def oracle_action(self) -> str:
        """Simulate the reference design once, then submit it."""
        assert self.task is not None
        if self.simulated == 0 and self.turn + 1 < self.config.max_turns:
            return format_tool_call("simulate", {"code": self.task.reference})
        return format_answer(self.task.reference)

    def sample_action(self, rng: random.Random) -> str:
        """A module with the right ports whose outputs are random bitwise functions of the inputs."""
        assert self.task is not None
        code = random_design(self.task, rng)
        if rng.random() < 0.3:
            return format_tool_call(rng.choice(TOOLS), {"code": code})
        return format_answer(code)


def random_design(task: RtlTask, rng: random.Random) -> str:
    """A plausible but uninformed design: right interface, random logic."""
    from verigym.envs.rtl.templates import module

    inputs = [p.name for p in task.inputs] or ["1'b0"]
    body = []
    for out in task.outputs:
        terms = rng.sample(inputs, min(len(inputs), rng.randint(1, 3)))
        op = rng.choice([" ^ ", " & ", " | ", " + "])
        body.append(f"  assign {out.name} = {op.join(terms)};")
    return module(list(task.ports), "\n".join(body))


def _user(text: str) -> Message:
    return {"role": "user", "content": text}


def _tool(text: str) -> Message:
    return {"role": "tool", "content": text}
