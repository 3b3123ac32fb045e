"""The task record of `code-python-v0`: one function to write, with visible examples and hidden tests."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.task import Task


@dataclass(frozen=True)
class TestCase:
    """One call: `args` is the wire JSON of the argument list, `expected` the wire JSON of the result."""

    __test__ = False  # not a pytest class

    args: str
    expected: str


@dataclass(frozen=True)
class CodeTask(Task):
    """A function-writing problem. `reference` is a module defining `entry`; `hidden` tests never reach a
    sandbox before grading, and their `expected` values never reach one at all."""

    template: str
    difficulty: str
    entry: str
    signature: str
    spec: str
    reference: str
    visible: tuple[TestCase, ...]
    hidden: tuple[TestCase, ...]
    numeric_ok: bool = False  # int and float results compare numerically (else the type must match)
