"""Gymnasium spaces for chat observations and free-text actions."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

ROLES = ("system", "user", "assistant", "tool")
Message = dict[str, str]


class ChatSpace(spaces.Space[list[Message]]):
    """A list of chat messages, each `{"role": one of ROLES, "content": str}`."""

    def __init__(self, max_messages: int = 64, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_messages = max_messages

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        n = int(self.np_random.integers(1, 4))
        return [
            {"role": ROLES[int(self.np_random.integers(len(ROLES)))], "content": f"sample {i}"} for i in range(n)
        ]

    def contains(self, x: Any) -> bool:
        return (
            isinstance(x, list)
            and len(x) <= self.max_messages
            and all(
                isinstance(m, dict)
                and set(m) == {"role", "content"}
                and m["role"] in ROLES
                and isinstance(m["content"], str)
                for m in x
            )
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatSpace) and other.max_messages == self.max_messages

    def __repr__(self) -> str:
        return f"ChatSpace(max_messages={self.max_messages})"


def action_space(max_length: int = 20_000) -> spaces.Text:
    """Free text up to `max_length` characters (what `sample()` yields is random garbage, by design)."""
    return spaces.Text(max_length=max_length, min_length=0)
