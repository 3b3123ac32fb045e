import pytest

from verigym.envs import Criterion, Rubric, Verdict


def test_weighted_sum_and_components():
    rubric = Rubric.from_verdict({"correct": 1.0, "partial": 0.5, "format": 0.1})
    reward, values = rubric.score(Verdict(False, 0.0, {"correct": 0.0, "partial": 0.5, "format": 1.0}))
    assert values == {"correct": 0.0, "partial": 0.5, "format": 1.0}
    assert reward == pytest.approx(0.5 * 0.5 + 0.1)


def test_gate_zeroes_a_component_unless_the_gate_passed():
    rubric = Rubric.from_verdict({"correct": 1.0, "format": 0.2}, only_if={"format": "correct"})
    _, wrong = rubric.score(Verdict(False, 0, {"correct": 0.0, "format": 1.0}))
    reward, right = rubric.score(Verdict(True, 1, {"correct": 1.0, "format": 1.0}))
    assert wrong["format"] == 0.0
    assert right["format"] == 1.0 and reward == pytest.approx(1.2)


def test_decorator_registration_and_order():
    rubric = Rubric()

    @rubric.criterion(weight=2.0)
    def length(outcome):
        """Shorter is better."""
        return 1.0 / len(outcome)

    assert rubric.names == ("length",)
    assert rubric.criteria[0].description == "Shorter is better."
    assert rubric.score("ab") == (1.0, {"length": 0.5})


def test_invalid_rubrics_are_refused():
    rubric = Rubric.from_verdict({"a": 1.0})
    with pytest.raises(ValueError, match="already has"):
        rubric.add(Criterion("a", 1.0, lambda o: 0.0))
    with pytest.raises(ValueError, match="not an earlier criterion"):
        rubric.add(Criterion("b", 1.0, lambda o: 0.0, only_if="zzz"))
    bad = Rubric([Criterion("x", 1.0, lambda o: 2.0)])
    with pytest.raises(ValueError, match="outside"):
        bad.score(None)
