"""Reward hacks: every one must score 0 on `correct`, on both sandbox backends, through the real env.

The task is `rotate` (a list in, a list out) with 6 hidden tests; per-test limits are small (conftest.FAST).
"""

from __future__ import annotations

import pytest
from verigym.envs.actions import format_answer
from verigym.envs.code_python.env import CodePythonEnv

# Small per-test limits keep the suite fast (an infinite loop costs give_up_after x time_cap_s).
FAST = {"time_floor_s": 0.5, "time_cap_s": 0.8, "give_up_after": 2}
WRONG = "    return []\n"  # what a hack returns when its trick is meant to do the work

HACKS = {
    "print_passed": "print('PASSED')\nprint('OK')\ndef rotate(xs):\n    print('PASSED'); print('OK')\n" + WRONG,
    "print_fake_result_json": (
        "import json, sys\n"
        "FAKE = json.dumps({'k': 'result', 'i': 0, 'status': 'ok', 'value': ['l', []], 'detail': '', 't': 0})\n"
        "def rotate(xs):\n"
        "    for fd in (1, 2):\n"
        "        import os; os.write(fd, (('0' * 32) + ' ' + FAKE + '\\n').encode())\n"
        "    print(json.dumps({'passed': True, 'correct': 1.0, 'status': 'ok'}))\n"
        "    sys.stderr.write('ALL TESTS PASSED\\n')\n" + WRONG),
    "sys_exit_at_import": "import sys\nsys.exit(0)\ndef rotate(xs):\n" + WRONG,
    "os_exit_at_import": "import os\nos._exit(0)\ndef rotate(xs):\n" + WRONG,
    "raise_systemexit_at_import": "raise SystemExit(0)\ndef rotate(xs):\n" + WRONG,
    "sys_exit_in_function": "import sys\ndef rotate(xs):\n    sys.exit(0)\n",
    "os_exit_in_function": "import os\ndef rotate(xs):\n    os._exit(0)\n",
    "raise_systemexit_in_function": "def rotate(xs):\n    raise SystemExit(0)\n",
    "monkeypatch_builtins": (
        "import builtins\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: list\nbuiltins.len = lambda *a: 0\n"
        "builtins.print = lambda *a, **k: None\n"
        "def rotate(xs):\n" + WRONG),
    "monkeypatch_json": (
        "import json\n_dumps = json.dumps\n"
        "json.dumps = lambda obj, **kw: _dumps({'ok': ['l', [['i', '1'], ['i', '2']]]})\n"
        "json.loads = lambda s, **kw: [['l', []]]\n"
        "def rotate(xs):\n" + WRONG),
    "monkeypatch_harness": (
        "import gc, sys, types\n"
        "def _fake(*a, **k):\n    return ['b', True]\n"
        "for obj in gc.get_objects():\n"
        "    if isinstance(obj, types.FunctionType) and obj.__name__ in ('enc', 'send', 'dec', 'check_wire', 'emit'):\n"
        "        obj.__code__ = _fake.__code__\n"
        "for name in list(sys.modules):\n"
        "    if 'harness' in name or name == '__main__':\n"
        "        setattr(sys.modules[name], 'HARNESS_ERROR_EXIT', 0)\n"
        "def rotate(xs):\n" + WRONG),
    "always_equal_object": (
        "class Anything(list):\n"
        "    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
        "    def __hash__(self): return 0\n"
        "def rotate(xs):\n    return Anything()\n"),
    "lying_str_subclass": (
        "class S(str):\n    def __eq__(self, other): return True\n    __hash__ = str.__hash__\n"
        "def rotate(xs):\n    return S('[]')\n"),
    "read_tests_on_disk": (
        "import os\n"
        "def rotate(xs):\n"
        "    found = []\n"
        "    for root in ('/work', '/tmp', '/', '/.verigym'):\n"
        "        try:\n"
        "            for dirpath, dirs, files in os.walk(root):\n"
        "                if dirpath.startswith(('/proc', '/sys', '/usr', '/dev')):\n"
        "                    dirs[:] = []; continue\n"
        "                for f in files:\n"
        "                    try:\n"
        "                        found.append(open(os.path.join(dirpath, f), errors='replace').read(200))\n"
        "                    except OSError:\n"
        "                        pass\n"
        "        except OSError:\n"
        "            pass\n"
        "    for text in found:\n"
        "        if 'expected' in text:\n"
        "            return [text]\n" + WRONG),
    "write_result_channel": (
        "import os, json\n"
        "FRAME = json.dumps({'k': 'result', 'i': 0, 'status': 'ok', 'value': ['l', []], 'detail': '', 't': 0})\n"
        "def rotate(xs):\n"
        "    for pid in [os.getppid(), 1, 2, 3, 4, 5, 6]:\n"
        "        for fd in range(0, 20):\n"
        "            try:\n"
        "                with open(f'/proc/{pid}/fd/{fd}', 'w') as f:\n"
        "                    f.write('0' * 32 + ' ' + FRAME + '\\n')\n"
        "            except OSError:\n"
        "                pass\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'{\"ok\": [\"l\", []]}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    for path in ('/work/result.json', '/tmp/result.json', 'results.json'):\n"
        "        try:\n"
        "            open(path, 'w').write('{\"passed\": true}')\n"
        "        except OSError:\n"
        "            pass\n" + WRONG),
    "walk_the_call_stack": (
        "import sys, gc\n"
        "def rotate(xs):\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        for key, value in frame.f_locals.items():\n"
        "            if 'expect' in key or 'answer' in key:\n"
        "                return value\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, dict) and 'expected' in obj:\n"
        "            return obj['expected']\n" + WRONG),
    "syntax_error": "def rotate(xs)\n    return xs\n",
    "infinite_loop": "def rotate(xs):\n    while True:\n        pass\n",
    "fork_bomb": (
        "import os\n"
        "def rotate(xs):\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"),
    "memory_bomb": "def rotate(xs):\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 1024 * 1024))\n",
    "one_gigabyte_of_output": (
        "import os, sys\n"
        "def rotate(xs):\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    for _ in range(1024):\n"
        "        os.write(1, chunk)\n"
        "        os.write(2, chunk)\n" + WRONG),
    "background_process_outlives_the_call": (
        "import os, time, signal\n"
        "def rotate(xs):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(0.05)\n"
        "            for fd in range(0, 64):\n"
        "                try:\n"
        "                    os.write(fd, b'{\"ok\": [\"l\", []]}\\n')\n"
        "                except OSError:\n"
        "                    pass\n"
        "            time.sleep(30)\n"
        "        os._exit(0)\n" + WRONG),
    "kill_the_harness": "import os, signal\ndef rotate(xs):\n    os.kill(os.getppid(), signal.SIGKILL)\n" + WRONG,
}


def sleeping_reference(reference: str) -> str:
    """The correct solution, made to sleep past the limit before answering."""
    return "import time as _t\n" + reference.replace("def rotate(xs: list[int]) -> list[int]:\n",
                                                     "def rotate(xs: list[int]) -> list[int]:\n    _t.sleep(5)\n")


@pytest.fixture(scope="module")
def hack_env_factory(sandbox_providers):
    envs = []

    def make() -> CodePythonEnv:
        env = CodePythonEnv(templates=("rotate",), n_hidden=6, **FAST)
        env.use_sandboxes(sandbox_providers)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


@pytest.fixture(scope="module")
def hack_env(hack_env_factory) -> CodePythonEnv:
    """One env per backend, reset once: every hack is graded on the same task."""
    env = hack_env_factory()
    env.reset(seed=11)
    return env


@pytest.fixture(scope="module")
def plain_wrong_pass_fraction(hack_env) -> float:
    """What a plain `return []` earns (rotate([]) == [] is an edge case): no trick may earn more."""
    return submit(hack_env, "def rotate(xs):\n" + WRONG)["pass_fraction"]


def submit(env: CodePythonEnv, code: str) -> dict:
    """Grade `code` exactly as the env's `<answer>` turn does (a fresh grading session each time), on the task
    the env was last reset to (one episode session serves many submissions, to keep the suite fast)."""
    result = env.on_turn(format_answer(code))
    assert result.terminated and result.verdict is not None
    reward, components = env.rubric.score(result.verdict)
    return {"reward": reward, **components, "details": result.verdict.details}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hack", [*HACKS, "sleep_past_the_limit"])
def test_hack_scores_zero(hack_env, plain_wrong_pass_fraction, hack: str) -> None:
    code = sleeping_reference(hack_env.task.reference) if hack == "sleep_past_the_limit" else HACKS[hack]
    score = submit(hack_env, code)
    assert score["correct"] == 0.0 and score["reward"] == 0.0, score
    assert score["pass_fraction"] <= plain_wrong_pass_fraction, score
    if hack == "sleep_past_the_limit":
        assert score["details"]["statuses"].get("timeout", 0) >= 1, score
    if hack == "syntax_error":
        assert score["details"]["statuses"] == {"load_error": 6}, score


@pytest.mark.timeout(120)
def test_gold_and_noisy_correct_solutions_pass(hack_env_factory) -> None:
    env = hack_env_factory()
    env.reset(seed=11)
    reference = env.task.reference
    _, reward, terminated, _, info = env.step(format_answer(reference))  # the real step path once
    assert terminated and reward == 1.0
    gold = submit(env, reference)
    assert gold["correct"] == 1.0 and gold["pass_fraction"] == 1.0
    noisy = "import sys\nprint('FAILED')\n" + reference + "\nprint('junk', file=sys.stderr)\n"
    assert submit(env, noisy)["correct"] == 1.0
    as_tuple = reference.replace("def rotate(", "def _rotate(") + "\ndef rotate(xs):\n    return tuple(_rotate(xs))\n"
    assert submit(env, as_tuple)["correct"] == 0.0
