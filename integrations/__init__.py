"""Bridges from verigym environments to other RL stacks; each is an optional extra.

- `verigym.integrations.openenv_server`: any registered env served over OpenEnv's protocol (`verigym serve`),
  extra `verigym[openenv]`.
- `verigym.integrations.trl`: `VerigymRollout`, a TRL `rollout_func` so `GRPOTrainer` trains on any env,
  multi-turn, extra `verigym[trl]`.
- `verigym.integrations.verifiers`: `load_environment(ENV)`, any env as a verifiers `vf.Environment` (vf-eval,
  prime-rl), extra `verigym[verifiers]`, in a virtualenv of its own (its pins clash with `openenv`'s).

Adapters add no behaviour of their own: the same seed gives the same task, the same actions the same rewards
as the env played in-process.
"""
