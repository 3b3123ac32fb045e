"""Reward shaping from recent RLVR papers, each a small registered method switched on from TOML `[shaping]`.

| name | method |
|---|---|
| `hapo` | history-aware length reward (HAPO) |
| `length_budget` | length-budget curriculum + length-efficiency reward (Train Long, Think Short) |
| `otc` | correctness scaled by tool-call efficiency (OTC-GRPO) |
| `rlcr` | Brier calibration reward on a stated `<confidence>` (RLCR) |
| `noisy_verifier` | backward or forward correction of a noisy binary verifier |
| `verpo` | difficulty-weighted partial credit from per-test outcomes (VeRPO-style) |
| `checklist` | per-turn binary criteria an env declares, as balanced per-turn rewards (CM2-style) |

Process rewards: `shaping.process.scorer` names a registered `StepScorer` (`STEP_SCORERS`; `rules` shipped)
whose per-turn rewards feed the `hybrid` advantage estimator (outcome group-normalised, process batch-normalised).
`canon` (`algorithm.advantage = "canon"`) is an advantage estimator: CANON's conditional advantages over the two
halves of each group split by length or entropy (`canon.py`).

Add one: a class with `name`, `shape(episodes, rewards, step) -> ShapeResult`, `state_dict`/`load_state_dict`,
decorated with `@SHAPERS.register("name")`, and its config dataclass as a field of `ShapingConfig`.
"""

from verigym.trainer.shaping import canon, checklist, hapo, hybrid, length_budget, noisy_verifier, otc, process, rlcr, verpo  # noqa: F401  (registers)
from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, episode_view, problem_key
from verigym.trainer.shaping.pipeline import RewardShaping, ShapingConfig
from verigym.trainer.shaping.process import STEP_SCORERS, StepScorer
from verigym.trainer.shaping.registry import SHAPERS

__all__ = ["SHAPERS", "STEP_SCORERS", "StepScorer", "EpisodeView", "RewardShaping", "ShapeResult", "ShapingConfig", "ShapingContext", "episode_view", "problem_key"]
