"""`triton-kernels-v0`: rewrite a PyTorch module as Triton kernels; graded in fresh sandboxes.

Each turn the agent submits a module defining `ModelNew`. It is checked statically on the host, then run by
the harness in a fresh grading session (the reference ran in another one, once per episode): fresh inputs per
trial, launches counted, torch work outside kernels recorded, outputs returned as raw bytes and compared on the
host. The feedback (errors, per-trial max/mean abs diff, integrity findings, on a GPU the speedup and the share
of time in own kernels) goes back to the agent. A correct submission ends the episode (`stop_when_correct`);
otherwise the last allowed turn is graded as final.

On the CPU the harness runs Triton with TRITON_INTERPRET=1 (fp32/fp16 only; bf16 tasks are refused) and the
`speedup` component is 0. On CUDA it times both with CUDA events (warm-up, L2 flush, median).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.kernels import prompt
from verigym.envs.kernels.compare import TOLERANCES
from verigym.envs.kernels.grading import CandidateRun, ReferenceRun, run_candidate, run_reference
from verigym.envs.kernels.mounts import package_mounts
from verigym.envs.kernels.oracle import oracle_names, oracle_source
from verigym.envs.kernels.problem import curated_problems, load_folder
from verigym.envs.kernels.static_check import check_source
from verigym.envs.kernels.task import KernelTask, generate_task
from verigym.envs.kernels.verifier import COMPONENTS, GradeSettings, grade
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.verdict import Verdict
from verigym.sandbox.records import MiB, Limits, Requirements

#: reward weights (documented in the README); `tiered` gates each component on the one before it
WEIGHTS = {"compiles": 0.1, "correct": 0.6, "speedup": 0.2, "coverage": 0.1}
TIERS = {"correct": "compiles", "speedup": "correct", "coverage": "correct"}
CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
MAX_SOURCE_CHARS = 50_000


class BF16OnCPUError(ValueError):
    """A bfloat16 task was asked for on the CPU, where the Triton interpreter silently computes zeros."""


@dataclass
class KernelsConfig(EnvConfig):
    """Settings of `triton-kernels-v0`.

    `device`: auto (cuda when the host sees a GPU) | cpu | cuda. `trials`: seeded grading trials per submission.
    `problems_dir`: a KernelBench-format folder to draw problems from instead of the curated set.
    `reward_mode`: weighted (independent components) | tiered (correct needs compiles; speedup and coverage
    need correct). `warmup`/`reps`: GPU timing. `timeout_s`: per harness run. `solvable_only`: draw only
    problems the oracle solves (those in `solutions/` and every composition), e.g. for `--agent oracle` runs.
    """

    max_turns: int = 4
    trials: int = 3
    device: str = "auto"
    composed_share: float = 0.25
    problems_dir: str | None = None
    reward_mode: str = "weighted"
    min_coverage: float = 0.5
    speedup_cap: float = 4.0
    stop_when_correct: bool = True
    timeout_s: float = 120.0
    warmup: int = 5
    reps: int = 20
    compile_baseline: bool = True
    solvable_only: bool = False


def resolve_device(wanted: str) -> str:
    if wanted not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda; got {wanted!r}")
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def extract_source(action: str) -> str | None:
    """The submitted module: the last ```python block, or the whole reply if it is bare code with ModelNew."""
    blocks = CODE_BLOCK.findall(action)
    if blocks:
        return blocks[-1]
    return action if "class ModelNew" in action and "```" not in action else None


class KernelsEnv(TextEnv[KernelTask]):
    """Write Triton kernels for a PyTorch reference; correctness on CPU (interpreter), speed on GPU."""

    env_id = "triton-kernels-v0"
    task_type = KernelTask
    config_type = KernelsConfig
    config: KernelsConfig
    sandbox_requirements = Requirements(image="base", tools=("python3",), host_mounts=package_mounts())
    sandbox_limits = Limits(timeout_s=180.0, memory_bytes=4096 * MiB, pids=64, disk_bytes=256 * MiB,
                            file_bytes=128 * MiB)

    def __init__(self, config: KernelsConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        super().__init__(config, render_mode, **overrides)
        if self.config.reward_mode not in ("weighted", "tiered"):
            raise ValueError(f"reward_mode must be weighted or tiered, got {self.config.reward_mode!r}")
        self.device = resolve_device(self.config.device)
        if self.device == "cuda":
            self.sandbox_requirements = Requirements(image="base", tools=("python3",), gpus=True,
                                                     host_mounts=package_mounts())
        self._problems = load_folder(self.config.problems_dir) if self.config.problems_dir else None
        self._reference: ReferenceRun | None = None
        self.last_verdict: Verdict | None = None

    # -- TextEnv ---------------------------------------------------------------------------------------------
    def build_rubric(self) -> Rubric:
        gates = TIERS if self.config.reward_mode == "tiered" else None
        return Rubric.from_verdict(WEIGHTS, only_if=gates)

    def generate_task(self, seed: int) -> KernelTask:
        scale = "gpu" if self.device == "cuda" else "cpu"
        problems = self._problems
        if self.config.solvable_only:
            solved = set(oracle_names())
            problems = [p for p in (problems or curated_problems(scale)) if p.name in solved]
        share = 0.0 if self._problems is not None else self.config.composed_share
        return generate_task(seed, trials=self.config.trials, scale=scale, composed_share=share, problems=problems)

    def on_reset(self) -> None:
        assert self.task is not None
        if self.task.dtype == "bfloat16" and self.device == "cpu":
            raise BF16OnCPUError(
                f"task {self.task.name} uses bfloat16, which the Triton CPU interpreter cannot compute (it "
                "silently returns zeros); run it with device='cuda' on a GPU, or pick a float32/float16 task"
            )
        self._reference = None
        self.last_verdict = None

    def opening_messages(self, task: KernelTask) -> list[Message]:
        tolerances = ", ".join(f"{k}: atol=rtol={v[0]:g}" for k, v in TOLERANCES.items() if k != "float64")
        return [
            {"role": "system", "content": prompt.SYSTEM.format(tolerances=tolerances)},
            {"role": "user", "content": prompt.task_message(task, self.device)},
        ]

    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None
        source = extract_source(action) if isinstance(action, str) else None
        if source is None or len(source) > MAX_SOURCE_CHARS:
            why = ("no ```python block with your ModelNew module found" if source is None
                   else f"the module is longer than {MAX_SOURCE_CHARS} characters")
            return self._continue(f"Malformed submission: {why}.", malformed=why)
        verdict = self.evaluate(source)
        self.last_verdict = verdict
        final = (verdict.passed and self.config.stop_when_correct) or self.turn >= self.config.max_turns
        feedback = verdict.details["feedback"]
        if final:
            return TurnResult([{"role": "user", "content": feedback + "\n\nEpisode over."}], terminated=True,
                              verdict=verdict)
        return TurnResult([{"role": "user", "content": feedback + "\n\nRevise and resubmit your ModelNew."}])

    def _continue(self, text: str, malformed: str) -> TurnResult:
        if self.turn >= self.config.max_turns:
            verdict = Verdict(False, 0.0, {name: 0.0 for name in COMPONENTS}, {"feedback": text, "malformed": malformed})
            return TurnResult([{"role": "user", "content": text}], terminated=True, verdict=verdict, malformed=malformed)
        return TurnResult([{"role": "user", "content": text}], malformed=malformed)

    def oracle_action(self) -> str:
        assert self.task is not None
        return f"```python\n{oracle_source(self.task.name)}```"

    def sample_action(self, rng: random.Random) -> str:
        return f"```python\n{self.task.source if self.task else ''}```".replace("class Model(", "class ModelNew(")

    # -- grading ---------------------------------------------------------------------------------------------
    def timing_spec(self) -> dict | None:
        if self.device != "cuda":
            return None
        return {"warmup": self.config.warmup, "reps": self.config.reps, "compile": self.config.compile_baseline}

    def reference_run(self) -> ReferenceRun:
        """The reference's trials for this episode (run once, in its own fresh session)."""
        assert self.task is not None
        if self._reference is None:
            with self.grading_session() as session:
                self._reference = run_reference(session, self.task.source, self.task.trial_seeds, self.device,
                                                self.timing_spec(), self.config.timeout_s)
        return self._reference

    def evaluate(self, source: str) -> Verdict:
        """Grade one submission (static check, then a fresh session for the candidate)."""
        static = check_source(source)
        settings = GradeSettings(self.config.min_coverage, self.config.speedup_cap)
        if not static.ok:
            return grade(static, None, None, self.device, settings)
        reference = self.reference_run()
        with self.grading_session() as session:
            run: CandidateRun = run_candidate(session, source, reference, self.device, self.timing_spec(),
                                              self.config.timeout_s)
        return grade(static, reference, run, self.device, settings)
