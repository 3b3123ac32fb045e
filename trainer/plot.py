"""`verigym plot RUN_DIR`: training curves from metrics.jsonl as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from verigym.trainer.metrics import read_metrics

PANELS: list[tuple[str, list[str]]] = [
    ("reward", ["reward/mean"]),
    ("success", ["success_rate", "eval/success"]),
    ("reward components", []),  # filled with every reward/<component>
    ("policy loss", ["loss/pg"]),
    ("SFT loss", ["loss/sft", "eval/loss"]),  # `verigym sft` runs
    ("entropy", ["entropy"]),
    ("KL", ["kl/ref", "mismatch/kl_k3"]),
    ("clip fraction", ["loss/clipfrac"]),
    ("grad norm", ["grad_norm"]),
    ("time per phase (s)", ["time/generation", "time/environment", "time/update", "time/weight_sync"]),
]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write `curves.png` (every panel) and, when the run logged rewards (RL, not SFT), `reward.png` into `out_dir` (default RUN_DIR/plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    if not records:
        raise ValueError(f"{run_dir}/metrics.jsonl has no step records yet; train for at least one step")
    out = Path(out_dir) if out_dir else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    components = sorted({k for r in records for k in r if k.startswith("reward/") and k not in ("reward/mean", "reward/std")})
    panels = [(title, keys or components) for title, keys in PANELS]
    panels = [(t, [k for k in keys if any(k in r for r in records)]) for t, keys in panels]
    panels = [(t, keys) for t, keys in panels if keys]

    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            xs, ys = _series(records, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 12 else None, label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    written = [_save(fig, out / "curves.png")]
    plt.close(fig)

    reward_keys = [k for k in ("reward/mean", "success_rate", "eval/success") if _series(records, k)[0]]
    if not reward_keys:  # an SFT run: no rewards to plot
        return written
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in reward_keys:
        xs, ys = _series(records, key)
        ax.plot(xs, ys, marker="o" if key.startswith("eval") else None, label=key)
    ax.set_xlabel("step")
    ax.set_title(f"reward - {Path(run_dir).name}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    written.append(_save(fig, out / "reward.png"))
    plt.close(fig)
    return written


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pairs = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _save(fig: Any, path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path
