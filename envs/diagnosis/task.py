"""The diagnosis task record: who the patient is and what they have (data only, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.task import Task


@dataclass(frozen=True)
class DiagnosisTask(Task):
    """One patient.

    `patient` keys every deterministic per-item draw (a finding or an exam result is a pure function of
    `patient` and the item id), so asking twice gives the same answer. `condition` is the canonical code
    of the true diagnosis, `complaint` the id of the presenting-complaint item. Tasks loaded from DDXPlus
    (`source = "ddxplus"`) carry their recorded answers in `recorded` instead of drawing them, and
    `opening` is the patient's initial statement.
    """

    patient: str
    condition: str
    age: int
    sex: str
    complaint: str
    source: str = "synthetic"
    opening: str = ""
    recorded: tuple[tuple[str, str], ...] = ()
