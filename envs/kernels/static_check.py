"""Static checks of a submission, on the host, before anything runs: what a Triton `ModelNew` may contain.

These give the agent an early, named reason; the runtime checks in the harness (launch counting, torch ops
outside kernels, threads, aliasing) and the host-side comparison are what the score rests on.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

ALLOWED_IMPORTS = frozenset({"torch", "torch.nn", "triton", "triton.language", "math", "typing", "__future__"})
BANNED_NAMES = frozenset(
    "eval exec compile __import__ globals locals vars setattr delattr getattr open breakpoint memoryview "
    "__builtins__ Model super_reference".split()
)
BANNED_ATTRS = frozenset(
    # host reads of tensor values, raw storage, streams, graph tricks, the dispatcher, torch.compile
    "item tolist numpy untyped_storage storage data_ptr Stream stream set_stream Event compile ops library "
    "utils jit_script set_default_tensor_type functional allclose testing runtime random manual_seed cuda_graph "
    "CUDAGraph graph elapsed_time sys modules os builtins importlib inspect gc ctypes subprocess threading "
    "multiprocessing mro overrides fx hub".split()
)
ALLOWED_DUNDERS = frozenset({"__init__", "__name__"})


@dataclass(frozen=True)
class StaticReport:
    """The violations found (empty when the submission passes), each as a line for the agent."""

    violations: tuple[str, ...]
    kernels: tuple[str, ...]  # names of the @triton.jit functions defined

    @property
    def ok(self) -> bool:
        return not self.violations


def _is_triton_jit(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    text = ast.unparse(target)
    return text in {"triton.jit", "jit", "triton.autotune", "triton.heuristics"}


def check_source(source: str) -> StaticReport:
    """Parse `source` and list every rule it breaks (a syntax error is one violation)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return StaticReport((f"syntax error at line {exc.lineno}: {exc.msg}",), ())
    problems: list[str] = []
    kernels: list[str] = []
    jit_ranges: list[tuple[int, int]] = []
    model_new = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(_is_triton_jit(d) for d in node.decorator_list):
            kernels.append(node.name)
            jit_ranges.append((node.lineno, node.end_lineno or node.lineno))
        if isinstance(node, ast.ClassDef) and node.name == "ModelNew":
            model_new = node
    if model_new is None:
        problems.append("no top-level class ModelNew")
    else:
        bases = [ast.unparse(b) for b in model_new.bases]
        if bases not in (["nn.Module"], ["torch.nn.Module"]):
            problems.append(f"ModelNew must subclass nn.Module directly, not {', '.join(bases) or 'nothing'}")
    if not kernels:
        problems.append("no @triton.jit kernel is defined")

    def in_jit(node: ast.AST) -> bool:
        line = getattr(node, "lineno", 0)
        return any(a <= line <= b for a, b in jit_ranges)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                names = ["." * node.level + (node.module or "")]
            for name in names:
                if name not in ALLOWED_IMPORTS:
                    problems.append(f"line {line}: import of {name!r} (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name.startswith("_") or alias.name in BANNED_ATTRS or alias.name == "*":
                        problems.append(f"line {line}: import of {alias.name!r} from {node.module}")
            if node.col_offset:
                problems.append(f"line {line}: imports belong at the top level")
        elif isinstance(node, ast.Try | ast.TryStar):
            problems.append(f"line {line}: try/except (no fallbacks: a failing kernel must fail)")
        elif isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            problems.append(f"line {line}: use of {node.id!r}")
        elif isinstance(node, ast.Attribute):
            if node.attr in ALLOWED_DUNDERS:
                pass
            elif node.attr.startswith("__"):
                problems.append(f"line {line}: access to {node.attr!r}")
            elif node.attr.startswith("_"):
                problems.append(f"line {line}: access to private attribute {node.attr!r}")
            elif node.attr in BANNED_ATTRS:
                problems.append(f"line {line}: use of .{node.attr} (not allowed in a submission)")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and _root_name(sub) not in {"self"}:
                        problems.append(f"line {line}: assigns {ast.unparse(sub)} (monkey-patching is not allowed)")
        elif isinstance(node, ast.Global | ast.Nonlocal):
            problems.append(f"line {line}: global/nonlocal state (a model must not carry results between calls)")
        if in_jit(node) and isinstance(node, ast.Name) and node.id in {"torch", "F", "nn", "np"}:
            problems.append(f"line {line}: {node.id} used inside a @triton.jit kernel")
    return StaticReport(tuple(dict.fromkeys(problems)), tuple(kernels))


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None
