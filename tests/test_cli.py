"""The command line end to end, in subprocesses, as a user runs it."""

import subprocess
import sys

from verigym.agents.records import read_episodes


def verigym(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "verigym", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_run_writes_parquet_and_prints_the_summary_then_show_replays_it(tmp_path):
    out = tmp_path / "beam.parquet"
    result = verigym("run", "beam-statics-v0", "--agent", "oracle", "-n", "6", "--seed", "3", "--out", str(out), "--no-progress")
    assert "success rate              1.000" in result.stdout
    records = read_episodes(out)
    assert [r.seed for r in records] == [3, 4, 5, 6, 7, 8] and all(r.success for r in records)
    shown = verigym("show", str(out), "--episode", "1").stdout
    assert "=== episode 1" in shown and "seed=4" in shown and "--- assistant" in shown


def test_same_seed_same_file_contents(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (a, b):
        verigym("run", "beam-statics-v0", "--agent", "random", "-n", "5", "--out", str(path), "--no-progress")
    strip = lambda rs: [{k: v for k, v in r.to_row().items() if k != "duration_s"} for r in rs]  # noqa: E731
    assert strip(read_episodes(a)) == strip(read_episodes(b))


def test_errors_are_one_clear_line_not_a_traceback(tmp_path):
    result = verigym("run", "nope-v0", check=False)
    assert result.returncode == 1
    assert "no environment named 'nope-v0'" in result.stderr and "Traceback" not in result.stderr
    result = verigym("show", str(tmp_path / "missing.parquet"), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    result = verigym("run", "beam-statics-v0", "--env-arg", "colour=1", "-n", "1", "--no-progress", check=False)
    assert result.returncode == 1 and "known settings" in result.stderr
