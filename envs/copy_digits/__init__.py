"""`copy-digits-v0`: repeat a short digit string inside `<answer>` tags (a task a tiny model can learn by RL)."""

from verigym.envs.copy_digits.env import CopyConfig, CopyDigitsEnv, CopyTask

__all__ = ["CopyConfig", "CopyDigitsEnv", "CopyTask"]
