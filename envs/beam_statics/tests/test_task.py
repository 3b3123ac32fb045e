"""Task records: JSON round trips, derived unknowns, and validation of hand-made records."""

from fractions import Fraction

import pytest

from verigym.envs.beam_statics.generator import generate_in_category
from verigym.envs.beam_statics.task import CATEGORIES, BeamTask, Load, Support


@pytest.mark.parametrize("category", CATEGORIES)
def test_round_trip_through_dict_and_json(category):
    for seed in range(5):
        task = generate_in_category(category, seed)
        assert BeamTask.from_dict(task.to_dict()) == task
        assert BeamTask.from_json(task.to_json()) == task
        again = BeamTask.from_json(task.to_json())
        assert all(isinstance(s.x, Fraction) for s in again.supports)
        assert all(isinstance(l.value, Fraction) for l in again.loads)


def test_unknowns_follow_the_supports():
    two = BeamTask("t", 0, "overhang/point", Fraction(4), (Support("A", Fraction(1), "pin"), Support("B", Fraction(3), "roller")), (Load("point", Fraction(-1), Fraction(2)),))
    fixed = BeamTask("t", 0, "cantilever/point", Fraction(4), (Support("A", Fraction(4), "fixed"),), (Load("point", Fraction(-1), Fraction(2)),))
    assert two.unknowns == ("R_A", "R_B")
    assert fixed.unknowns == ("R_A", "M_A")
    assert fixed.layout == "cantilever"


def _task(**changes):
    fields = dict(
        task_id="t", seed=0, category="simply_supported/point", length=Fraction(4),
        supports=(Support("A", Fraction(0), "pin"), Support("B", Fraction(4), "roller")),
        loads=(Load("point", Fraction(-1), Fraction(2)),),
    )
    fields.update(changes)
    return BeamTask(**fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"category": "arch/point"}, "category"),
        ({"supports": (Support("A", Fraction(0), "pin"), Support("B", Fraction(0), "roller"))}, "different positions"),
        ({"supports": (Support("A", Fraction(0), "pin"), Support("B", Fraction(5), "roller"))}, "off the beam"),
        ({"supports": (Support("A", Fraction(0), "pin"), Support("B", Fraction(4), "pin"), Support("C", Fraction(2), "roller"))}, "statically determinate"),
        ({"supports": (Support("A", Fraction(2), "fixed"),)}, "an end"),
        ({"loads": ()}, "at least one load"),
        ({"loads": (Load("udl", Fraction(-1), Fraction(3), Fraction(2)),)}, "start < end"),
        ({"loads": (Load("point", Fraction(-1), Fraction(2), Fraction(3)),)}, "udl loads have an end"),
        ({"loads": (Load("torque", Fraction(1), Fraction(2)),)}, "kind"),
    ],
)
def test_invalid_records_are_refused_with_the_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        _task(**changes)


def test_from_dict_refuses_unknown_fields():
    data = _task().to_dict()
    data["answer"] = "R_A = P/2"
    with pytest.raises(ValueError, match="unknown fields"):
        BeamTask.from_dict(data)
