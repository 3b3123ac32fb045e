"""The knowledge base: history items, examinations and conditions, loaded from the TOML files in `data/`.

The base is for training agents, not for clinical use (see the header of each data file). Loading always
runs the validator (`validate.py`), so a `KnowledgeBase` in hand is consistent: every probability is in
range and every examination has a result distribution for every condition.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")
FILES = ("findings_exams.toml", "conditions.toml")
SEXES = ("female", "male")
EXAM_KINDS = ("lab", "vital", "physical", "ecg", "imaging", "procedure")
_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


class KnowledgeBaseError(ValueError):
    """The knowledge base files are inconsistent; the message lists every problem found."""


@dataclass(frozen=True)
class Finding:
    """A yes/no history or symptom item; `complaint` is its opening-note text if it can be the complaint."""

    id: str
    ask: str
    base: float
    complaint: str | None = None
    sex: str | None = None


@dataclass(frozen=True)
class Exam:
    """An orderable examination. Numeric exams draw a value inside the range of the drawn category."""

    id: str
    name: str
    kind: str
    cost: float
    invasiveness: int
    categories: tuple[str, ...]
    default: dict[str, float]
    texts: dict[str, str] | None = None
    ranges: dict[str, tuple[float, float]] | None = None
    unit: str = ""
    reference: tuple[float, float] | None = None
    decimals: int = 0

    @property
    def numeric(self) -> bool:
        return self.ranges is not None

    def burden(self, invasiveness_weight: float) -> float:
        """Cost units charged for ordering this exam once."""
        return self.cost + invasiveness_weight * self.invasiveness


@dataclass(frozen=True)
class Condition:
    """A diagnosis: its canonical ICD-10-CM `code`, accepted names, prevalence and likelihoods."""

    id: str
    code: str
    name: str
    synonyms: tuple[str, ...]
    system: str
    prevalence: dict[str, float]
    sex: dict[str, float]
    findings: dict[str, float]
    exams: dict[str, dict[str, float]]
    key_exams: tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """The whole base, in file order (finding order is complaint salience)."""

    notice: str
    age_bands: tuple[str, ...]
    age_ranges: dict[str, tuple[int, int]]
    findings: dict[str, Finding]
    exams: dict[str, Exam]
    conditions: dict[str, Condition]

    @functools.cached_property
    def by_code(self) -> dict[str, Condition]:
        return {c.code: c for c in self.conditions.values()}

    @functools.cached_property
    def complaints(self) -> tuple[str, ...]:
        """Complaint-eligible finding ids, most salient first."""
        return tuple(f.id for f in self.findings.values() if f.complaint is not None)

    @functools.cached_property
    def _names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for c in self.conditions.values():
            for alias in (c.name, *c.synonyms):
                names[normalise_name(alias)] = c.code
        return names

    def finding_probability(self, condition: Condition, finding_id: str, sex: str) -> float:
        """P(yes | condition, sex) for a history item (0 for items that do not apply to `sex`)."""
        finding = self.findings[finding_id]
        if finding.sex is not None and finding.sex != sex:
            return 0.0
        return condition.findings.get(finding_id, finding.base)

    def exam_distribution(self, condition: Condition, exam_id: str) -> dict[str, float]:
        """P(category | condition) for every category of the exam, in category order."""
        return resolve_distribution(self.exams[exam_id], condition.exams.get(exam_id, {}))

    def band_of(self, age: int) -> str:
        for band, (low, high) in self.age_ranges.items():
            if low <= age <= high:
                return band
        raise ValueError(f"age {age} is outside every age band {self.age_ranges}")

    def resolve(self, text: str) -> str | None:
        """The canonical code that `text` names (a code in any accepted spelling, a name or synonym)."""
        code = normalise_code(text)
        if code is not None and code in self.by_code:
            return code
        return self._names.get(normalise_name(text))


def resolve_distribution(exam: Exam, given: dict[str, float]) -> dict[str, float]:
    """A condition's own probabilities, the rest of the mass spread as the exam's default."""
    rest = 1.0 - sum(given.values())
    return {cat: given.get(cat, 0.0) + rest * exam.default.get(cat, 0.0) for cat in exam.categories}


def normalise_code(text: str) -> str | None:
    """`i21.3`, ` I213 ` -> `I21.3`; None for anything that is not shaped like one ICD-10 code."""
    if not isinstance(text, str):
        return None
    code = text.strip().upper()
    if not _CODE.fullmatch(code):
        return None
    head, tail = code[:3], code[3:].lstrip(".")
    return f"{head}.{tail}" if tail else head


def normalise_name(text: str) -> str:
    """Case- and whitespace-insensitive form of a condition name."""
    return " ".join(text.casefold().split()) if isinstance(text, str) else ""


def read_raw(directory: Path | str | None = None) -> dict[str, Any]:
    """The two TOML files merged into one mapping (meta, findings, exams, conditions)."""
    folder = Path(directory) if directory else DATA_DIR
    raw: dict[str, Any] = {}
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise KnowledgeBaseError(f"knowledge base file {path} is missing (expected {list(FILES)} in {folder})")
        with path.open("rb") as handle:
            try:
                part = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise KnowledgeBaseError(f"{path}: {exc}") from None
        for key, value in part.items():
            if key in raw:
                raise KnowledgeBaseError(f"{path}: table [{key}] is defined in more than one file")
            raw[key] = value
    return raw


@functools.lru_cache(maxsize=8)
def load_knowledge_base(directory: str | None = None) -> KnowledgeBase:
    """Read, validate and build the base (cached per directory; None = the shipped base)."""
    from verigym.envs.diagnosis.validate import validate

    raw = read_raw(directory)
    problems = validate(raw)
    if problems:
        raise KnowledgeBaseError("invalid knowledge base:\n- " + "\n- ".join(problems))
    return build(raw)


def build(raw: dict[str, Any]) -> KnowledgeBase:
    """Turn validated raw data into the typed base."""
    meta = raw["meta"]
    findings = {
        fid: Finding(fid, f["ask"], float(f["base"]), f.get("complaint"), f.get("sex"))
        for fid, f in raw["findings"].items()
    }
    exams = {}
    for eid, e in raw["exams"].items():
        results = e["results"]
        numeric = "reference" in e
        exams[eid] = Exam(
            id=eid, name=e["name"], kind=e["kind"], cost=float(e["cost"]), invasiveness=int(e["invasiveness"]),
            categories=tuple(results), default={k: float(v) for k, v in e["default"].items()},
            texts=None if numeric else dict(results),
            ranges={k: (float(v[0]), float(v[1])) for k, v in results.items()} if numeric else None,
            unit=e.get("unit", ""), reference=tuple(e["reference"]) if numeric else None,  # type: ignore[arg-type]
            decimals=int(e.get("decimals", 0)),
        )
    conditions = {
        cid: Condition(
            id=cid, code=c["code"], name=c["name"], synonyms=tuple(c.get("synonyms", ())), system=c["system"],
            prevalence={k: float(v) for k, v in c["prevalence"].items()},
            sex={k: float(v) for k, v in c["sex"].items()},
            findings={k: float(v) for k, v in c.get("findings", {}).items()},
            exams={k: {cat: float(p) for cat, p in v.items()} for k, v in c.get("exams", {}).items()},
            key_exams=tuple(c["key_exams"]),
        )
        for cid, c in raw["conditions"].items()
    }
    return KnowledgeBase(
        notice=meta["notice"], age_bands=tuple(meta["age_bands"]),
        age_ranges={k: (int(v[0]), int(v[1])) for k, v in meta["age_ranges"].items()},
        findings=findings, exams=exams, conditions=conditions,
    )
