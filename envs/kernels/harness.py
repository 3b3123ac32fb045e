"""The grading harness: runs INSIDE a fresh sandbox session, never on the host; stdlib + torch (+ triton).

    python3 -I harness.py SPEC.json        (the run's nonce arrives on stdin)

Two modes, always in separate sessions, so candidate code never shares a process (or memory) with the
reference:

- `reference`: per seeded trial, build `Model(*get_init_inputs())` and `get_inputs()`, run `forward`, and write
  the inputs and outputs as raw bytes, with the reference's torch work (elements produced by compute ops).
- `candidate`: load `ModelNew` from the agent's source, then per trial rebuild the model under the same seed,
  read fresh input tensors from the bytes the host passed in, run `forward` with every Triton launch counted
  (the launcher is instrumented; also under TRITON_INTERPRET=1) and every torch op outside a launch recorded,
  and write the outputs as raw bytes plus the inputs' post-run digests. Freed buffers are poisoned with NaN.

Results go to `out/result.json` (plain JSON with the nonce) and `out/*.bin` (raw little-endian tensor bytes);
the host validates and compares them. Nothing here decides correctness.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import traceback

FREE_OPS = frozenset(
    # allocation, views and metadata: no arithmetic on tensor values
    "empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like new_zeros fill_ zero_ view "
    "_unsafe_view reshape as_strided alias detach t transpose permute expand squeeze unsqueeze slice select "
    "unbind split split_with_sizes chunk narrow flatten unflatten lift_fresh set_ _reshape_alias resize_ "
    "contiguous clone copy_ _to_copy to view_as expand_as".split()
)
HOST_READ_OPS = frozenset({"_local_scalar_dense", "item", "equal", "is_nonzero"})
POISON_BYTES = 64 << 20


def op_name(func) -> str:
    """`aten.add.Tensor` -> `add`."""
    name = getattr(func, "__name__", str(func))
    parts = str(func).split(".")
    return parts[1] if len(parts) >= 3 else name.split(".")[0]


def tensor_bytes(t) -> bytes:
    """The tensor's raw bytes (contiguous, on the CPU), any dtype (bf16 included)."""
    import torch

    flat = t.detach().contiguous().reshape(-1).cpu()
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


class OpLog:
    """Torch ops seen outside Triton launches: op -> (count, elements produced)."""

    def __init__(self) -> None:
        self.active = False
        self.in_kernel = 0
        self.ops: dict[str, list[int]] = {}

    def record(self, func, out) -> None:
        if not self.active or self.in_kernel:
            return
        name = op_name(func)
        if name in FREE_OPS:
            return
        elements = 0
        for value in out if isinstance(out, (tuple, list)) else (out,):
            numel = getattr(value, "numel", None)
            if callable(numel):
                elements += int(numel())
        entry = self.ops.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += max(elements, 1)

    def work(self) -> int:
        return sum(n for name, (_, n) in self.ops.items() if name not in HOST_READ_OPS)

    def take(self) -> dict[str, list[int]]:
        ops, self.ops = self.ops, {}
        return ops


def make_mode(log: OpLog):
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            log.record(func, out)
            return out

    # torch wraps __torch_dispatch__ to disable dynamo, importing torch._dynamo on first use (~2 s CPU, as much
    # as importing torch); nothing here compiles, so mark the function as already handled
    original = getattr(Recorder.__torch_dispatch__, "__wrapped__", None)
    if original is not None:
        setattr(original, "__dynamo_disable", original)
    return Recorder()


class Launches:
    """Counts Triton kernel launches by wrapping the launcher (`JITFunction.run`, and the interpreter's)."""

    def __init__(self, log: OpLog) -> None:
        self.log = log
        self.count = 0
        self.kernels: dict[str, int] = {}

    def install(self) -> None:
        import triton.runtime.jit as jit

        classes = [jit.JITFunction]
        try:
            import triton.runtime.interpreter as interpreter

            classes.append(interpreter.InterpretedFunction)
        except ImportError:
            pass
        for cls in classes:
            cls.run = self._wrap(cls.run)

    def _wrap(self, run):
        launches = self

        def counted_run(fn, *args, **kwargs):
            if kwargs.get("warmup"):
                return run(fn, *args, **kwargs)
            name = getattr(fn, "__name__", None) or getattr(getattr(fn, "fn", None), "__name__", "kernel")
            launches.log.in_kernel += 1
            try:
                result = run(fn, *args, **kwargs)
            finally:
                launches.log.in_kernel -= 1
            launches.count += 1  # only launches that completed count
            launches.kernels[name] = launches.kernels.get(name, 0) + 1
            return result

        return counted_run

    def take(self) -> tuple[int, dict[str, int]]:
        count, kernels = self.count, self.kernels
        self.count, self.kernels = 0, {}
        return count, kernels


class Harness:
    def __init__(self, spec: dict, nonce: str) -> None:
        self.spec, self.nonce = spec, nonce
        self.out_dir = spec["out_dir"]
        os.makedirs(self.out_dir, exist_ok=True)
        self.result: dict = {"nonce": nonce, "mode": spec["mode"], "stage": "setup", "error": None, "trials": []}
        self.files = 0

    # -- plumbing ------------------------------------------------------------------------------------------
    def write_tensor(self, t) -> dict:
        self.files += 1
        name = f"t{self.files}.bin"
        data = tensor_bytes(t)
        with open(os.path.join(self.out_dir, name), "wb") as fh:
            fh.write(data)
        return {"file": name, "dtype": dtype_name(t), "shape": list(t.shape), "nbytes": len(data)}

    def read_tensor(self, meta: dict, device: str):
        import torch

        with open(os.path.join(self.spec["in_dir"], meta["file"]), "rb") as fh:
            raw = bytearray(fh.read())
        dtype = getattr(torch, meta["dtype"])
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        return flat.view(dtype).reshape(meta["shape"]).to(device).clone()

    def finish(self) -> None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.result["cpu_s"] = usage.ru_utime + usage.ru_stime
        path = os.path.join(self.out_dir, "result.json")
        with open(path + ".tmp", "w") as fh:
            json.dump(self.result, fh)
        os.replace(path + ".tmp", path)

    def fail(self, stage: str, exc: BaseException) -> None:
        self.result["stage"] = stage
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        self.result["error"] = "".join(tb)[-4000:]

    # -- shared setup --------------------------------------------------------------------------------------
    def setup_torch(self):
        import torch

        torch.set_num_threads(1)
        return torch

    def load_module(self, path: str, name: str) -> dict:
        with open(path) as fh:
            source = fh.read()
        namespace: dict = {"__name__": name, "__file__": path}
        code = compile(source, os.path.basename(path), "exec")
        exec(code, namespace)  # noqa: S102 - this IS the sandboxed code under test
        return namespace

    # -- reference mode ------------------------------------------------------------------------------------
    def run_reference(self) -> None:
        """Every listed problem (trusted code only), each in its own namespace: `result["problems"]`."""
        self.setup_torch()
        self.result["stage"] = "trials"
        self.result["problems"] = [self.reference_problem(item["module"], item["seeds"]) for item in self.spec["problems"]]
        self.result["stage"] = "ok"

    def reference_problem(self, module: str, seeds: list) -> dict:
        import torch

        device = self.spec["device"]
        ns = self.load_module(module, "reference")
        log = OpLog()
        mode = make_mode(log)
        trials = []
        for seed in seeds:
            torch.manual_seed(seed)
            init = list(ns["get_init_inputs"]())
            json.dumps(init)  # init inputs must be plain data (ints, floats, lists)
            torch.manual_seed(seed + 1)
            inputs = list(ns["get_inputs"]())
            if not all(isinstance(t, torch.Tensor) for t in inputs):
                raise TypeError("get_inputs() must return tensors only")
            inputs = [t.to(device) for t in inputs]
            input_meta = [self.write_tensor(t) for t in inputs]
            torch.manual_seed(seed + 2)
            model = ns["Model"](*init).to(device).eval()
            with torch.no_grad(), mode:
                log.active = True
                out = model(*inputs)
                log.active = False
            outputs = list(out) if isinstance(out, (tuple, list)) else [out]
            if not all(isinstance(t, torch.Tensor) for t in outputs):
                raise TypeError("Model.forward must return a tensor or a tuple of tensors")
            trials.append(
                {
                    "seed": seed,
                    "init_inputs": init,
                    "inputs": input_meta,
                    "outputs": [self.write_tensor(t) for t in outputs],
                    "torch_ops": log.take(),
                }
            )
        result = {"trials": trials}
        timing = self.spec.get("timing")
        if timing and device == "cuda":
            result["timing"] = self.time_model(ns["Model"], ns, trials[0], None, timing, compiled=timing.get("compile", False))
        return result

    # -- candidate mode ------------------------------------------------------------------------------------
    def run_candidate(self) -> None:
        torch = self.setup_torch()
        device = self.spec["device"]
        log = OpLog()
        launches = Launches(log)
        launches.install()
        mode = make_mode(log)
        self.result["stage"] = "import"
        ns = self.load_module(self.spec["module"], "candidate")
        if not isinstance(ns.get("ModelNew"), type):
            raise LookupError("the submission defines no class ModelNew")
        model_cls = ns["ModelNew"]
        seen_ptrs: set[int] = set()
        for trial in self.spec["trials"]:
            self.result["stage"] = "init"
            poison(torch, device)
            inputs = [self.read_tensor(meta, device) for meta in trial["inputs"]]
            torch.manual_seed(trial["seed"] + 2)
            model = model_cls(*trial["init_inputs"]).to(device).eval()
            threads_before = threading.active_count()
            tasks_before = os_threads()
            stream_before = current_stream(torch, device)
            launches.take()
            self.result["stage"] = "forward"
            with torch.no_grad(), mode:
                log.active = True
                out = model(*inputs)
                log.active = False
            if device == "cuda":
                torch.cuda.synchronize()
            count, kernels = launches.take()
            outputs = list(out) if isinstance(out, (tuple, list)) else [out]
            if not all(isinstance(t, torch.Tensor) for t in outputs):
                raise TypeError(f"ModelNew.forward returned {type(out).__name__}, not a tensor or tuple of tensors")
            in_ptrs = {t.untyped_storage().data_ptr() for t in inputs}
            out_ptrs = [t.untyped_storage().data_ptr() for t in outputs]
            record = {
                "seed": trial["seed"],
                "outputs": [self.write_tensor(t) for t in outputs],
                "inputs_sha256": [hashlib.sha256(tensor_bytes(t)).hexdigest() for t in inputs],
                "launches": count,
                "kernels": kernels,
                "torch_ops": log.take(),
                "outputs_alias_inputs": any(p in in_ptrs for p in out_ptrs),
                "outputs_reused": any(p in seen_ptrs for p in out_ptrs),
                "python_threads_delta": threading.active_count() - threads_before,
                "os_threads_delta": os_threads() - tasks_before,
                "stream_changed": current_stream(torch, device) != stream_before,
            }
            self.result["trials"].append(record)
            seen_ptrs.update(out_ptrs)
            for t in [*outputs, *inputs]:  # nothing the next trial allocates may find these values
                if t.is_floating_point():
                    t.fill_(float("nan"))
            del out, outputs, inputs, model
        timing = self.spec.get("timing")
        if timing and device == "cuda":
            self.result["stage"] = "timing"
            self.result["timing"] = self.time_model(model_cls, None, self.result["trials"][0], self.spec["trials"][0],
                                                    timing, compiled=False)
        self.result["stage"] = "ok"

    # -- GPU timing (device == "cuda" only) ------------------------------------------------------------------
    def time_model(self, model_cls, reference_ns, trial: dict, spec_trial: dict | None, timing: dict,
                   compiled: bool) -> dict:
        """Median CUDA-event times of one model on the first trial's inputs (GPU only)."""
        import torch

        import timing as timing_logic  # shipped next to this file; pure logic, unit-tested on the host

        if reference_ns is not None:
            torch.manual_seed(trial["seed"] + 1)
            inputs = [t.cuda() for t in reference_ns["get_inputs"]()]
            init = trial["init_inputs"]
        else:
            inputs = [self.read_tensor(meta, "cuda") for meta in spec_trial["inputs"]]
            init = spec_trial["init_inputs"]
        torch.manual_seed(trial["seed"] + 2)
        model = model_cls(*init).cuda().eval()
        results = {}
        flush_buf = torch.empty(timing.get("l2_flush_bytes", 256 << 20), dtype=torch.uint8, device="cuda")

        def run(fn):
            def once():
                with torch.no_grad():
                    fn(*inputs)

            return once

        clock = timing_logic.CudaEventClock(torch)
        flush = lambda: flush_buf.zero_()  # noqa: E731
        samples = timing_logic.measure(run(model), clock, flush, warmup=timing["warmup"], reps=timing["reps"])
        results["model_ms"] = timing_logic.summarize(samples)
        if compiled:
            try:
                compiled_model = torch.compile(model)
                samples = timing_logic.measure(run(compiled_model), clock, flush, timing["warmup"], timing["reps"])
                results["compiled_ms"] = timing_logic.summarize(samples)
            except Exception as exc:  # torch.compile unavailable here: reported, not fatal
                results["compiled_error"] = f"{type(exc).__name__}: {exc}"[:500]
        if reference_ns is None:
            names = {name for t in self.result["trials"] for name in t["kernels"]}
            results["own_kernel_share"] = own_kernel_share(torch, run(model), names)
        return results


def own_kernel_share(torch, fn, names: set) -> float | None:
    """Share of GPU time spent in the submission's own Triton kernels (`names`) during one call (profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    total = own = 0.0
    for event in prof.key_averages():
        t = getattr(event, "device_time_total", 0.0) or getattr(event, "cuda_time_total", 0.0)
        total += t
        if any(name in event.key for name in names):
            own += t
    return own / total if total > 0 else None


def os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def current_stream(torch, device: str):
    if device == "cuda":
        return torch.cuda.current_stream().cuda_stream
    return None


def poison(torch, device: str) -> None:
    """Fill a large freed block with NaN so uninitialised `torch.empty` memory holds no earlier result."""
    block = torch.empty(POISON_BYTES // 4, dtype=torch.float32, device=device)
    block.fill_(float("nan"))
    del block


def main() -> int:
    spec_path = sys.argv[1]
    with open(spec_path) as fh:
        spec = json.load(fh)
    nonce = sys.stdin.readline().strip()
    sys.path[:0] = [spec["site"], os.path.dirname(os.path.abspath(__file__))]
    os.environ["OMP_NUM_THREADS"] = "1"
    if spec["device"] == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    harness = Harness(spec, nonce)
    try:
        have = f"{sys.version_info.major}.{sys.version_info.minor}"
        if spec.get("python") and spec["python"] != have:
            raise RuntimeError(f"the sandbox's python is {have} but the mounted torch/triton are built for python "
                               f"{spec['python']}; use an image whose python3 is {spec['python']}")
        if spec["mode"] == "reference":
            harness.run_reference()
        else:
            harness.run_candidate()
    except BaseException as exc:  # the code under test failed: recorded at its stage, judged on the host
        harness.fail(harness.result["stage"], exc)
    harness.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
