"""DDXPlus files on disk as `diagnosis-v0` tasks (DDXPlus: Fansi Tchango et al., 2022; CC-BY 4.0).

Nothing is downloaded: point `load_ddxplus` at a folder holding the release files

    release_conditions.json   {pathology: {"cond-name-eng", "icd10-id", "symptoms", "antecedents", "severity"}}
    release_evidences.json    {evidence id: {"question_en", "data_type" B|C|M, "default_value", "value_meaning"}}
    release_test_patients     CSV (optionally .csv or a .zip holding one CSV) with AGE, SEX, PATHOLOGY,
                              EVIDENCES (a list literal like ['E_91', 'E_55_@_V_29']) and INITIAL_EVIDENCE

Each evidence becomes an `ask` item answered from the patient row (binary: yes/no; categorical and
multi-choice: the value meanings, or the default value when the row does not list the evidence). The
pathology's first ICD-10 code is the answer code. DDXPlus has no examinations, so `order` is unavailable
and `exam_f1` is 1 when nothing is ordered. `knowledge_base` gives the oracle a coarse model (uniform
prior; P(yes) = 0.6 for a pathology's listed binary evidences, 0.02 otherwise): an approximation, unlike
the exact posterior over the shipped base.
"""

from __future__ import annotations

import ast
import csv
import functools
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verigym.envs.diagnosis.knowledge import Condition, Finding, KnowledgeBase, normalise_code
from verigym.envs.diagnosis.task import DiagnosisTask

CONDITIONS_FILE = "release_conditions.json"
EVIDENCES_FILE = "release_evidences.json"
PATIENT_COLUMNS = ("AGE", "SEX", "PATHOLOGY", "EVIDENCES", "INITIAL_EVIDENCE")
LISTED, UNLISTED = 0.6, 0.02
SEX = {"F": "female", "M": "male"}


class DdxPlusError(ValueError):
    """The DDXPlus files are missing or not in the expected format; the message says which and why."""


@dataclass(frozen=True)
class DdxEvidence:
    """One DDXPlus question. `data_type`: B (yes/no), C (one value), M (several values)."""

    id: str
    question: str
    data_type: str
    default: str
    meanings: dict[str, str]

    def meaning(self, value: str) -> str:
        return self.meanings.get(value, value)


@dataclass(frozen=True)
class DdxCondition:
    """One DDXPlus pathology with its ICD-10 codes and the evidences the release lists for it."""

    key: str
    name: str
    codes: tuple[str, ...]
    evidences: tuple[str, ...]


@dataclass(frozen=True)
class DdxPatient:
    """One patient row."""

    row: int
    age: int
    sex: str
    pathology: str
    evidences: tuple[str, ...]
    initial: str


@dataclass(frozen=True)
class DdxPlus:
    """A loaded release: conditions, evidences and patient rows."""

    conditions: dict[str, DdxCondition]
    evidences: dict[str, DdxEvidence]
    patients: tuple[DdxPatient, ...]

    def answers(self, patient: DdxPatient) -> dict[str, str]:
        """The `ask` answer for every evidence, from the patient row."""
        given: dict[str, list[str]] = {}
        for item in patient.evidences:
            eid, _, value = item.partition("_@_")
            given.setdefault(eid, []).append(value)
        out = {}
        for eid, evidence in self.evidences.items():
            values = given.get(eid)
            if evidence.data_type == "B":
                out[eid] = "yes" if values is not None else "no"
            else:
                shown = values if values is not None else [evidence.default]
                out[eid] = "; ".join(evidence.meaning(v) for v in shown if v != "")
        return out

    def answer_code(self, patient: DdxPatient) -> str:
        """The canonical code of the patient's pathology."""
        return self.conditions[patient.pathology].codes[0]

    def task(self, index: int) -> DiagnosisTask:
        """Patient `index` (modulo the number of rows) as a task."""
        patient = self.patients[index % len(self.patients)]
        answers = self.answers(patient)
        question = self.evidences[patient.initial].question
        return DiagnosisTask(
            task_id=f"ddxplus-{patient.row}", seed=index, patient=f"ddxplus.{patient.row}",
            condition=self.answer_code(patient), age=patient.age, sex=patient.sex, complaint=patient.initial,
            source="ddxplus", opening=f'Asked "{question}", the patient answers: {answers[patient.initial]}.',
            recorded=tuple(sorted(answers.items())),
        )

    @functools.cached_property
    def knowledge_base(self) -> KnowledgeBase:
        """The catalogue (evidences as ask items, codes as diagnoses) with the oracle's coarse model."""
        findings = {
            e.id: Finding(e.id, e.question, UNLISTED if e.data_type == "B" else 0.5) for e in self.evidences.values()
        }
        merged: dict[str, list[DdxCondition]] = {}
        for condition in self.conditions.values():
            merged.setdefault(condition.codes[0], []).append(condition)
        conditions = {}
        for code, group in merged.items():
            listed = {e for c in group for e in c.evidences if e in self.evidences and self.evidences[e].data_type == "B"}
            names = [c.name for c in group] + [c.key for c in group if c.key != c.name]
            conditions[code] = Condition(
                id=code, code=code, name=names[0], synonyms=tuple(dict.fromkeys(names[1:])), system="ddxplus",
                prevalence={"all": 1.0}, sex={"female": 1.0, "male": 1.0},
                findings=dict.fromkeys(sorted(listed), LISTED), exams={}, key_exams=(),
            )
        return KnowledgeBase(
            notice="DDXPlus (CC-BY 4.0), synthetic patients; for training agents, not for clinical use.",
            age_bands=("all",), age_ranges={"all": (0, 150)}, findings=findings, exams={}, conditions=conditions,
        )


@functools.lru_cache(maxsize=4)
def load_ddxplus(directory: str, patients_file: str = "release_test_patients", limit: int | None = None) -> DdxPlus:
    """Read the release files in `directory` (at most `limit` patient rows); raises DdxPlusError."""
    folder = Path(directory)
    evidences = {eid: _evidence(eid, e) for eid, e in _json(folder / EVIDENCES_FILE).items()}
    raw_conditions = _json(folder / CONDITIONS_FILE)
    conditions = {key: _condition(key, c) for key, c in raw_conditions.items()}
    aliases = {}  # rows may name a pathology by its English or French name instead of its key
    for key, c in raw_conditions.items():
        for alias in (c.get("cond-name-eng"), c.get("cond-name-fr"), c.get("condition_name"), key):
            if isinstance(alias, str) and alias:
                aliases.setdefault(alias, key)
    patients = []
    for row, record in enumerate(_rows(folder, patients_file)):
        if limit is not None and row >= limit:
            break
        patients.append(_patient(row, record, aliases, evidences))
    if not patients:
        raise DdxPlusError(f"{folder / patients_file}: no patient rows")
    return DdxPlus(conditions, evidences, tuple(patients))


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DdxPlusError(f"{path} is missing; put the DDXPlus release files in {path.parent}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise DdxPlusError(f"{path}: expected a non-empty JSON object")
    return data


def _evidence(eid: str, e: dict[str, Any]) -> DdxEvidence:
    if e.get("data_type") not in ("B", "C", "M") or not isinstance(e.get("question_en"), str):
        raise DdxPlusError(f"{EVIDENCES_FILE}: evidence {eid} needs question_en and data_type B, C or M")
    meanings = {}
    for value, meaning in (e.get("value_meaning") or {}).items():
        meanings[str(value)] = meaning.get("en", str(value)) if isinstance(meaning, dict) else str(meaning)
    default = e.get("default_value", "")
    return DdxEvidence(eid, e["question_en"], e["data_type"], "" if default is None else str(default), meanings)


def _condition(key: str, c: dict[str, Any]) -> DdxCondition:
    raw = str(c.get("icd10-id", ""))
    codes = tuple(code for code in (normalise_code(part) for part in raw.split(",")) if code)
    if not codes:
        raise DdxPlusError(f"{CONDITIONS_FILE}: condition {key!r} has no usable icd10-id ({raw!r})")
    evidences = tuple(dict.fromkeys([*(c.get("symptoms") or {}), *(c.get("antecedents") or {})]))
    return DdxCondition(key, str(c.get("cond-name-eng") or key), codes, evidences)


def _rows(folder: Path, name: str):
    for candidate in (folder / name, folder / f"{name}.csv", folder / f"{name}.zip"):
        if candidate.is_file():
            break
    else:
        raise DdxPlusError(f"no patient file {name}[.csv|.zip] in {folder}")
    if candidate.suffix == ".zip":
        with zipfile.ZipFile(candidate) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise DdxPlusError(f"{candidate}: expected one CSV inside, found {members}")
            text = archive.read(members[0]).decode("utf-8")
    else:
        text = candidate.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in PATIENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DdxPlusError(f"{candidate}: missing column(s) {missing}; have {reader.fieldnames}")
    yield from reader


def _patient(row: int, record: dict[str, str], aliases: dict[str, str], evidences: dict[str, DdxEvidence]) -> DdxPatient:
    where = f"patient row {row}"
    try:
        items = ast.literal_eval(record["EVIDENCES"])
        age = int(record["AGE"])
    except (ValueError, SyntaxError) as exc:
        raise DdxPlusError(f"{where}: unreadable AGE or EVIDENCES ({exc})") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise DdxPlusError(f"{where}: EVIDENCES must be a list of evidence strings")
    unknown = sorted({i.partition("_@_")[0] for i in items} - set(evidences))
    if unknown:
        raise DdxPlusError(f"{where}: unknown evidences {unknown}")
    if record["PATHOLOGY"] not in aliases:
        raise DdxPlusError(f"{where}: pathology {record['PATHOLOGY']!r} is not in {CONDITIONS_FILE}")
    if record["INITIAL_EVIDENCE"] not in evidences:
        raise DdxPlusError(f"{where}: initial evidence {record['INITIAL_EVIDENCE']!r} is unknown")
    if record["SEX"] not in SEX:
        raise DdxPlusError(f"{where}: SEX must be M or F, got {record['SEX']!r}")
    return DdxPatient(row, age, SEX[record["SEX"]], aliases[record["PATHOLOGY"]], tuple(items), record["INITIAL_EVIDENCE"])
