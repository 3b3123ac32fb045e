"""`beam-statics-v0`: support reactions of loaded beams, exact in P and L (the BeamPERL task, multi-turn).

Layout: `task.py` (records), `generator.py` (seeded tasks by category), `ground_truth.py` (two solvers),
`expression.py` + `answer.py` (safe exact parsing), `verifier.py` (grading), `prompt.py` (text),
`env.py` (the Gymnasium env), `benchmark.py` (throughput), `tests/`.
"""

from verigym.envs.beam_statics.env import BeamStaticsConfig, BeamStaticsEnv
from verigym.envs.beam_statics.generator import generate_in_category, generate_task, select_categories
from verigym.envs.beam_statics.ground_truth import gold_reactions, solve_equilibrium, solve_with_sympy
from verigym.envs.beam_statics.task import CATEGORIES, BeamTask, Load, Support
from verigym.envs.beam_statics.verifier import verify

__all__ = [
    "CATEGORIES",
    "BeamStaticsConfig",
    "BeamStaticsEnv",
    "BeamTask",
    "Load",
    "Support",
    "generate_in_category",
    "generate_task",
    "gold_reactions",
    "select_categories",
    "solve_equilibrium",
    "solve_with_sympy",
    "verify",
]
