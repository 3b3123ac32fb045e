from dataclasses import dataclass
from fractions import Fraction

import pytest

from verigym.envs import Task


@dataclass(frozen=True)
class Load:
    kind: str
    at: Fraction
    magnitude: Fraction


@dataclass(frozen=True)
class BeamLikeTask(Task):
    length: Fraction = Fraction(1)
    loads: tuple[Load, ...] = ()
    note: str | None = None
    tags: dict[str, int] | None = None


def test_nested_task_round_trips_through_json():
    task = BeamLikeTask(
        task_id="t-1",
        seed=7,
        length=Fraction(3),
        loads=(Load("point", Fraction(3, 2), Fraction(-2)), Load("moment", Fraction(1), Fraction(1, 3))),
        tags={"loads": 2},
    )
    text = task.to_json()
    again = BeamLikeTask.from_json(text)
    assert again == task
    assert isinstance(again.loads[0].at, Fraction)
    assert again.to_json() == text


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="unknown fields"):
        BeamLikeTask.from_dict({"task_id": "x", "seed": 1, "colour": "red"})


def test_wrong_types_are_refused():
    with pytest.raises(ValueError):
        BeamLikeTask.from_dict({"task_id": "x", "seed": "not-an-int"})


def test_unserialisable_values_raise():
    @dataclass(frozen=True)
    class Bad(Task):
        blob: object = None

    with pytest.raises(TypeError, match="not serialisable"):
        Bad(task_id="b", seed=0, blob=object()).to_dict()
