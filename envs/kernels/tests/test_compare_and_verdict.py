"""Host-side comparison of raw tensor bytes, result parsing, and the verdict, without a sandbox."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from verigym.envs.kernels.compare import compare_outputs
from verigym.envs.kernels.grading import (
    CandidateRun,
    CandidateTrial,
    HarnessOutputError,
    ReferenceRun,
    ReferenceTrial,
    TensorData,
    _read_tensor,
    run_candidate,
)
from verigym.envs.kernels.static_check import StaticReport, check_source
from verigym.envs.kernels.verifier import GradeSettings, grade


def td(t: torch.Tensor) -> TensorData:
    return TensorData(str(t.dtype).removeprefix("torch."), tuple(t.shape), t.contiguous().view(torch.uint8).numpy().tobytes())


def test_bytes_round_trip_for_every_dtype_including_bf16():
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int64):
        t = (torch.randn(3, 5) * 10).to(dtype)
        assert torch.equal(td(t).to_torch(), t)


def test_comparison_uses_per_dtype_tolerances_and_reports_diffs():
    ref = torch.randn(4, 8)
    [ok] = compare_outputs((td(ref + 5e-4),), (td(ref),))
    assert ok.ok and ok.max_abs_diff == pytest.approx(5e-4, rel=1e-2)
    [bad] = compare_outputs((td(ref + 5e-2),), (td(ref),))
    assert not bad.ok and bad.mean_abs_diff == pytest.approx(5e-2, rel=1e-2)
    half = ref.half()
    [ok16] = compare_outputs((td(half + 4e-3),), (td(half),))
    assert ok16.ok  # fp16 tolerance is 1e-2


def test_comparison_rejects_nan_shape_dtype_and_count_mismatches():
    ref = torch.randn(4, 8)
    nan = ref.clone()
    nan[0, 0] = float("nan")
    assert not compare_outputs((td(nan),), (td(ref),))[0].ok
    assert compare_outputs((td(nan),), (td(nan),))[0].ok  # NaN where the reference has NaN is fine
    assert not compare_outputs((td(ref.reshape(8, 4)),), (td(ref),))[0].ok
    assert not compare_outputs((td(ref.double()),), (td(ref),))[0].ok
    assert not compare_outputs((td(ref), td(ref)), (td(ref),))[0].ok


class FakeSession:
    """Just enough of a sandbox session to feed crafted harness output to the host-side parser."""

    def __init__(self, files):
        self.files = dict(files)

    def read_file(self, path, max_bytes=None):
        if path not in self.files:
            raise FileNotFoundError(path)
        data = self.files[path]
        return data if max_bytes is None else data[:max_bytes]

    def write_file(self, path, data, mode=0o644):
        self.files[path] = data

    def exec(self, argv, stdin=None, timeout=None, **_):
        from verigym.sandbox.records import ExecResult, Status

        self.files.update(self.on_exec(stdin.strip()))
        return ExecResult(Status.OK, 0, None, "", "", False, False, 0.1)


def test_tensor_metadata_is_validated_strictly():
    session = FakeSession({"out/a.bin": b"\0" * 16})
    assert _read_tensor(session, {"file": "a.bin", "dtype": "float32", "shape": [2, 2]}).shape == (2, 2)
    bad = [
        {"file": "a.bin", "dtype": "float32", "shape": [3, 2]},  # wrong byte count
        {"file": "a.bin", "dtype": "object", "shape": [4]},  # unknown dtype
        {"file": "../a.bin", "dtype": "float32", "shape": [4]},  # path escape
        {"file": "a.bin", "dtype": "float32", "shape": [True, 4]},  # bool is not an int here
        ["a.bin"],
    ]
    for meta in bad:
        with pytest.raises(HarnessOutputError):
            _read_tensor(session, meta)


def _reference():
    x = torch.randn(4)
    return ReferenceRun((ReferenceTrial(1, [], (td(x),), (td(x.relu()),), 4),))


def test_a_result_without_the_runs_nonce_is_the_submissions_fault():
    session = FakeSession({})
    session.on_exec = lambda nonce: {"out/result.json": json.dumps({"nonce": "forged", "stage": "ok", "trials": []}).encode()}
    run = run_candidate(session, "x", _reference(), "cpu", None, 10)
    assert run.stage == "malformed" and "nonce" in run.error


def test_a_missing_result_is_a_crash_and_a_malformed_trial_is_caught():
    session = FakeSession({})
    session.on_exec = lambda nonce: {}
    assert run_candidate(session, "x", _reference(), "cpu", None, 10).stage == "crashed"
    session.on_exec = lambda nonce: {"out/result.json": json.dumps(
        {"nonce": nonce, "stage": "ok", "trials": [{"seed": 1, "launches": "many"}]}).encode()}
    assert run_candidate(session, "x", _reference(), "cpu", None, 10).stage == "malformed"


def _trial(reference: ReferenceRun, **changes):
    ref = reference.trials[0]
    base = CandidateTrial(ref.seed, ref.outputs, tuple(t.sha256() for t in ref.inputs), 1, {"k": 1}, {}, False,
                          False, 0, 0, False)
    return dataclasses.replace(base, **changes)


def test_verdict_components_for_a_clean_run_and_for_each_integrity_failure():
    reference = _reference()
    static = StaticReport((), ("k",))
    clean = grade(static, reference, CandidateRun("ok", None, (_trial(reference),)), "cpu")
    assert clean.passed and clean.components == {"compiles": 1.0, "correct": 1.0, "speedup": 0.0, "coverage": 1.0}
    failures = {
        "no Triton kernel": {"launches": 0},
        "main work": {"torch_ops": {"relu": (1, 4)}},
        "read on the host": {"torch_ops": {"_local_scalar_dense": (1, 1)}},
        "inputs were modified": {"inputs_sha256": ("0" * 64,)},
        "shares memory": {"outputs_alias_inputs": True},
        "previous call": {"outputs_reused": True},
        "threads": {"python_threads_delta": 1},
        "stream": {"stream_changed": True},
    }
    for words, change in failures.items():
        verdict = grade(static, reference, CandidateRun("ok", None, (_trial(reference, **change),)), "cpu")
        assert verdict.components["correct"] == 0.0 and verdict.components["coverage"] == 0.0, words
        assert words in verdict.details["feedback"], verdict.details["feedback"]
    crashed = grade(static, reference, CandidateRun("forward", "Traceback: CompilationError", ()), "cpu")
    assert crashed.components["compiles"] == 0.0 and "CompilationError" in crashed.details["feedback"]
    static_fail = grade(check_source("import os\n"), None, None, "cpu")
    assert static_fail.components["compiles"] == 0.0 and "import of 'os'" in static_fail.details["feedback"]


def test_speedup_only_counts_on_cuda_and_big_speedups_are_flagged():
    reference = dataclasses.replace(_reference(), timing={"model_ms": {"median": 20.0}, "compiled_ms": {"median": 5.0}})
    run = CandidateRun("ok", None, (_trial(reference),), timing={"model_ms": {"median": 1.0}, "own_kernel_share": 0.9})
    static = StaticReport((), ("k",))
    gpu = grade(static, reference, run, "cuda", GradeSettings(speedup_cap=4.0))
    assert gpu.components["speedup"] == 1.0 and gpu.details["flags"] == ["suspicious_speedup"]
    assert gpu.details["speedup_vs_compile"] == 5.0 and gpu.details["own_kernel_share"] == 0.9
    assert grade(static, reference, run, "cpu").components["speedup"] == 0.0


@pytest.mark.parametrize("snippet, words", [
    ("from torch import sys", "import of 'sys' from torch"),
    ("from triton import runtime", "import of 'runtime' from triton"),
    ("import torch.nn.functional as F", "import of 'torch.nn.functional'"),
    ("y = torch.sys.modules", "use of .sys"),
    ("y = x.__class__", "access to '__class__'"),
    ("y = torch._C", "private attribute '_C'"),
    ("torch.relu = None", "monkey-patching"),
    ("f = getattr(torch, 'relu')", "use of 'getattr'"),
    ("global STATE", "global/nonlocal"),
    ("y = x.item()", "use of .item"),
    ("y = torch.overrides", "use of .overrides"),
])
def test_static_check_names_each_forbidden_route(snippet, words):
    from verigym.envs.kernels.oracle import oracle_source

    report = check_source(oracle_source("relu") + "\n\ndef helper(x):\n    " + snippet + "\n")
    assert any(words in v for v in report.violations), report.violations


def test_static_check_accepts_a_forward_argument_named_input():
    from verigym.envs.kernels.oracle import oracle_source

    source = oracle_source("relu").replace("def forward(self, x):", "def forward(self, input):\n        x = input")
    assert check_source(source).ok, check_source(source).violations
