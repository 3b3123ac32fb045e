"""Host side of grading: drive the harness in fresh sandbox sessions, read its results back as plain data.

Nothing here trusts the sandbox: `result.json` is validated field by field (types, nonce, sizes), tensors come
back as raw bytes with a dtype and a shape and become host tensors only after the byte count matches. No
pickle ever crosses the boundary. The reference and the candidate run in separate sessions.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verigym.envs.base import harness_result
from verigym.envs.kernels.mounts import SITE
from verigym.envs.verdict import VerifierError

HERE = Path(__file__).parent
HARNESS_FILES = ("harness.py", "timing.py")
DTYPE_SIZES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "int16": 2,
               "int8": 1, "uint8": 1, "bool": 1}
MAX_RESULT_BYTES = 4 << 20
MAX_TENSOR_BYTES = 256 << 20


class HarnessOutputError(ValueError):
    """The harness's output is malformed (a field, a size or the nonce is wrong)."""


@dataclass(frozen=True)
class TensorData:
    """A tensor as it crossed the boundary: dtype name, shape and raw little-endian bytes."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes

    def to_torch(self) -> Any:
        import torch

        dtype = getattr(torch, self.dtype)
        if not self.data:
            return torch.empty(self.shape, dtype=dtype)
        return torch.frombuffer(bytearray(self.data), dtype=torch.uint8).view(dtype).reshape(self.shape)

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ReferenceTrial:
    seed: int
    init_inputs: list
    inputs: tuple[TensorData, ...]
    outputs: tuple[TensorData, ...]
    work: int  # elements produced by the reference's torch compute ops


@dataclass(frozen=True)
class ReferenceRun:
    trials: tuple[ReferenceTrial, ...]
    timing: dict | None = None
    duration_s: float = 0.0
    cpu_s: float = 0.0


@dataclass(frozen=True)
class CandidateTrial:
    seed: int
    outputs: tuple[TensorData, ...]
    inputs_sha256: tuple[str, ...]
    launches: int
    kernels: dict[str, int]
    torch_ops: dict[str, tuple[int, int]]
    outputs_alias_inputs: bool
    outputs_reused: bool
    python_threads_delta: int
    os_threads_delta: int
    stream_changed: bool


@dataclass(frozen=True)
class CandidateRun:
    """What the candidate's run produced; `stage` != "ok" means it failed there (`error` is its traceback)."""

    stage: str
    error: str | None
    trials: tuple[CandidateTrial, ...] = ()
    timing: dict | None = None
    exec_status: str = "ok"
    stderr: str = ""
    duration_s: float = 0.0
    cpu_s: float = 0.0


# -- running ---------------------------------------------------------------------------------------------------
def _install_harness(session: Any) -> None:
    for name in HARNESS_FILES:
        session.write_file(name, (HERE / name).read_text())


def _spec(mode: str, module: str, device: str, timing: dict | None, **extra: Any) -> dict:
    return {"mode": mode, "module": module, "device": device, "site": SITE, "out_dir": "out", "in_dir": "in",
            "timing": timing, "python": f"{sys.version_info.major}.{sys.version_info.minor}", **extra}


def _exec_harness(session: Any, spec: dict, timeout: float) -> tuple[Any, str]:
    nonce = secrets.token_hex(16)
    session.write_file("spec.json", json.dumps(spec))
    result = session.exec(["python3", "-I", "harness.py", "spec.json"], stdin=nonce + "\n", timeout=timeout)
    return harness_result(result), nonce


def _load_result(session: Any, nonce: str) -> dict | None:
    try:
        raw = session.read_file("out/result.json", max_bytes=MAX_RESULT_BYTES)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessOutputError(f"result.json is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("nonce") != nonce:
        raise HarnessOutputError("result.json lacks this run's nonce (not written by the harness)")
    return data


def _read_tensor(session: Any, meta: Any, folder: str = "out") -> TensorData:
    if not isinstance(meta, dict):
        raise HarnessOutputError(f"tensor entry is {type(meta).__name__}, not an object")
    dtype, shape, name = meta.get("dtype"), meta.get("shape"), meta.get("file")
    if dtype not in DTYPE_SIZES:
        raise HarnessOutputError(f"unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise HarnessOutputError(f"bad shape {shape!r}")
    if not isinstance(name, str) or not name.endswith(".bin") or "/" in name or name.startswith("."):
        raise HarnessOutputError(f"bad tensor file name {name!r}")
    numel = 1
    for d in shape:
        numel *= d
    expected = numel * DTYPE_SIZES[dtype]
    if expected > MAX_TENSOR_BYTES:
        raise HarnessOutputError(f"tensor of {expected} bytes exceeds the {MAX_TENSOR_BYTES} byte cap")
    data = session.read_file(f"{folder}/{name}", max_bytes=expected + 1)
    if len(data) != expected:
        raise HarnessOutputError(f"{name}: {len(data)} bytes for {dtype}{shape} (expected {expected})")
    return TensorData(dtype, tuple(shape), data)


def _ops(value: Any) -> dict[str, tuple[int, int]]:
    if not isinstance(value, dict):
        raise HarnessOutputError("torch_ops must be an object")
    out = {}
    for name, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(v) is int and v >= 0 for v in pair)):
            raise HarnessOutputError(f"torch_ops[{name!r}] must be [count, elements]")
        out[str(name)] = (pair[0], pair[1])
    return out


def torch_work(ops: dict[str, tuple[int, int]]) -> int:
    """Elements produced by compute ops (the harness already left out allocation, view and copy ops)."""
    from verigym.envs.kernels.harness import HOST_READ_OPS

    return sum(elements for name, (_, elements) in ops.items() if name not in HOST_READ_OPS)


def run_reference(session: Any, source: str, seeds: tuple[int, ...], device: str, timing: dict | None,
                  timeout: float) -> ReferenceRun:
    """Run the reference for every seed in `session` (trusted code only). A failure is ours: VerifierError."""
    return run_references(session, [(source, seeds)], device, timing, timeout)[0]


def run_references(session: Any, problems: list[tuple[str, tuple[int, ...]]], device: str, timing: dict | None,
                   timeout: float) -> list[ReferenceRun]:
    """Run several references (trusted code only) in one harness process of `session`, one result each."""
    _install_harness(session)
    items = []
    for i, (source, seeds) in enumerate(problems):
        session.write_file(f"reference_{i}.py", source)
        items.append({"module": f"reference_{i}.py", "seeds": list(seeds)})
    spec = _spec("reference", "", device, timing, problems=items)
    result, nonce = _exec_harness(session, spec, timeout)
    try:
        data = _load_result(session, nonce)
        if data is None or data.get("stage") != "ok":
            error = (data or {}).get("error") or result.stderr[-2000:] or result.detail
            raise VerifierError(f"the reference failed in the harness ({result.status}): {error}")
        runs = [_reference_problem(session, p, seeds) for p, (_, seeds) in zip(data["problems"], problems, strict=True)]
    except (HarnessOutputError, KeyError, TypeError, ValueError) as exc:
        raise VerifierError(f"the reference harness returned malformed results: {exc}") from exc
    cpu = _cpu_s(data) / max(1, len(runs))
    return [ReferenceRun(run.trials, run.timing, result.duration_s / len(runs), cpu) for run in runs]


def _reference_problem(session: Any, data: dict, seeds: tuple[int, ...]) -> ReferenceRun:
    trials = []
    for t in data["trials"]:
        if type(t.get("seed")) is not int or not isinstance(t.get("init_inputs"), list):
            raise HarnessOutputError("reference trial lacks seed/init_inputs")
        trials.append(ReferenceTrial(
            t["seed"], t["init_inputs"],
            tuple(_read_tensor(session, m) for m in t["inputs"]),
            tuple(_read_tensor(session, m) for m in t["outputs"]),
            torch_work(_ops(t["torch_ops"])),
        ))
    if [t.seed for t in trials] != list(seeds):
        raise HarnessOutputError("results for other seeds")
    timing = data.get("timing") if isinstance(data.get("timing"), dict) else None
    return ReferenceRun(tuple(trials), timing)


def run_candidate(session: Any, source: str, reference: ReferenceRun, device: str, timing: dict | None,
                  timeout: float) -> CandidateRun:
    """Run the submission on the reference's inputs (fresh tensors per trial) in its own session."""
    _install_harness(session)
    session.write_file("candidate.py", source)
    trials = []
    for i, trial in enumerate(reference.trials):
        metas = []
        for j, tensor in enumerate(trial.inputs):
            name = f"i{i}_{j}.bin"
            session.write_file(f"in/{name}", tensor.data)
            metas.append({"file": name, "dtype": tensor.dtype, "shape": list(tensor.shape)})
        trials.append({"seed": trial.seed, "init_inputs": trial.init_inputs, "inputs": metas})
    spec = _spec("candidate", "candidate.py", device, timing, trials=trials)
    result, nonce = _exec_harness(session, spec, timeout)
    stderr = result.stderr[-3000:]
    try:
        data = _load_result(session, nonce)
    except HarnessOutputError as exc:  # only the submission can have written a result.json without the nonce
        return CandidateRun("malformed", f"the run's results are malformed: {exc}", exec_status=str(result.status),
                            stderr=stderr, duration_s=result.duration_s)
    if data is None:  # the submission killed the harness (timeout, oom, crash, output flood)
        why = result.detail or f"exit code {result.exit_code}"
        return CandidateRun("crashed", f"the run ended without results ({result.status}: {why})",
                            exec_status=str(result.status), stderr=stderr, duration_s=result.duration_s)
    try:
        parsed = tuple(_candidate_trial(session, t) for t in data.get("trials", []))
        stage = data["stage"]
        error = data.get("error")
        if not isinstance(stage, str) or not (error is None or isinstance(error, str)):
            raise HarnessOutputError("stage/error have the wrong types")
    except (HarnessOutputError, KeyError, TypeError) as exc:
        return CandidateRun("malformed", f"the run's results are malformed: {exc}", exec_status=str(result.status),
                            stderr=stderr, duration_s=result.duration_s)
    timing_data = data.get("timing") if isinstance(data.get("timing"), dict) else None
    return CandidateRun(stage, error, parsed, timing_data, str(result.status), stderr, result.duration_s, _cpu_s(data))


def _cpu_s(data: dict) -> float:
    value = data.get("cpu_s")
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


def _candidate_trial(session: Any, t: Any) -> CandidateTrial:
    if not isinstance(t, dict):
        raise HarnessOutputError("trial entry is not an object")
    ints = ("seed", "launches", "python_threads_delta", "os_threads_delta")
    bools = ("outputs_alias_inputs", "outputs_reused", "stream_changed")
    if not all(type(t.get(k)) is int for k in ints) or not all(type(t.get(k)) is bool for k in bools):
        raise HarnessOutputError("trial fields have the wrong types")
    kernels = t.get("kernels")
    if not isinstance(kernels, dict) or not all(type(v) is int for v in kernels.values()):
        raise HarnessOutputError("kernels must map names to counts")
    sha = t.get("inputs_sha256")
    if not isinstance(sha, list) or not all(isinstance(s, str) for s in sha):
        raise HarnessOutputError("inputs_sha256 must be a list of strings")
    return CandidateTrial(
        t["seed"], tuple(_read_tensor(session, m) for m in t["outputs"]), tuple(sha), t["launches"],
        {str(k): v for k, v in kernels.items()}, _ops(t["torch_ops"]), t["outputs_alias_inputs"],
        t["outputs_reused"], t["python_threads_delta"], t["os_threads_delta"], t["stream_changed"],
    )
