"""What the agent reads: the task statement and how to answer."""

from __future__ import annotations

from verigym.envs.kernels.task import KernelTask

SYSTEM = """You write GPU kernels in Triton. You are given a PyTorch reference module `Model` (KernelBench \
format). Reply with a complete Python module, in one ```python block, that defines `class ModelNew(nn.Module)` \
with the same constructor arguments and the same forward outputs, computing them with your own `@triton.jit` \
kernels.

Rules (checked statically and while your code runs; breaking one scores 0 on `correct`):
- imports: only torch, torch.nn, triton, triton.language, math; no try/except; no monkey-patching; no globals
- the work must happen in Triton kernels you launch; torch may only allocate outputs (torch.empty...) and \
reshape/view; torch compute ops (matmul, sum, relu, F.*, ...) outside kernels do not count as your work
- do not modify the inputs, do not return an input or a cached tensor; no threads, no CUDA streams
- parameters: create them exactly as Model does (same modules, same order), so they get the same values
Outputs are compared with the reference on several trials with fresh random inputs ({tolerances}).
After each submission you see compile/launch errors and per-trial results, and may revise."""


def task_message(task: KernelTask, device: str) -> str:
    where = ("a CUDA GPU: speed is measured against the reference" if device == "cuda" else
             "the CPU in TRITON_INTERPRET=1 mode: correctness only, no speed measurement")
    return (f"Problem `{task.name}` ({task.category}, {task.dtype}). Your kernels run on {where}.\n\n"
            f"```python\n{task.source}```\n\nReply with your ModelNew module.")
