"""Bridges from verigym environments to other RL stacks; each is an optional extra.

- `verigym.integrations.openenv_server`: any registered env served over OpenEnv's protocol (`verigym serve`),
  extra `verigym[openenv]`.
- `verigym.integrations.trl`: `VerigymRollout`, a TRL `rollout_func` so `GRPOTrainer` trains on any env,
  multi-turn, extra `verigym[trl]`.

Adapters add no behaviour of their own: the same seed gives the same task, the same actions the same rewards
as the env played in-process.
"""
