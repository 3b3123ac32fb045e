"""The knowledge-base validator: every problem in the raw TOML data, as readable sentences.

Checks: the header notice is present; probabilities lie in [0, 1]; every exam's result distribution is
defined (sums to 1) for every condition; numeric result ranges are ordered and disjoint; codes are
well-formed ICD-10 codes and, like every name and synonym, unique; references name known items; every
condition can present (some complaint item has P(yes) >= 0.5) and has at least one key exam.

    python -m verigym.envs.diagnosis.validate [DIR]     # exit 1 and list problems if invalid
"""

from __future__ import annotations

import math
import sys
from typing import Any

from verigym.envs.diagnosis.knowledge import (
    EXAM_KINDS,
    SEXES,
    KnowledgeBaseError,
    normalise_code,
    normalise_name,
    read_raw,
)

FINDING_KEYS = {"ask", "complaint", "base", "sex"}
EXAM_KEYS = {"name", "kind", "cost", "invasiveness", "unit", "reference", "decimals", "results", "default"}
CONDITION_KEYS = {"code", "name", "synonyms", "system", "prevalence", "sex", "findings", "exams", "key_exams"}
TOLERANCE = 1e-9


def validate(raw: dict[str, Any]) -> list[str]:
    """All problems found in `raw` (the merged TOML files); empty means valid."""
    problems: list[str] = []
    meta = raw.get("meta", {})
    if "not for clinical use" not in str(meta.get("notice", "")).lower():
        problems.append("[meta] notice must say the base is not for clinical use")
    bands = list(meta.get("age_bands", []))
    ranges = meta.get("age_ranges", {})
    if not bands or sorted(bands) != sorted(ranges):
        problems.append(f"[meta] age_bands {bands} and age_ranges {sorted(ranges)} must name the same bands")
    for band, span in ranges.items():
        if not (isinstance(span, list) and len(span) == 2 and 0 <= span[0] <= span[1]):
            problems.append(f"[meta] age range {band} = {span!r} must be [low, high] with 0 <= low <= high")
    for key in ("findings", "exams", "conditions"):
        if not isinstance(raw.get(key), dict) or not raw[key]:
            problems.append(f"the base has no [{key}] table")
    if problems:
        return problems
    findings, exams = raw["findings"], raw["exams"]
    for fid, f in findings.items():
        problems += _finding(fid, f)
    for eid, e in exams.items():
        problems += _exam(eid, e)
    codes: dict[str, str] = {}
    names: dict[str, str] = {}
    for cid, c in raw["conditions"].items():
        problems += _condition(cid, c, bands, findings, exams)
        code = normalise_code(c.get("code", ""))
        if code is None or code != c.get("code"):
            problems.append(f"condition {cid}: code {c.get('code')!r} is not a canonical ICD-10 code like 'I21.3'")
        elif code in codes:
            problems.append(f"condition {cid}: code {code} is also the code of {codes[code]}")
        else:
            codes[code] = cid
        for alias in [c.get("name", ""), *c.get("synonyms", [])]:
            key = normalise_name(alias)
            if not key:
                problems.append(f"condition {cid}: empty name or synonym")
            elif key in names and names[key] != cid:
                problems.append(f"condition {cid}: name {alias!r} is also a name of {names[key]}")
            elif normalise_code(alias) is not None:
                problems.append(f"condition {cid}: name {alias!r} looks like a code")
            names[key] = cid
    return problems


def _probability(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _finding(fid: str, f: Any) -> list[str]:
    if not isinstance(f, dict):
        return [f"finding {fid}: must be a table"]
    out = [f"finding {fid}: unknown key {k!r}" for k in sorted(set(f) - FINDING_KEYS)]
    if not isinstance(f.get("ask"), str) or not f["ask"]:
        out.append(f"finding {fid}: `ask` text is missing")
    if not _probability(f.get("base")):
        out.append(f"finding {fid}: base {f.get('base')!r} is not a probability in [0, 1]")
    if "complaint" in f and (not isinstance(f["complaint"], str) or not f["complaint"]):
        out.append(f"finding {fid}: complaint must be non-empty text")
    if "sex" in f and f["sex"] not in SEXES:
        out.append(f"finding {fid}: sex must be one of {SEXES}")
    return out


def _exam(eid: str, e: Any) -> list[str]:
    if not isinstance(e, dict):
        return [f"exam {eid}: must be a table"]
    out = [f"exam {eid}: unknown key {k!r}" for k in sorted(set(e) - EXAM_KEYS)]
    kind = e.get("kind")
    if kind not in EXAM_KINDS:
        out.append(f"exam {eid}: kind {kind!r} is not one of {EXAM_KINDS}")
    if not isinstance(e.get("name"), str) or not e["name"]:
        out.append(f"exam {eid}: name is missing")
    if not (isinstance(e.get("cost"), (int, float)) and e["cost"] >= 0):
        out.append(f"exam {eid}: cost must be a number >= 0")
    if e.get("invasiveness") not in (0, 1, 2, 3):
        out.append(f"exam {eid}: invasiveness must be 0, 1, 2 or 3")
    results = e.get("results")
    if not isinstance(results, dict) or not results:
        return out + [f"exam {eid}: results must be a non-empty table of categories"]
    if "reference" in e:
        out += _numeric_results(eid, e, results)
    else:
        out += [f"exam {eid}: result {k} must be report text" for k, v in results.items() if not isinstance(v, str) or not v]
    out += _distribution(f"exam {eid} default", e.get("default"), results, exact=True)
    return out


def _numeric_results(eid: str, e: dict[str, Any], results: dict[str, Any]) -> list[str]:
    out = []
    reference = e.get("reference")
    if not (isinstance(reference, list) and len(reference) == 2 and reference[0] <= reference[1]):
        out.append(f"exam {eid}: reference must be [low, high]")
    if not isinstance(e.get("unit"), str):
        out.append(f"exam {eid}: unit must be text")
    decimals = e.get("decimals", 0)
    spans = []
    for cat, span in results.items():
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) for v in span) and span[0] <= span[1]):
            out.append(f"exam {eid}: result {cat} must be a [min, max] value range")
            continue
        if any(round(v, decimals) != v for v in span):
            out.append(f"exam {eid}: result {cat} range {span} has more than {decimals} decimals")
        spans.append((span[0], span[1], cat))
    spans.sort()
    for (_, high, cat), (low, _, nxt) in zip(spans, spans[1:]):
        if low <= high:
            out.append(f"exam {eid}: result ranges {cat} and {nxt} overlap")
    return out


def _distribution(where: str, dist: Any, categories: dict[str, Any], exact: bool) -> list[str]:
    if not isinstance(dist, dict) or not dist:
        return [f"{where}: must be a table of category = probability"]
    out = [f"{where}: unknown result category {k!r} (have {list(categories)})" for k in dist if k not in categories]
    out += [f"{where}: P({k}) = {v!r} is not a probability in [0, 1]" for k, v in dist.items() if not _probability(v)]
    if out:
        return out
    total = math.fsum(dist.values())
    if exact and abs(total - 1.0) > TOLERANCE:
        out.append(f"{where}: probabilities sum to {total}, not 1")
    if not exact and total > 1.0 + TOLERANCE:
        out.append(f"{where}: probabilities sum to {total}, more than 1")
    return out


def _condition(cid: str, c: Any, bands: list[str], findings: dict[str, Any], exams: dict[str, Any]) -> list[str]:
    if not isinstance(c, dict):
        return [f"condition {cid}: must be a table"]
    out = [f"condition {cid}: unknown key {k!r}" for k in sorted(set(c) - CONDITION_KEYS)]
    for key in ("name", "system"):
        if not isinstance(c.get(key), str) or not c[key]:
            out.append(f"condition {cid}: {key} is missing")
    prevalence = c.get("prevalence", {})
    if sorted(prevalence) != sorted(bands) or not all(isinstance(v, (int, float)) and v >= 0 for v in prevalence.values()):
        out.append(f"condition {cid}: prevalence needs a weight >= 0 for each band {bands}")
    elif not any(prevalence.values()):
        out.append(f"condition {cid}: prevalence is 0 in every band")
    sex = c.get("sex", {})
    if sorted(sex) != sorted(SEXES) or not all(isinstance(v, (int, float)) and v >= 0 for v in sex.values()) or not any(sex.values()):
        out.append(f"condition {cid}: sex needs weights >= 0 for {SEXES}, not both 0")
    likelihoods = c.get("findings", {})
    for fid, p in likelihoods.items():
        if fid not in findings:
            out.append(f"condition {cid}: unknown finding {fid!r}")
        elif not _probability(p):
            out.append(f"condition {cid}: P({fid}) = {p!r} is not a probability in [0, 1]")
    presenting = [fid for fid, p in likelihoods.items() if fid in findings and "complaint" in findings[fid] and _probability(p) and p >= 0.5]
    if not presenting:
        out.append(f"condition {cid}: needs a complaint item with P(yes) >= 0.5, or patients rarely present")
    given = c.get("exams", {})
    for eid, exam in exams.items():
        if not isinstance(exam, dict) or not isinstance(exam.get("results"), dict):
            continue
        if eid in given:
            out += _distribution(f"condition {cid} exam {eid}", given[eid], exam["results"], exact=False)
        resolved = _resolved(exam, given.get(eid, {}))
        if resolved is not None and abs(math.fsum(resolved) - 1.0) > 1e-6:
            out.append(f"condition {cid}: exam {eid} results are not defined (sum {math.fsum(resolved)})")
    out += [f"condition {cid}: unknown exam {eid!r}" for eid in given if eid not in exams]
    keys = c.get("key_exams", [])
    if not keys:
        out.append(f"condition {cid}: key_exams must name at least one exam")
    out += [f"condition {cid}: unknown key exam {eid!r}" for eid in keys if eid not in exams]
    if len(set(keys)) != len(keys):
        out.append(f"condition {cid}: key_exams repeats an exam")
    return out


def _resolved(exam: dict[str, Any], given: Any) -> list[float] | None:
    default = exam.get("default")
    if not isinstance(default, dict) or not isinstance(given, dict):
        return None
    if not all(_probability(v) for v in [*default.values(), *given.values()]):
        return None
    rest = 1.0 - math.fsum(given.values())
    return [given.get(cat, 0.0) + rest * default.get(cat, 0.0) for cat in exam["results"]]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        raw = read_raw(args[0] if args else None)
    except KnowledgeBaseError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = validate(raw)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ok: {len(raw['conditions'])} conditions, {len(raw['findings'])} findings, {len(raw['exams'])} exams")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
