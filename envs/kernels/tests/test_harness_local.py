"""The harness's own guard rails, run directly (no sandbox needed for these)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).parents[1] / "harness.py"


def test_harness_refuses_a_python_that_does_not_match_the_mounted_packages(tmp_path):
    shutil.copy(HARNESS, tmp_path / "harness.py")
    spec = {"mode": "reference", "module": "", "device": "cpu", "site": "/nonexistent", "out_dir": "out",
            "in_dir": "in", "timing": None, "python": "2.7", "problems": []}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-I", "harness.py", "spec.json"], cwd=tmp_path, input="n0nce\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["nonce"] == "n0nce" and result["stage"] == "setup"
    assert "built for python 2.7" in result["error"]
