"""verifiers 0.3.1 evaluates verigym envs through `verigym.integrations.verifiers` with its own `vf-eval`.

verifiers cannot live in the main test environment (it pins `mcp<2`; `openenv-core` needs `mcp>=2.3`), so this
module builds a virtualenv of its own once, `pip install -e REPO[verifiers]`, and runs verifiers there as a
subprocess. The virtualenv is kept under `build/test-venvs/verifiers-<key>` (ignored by git), the key being a
hash of pyproject.toml, the Python version and the repository path, so CI (cache `build/test-venvs`) and
local runs pay the build (about a minute) once per change of the pins. `VERIGYM_VERIFIERS_VENV` points the
tests at a prepared one instead.

The model is a scripted OpenAI-compatible endpoint on 127.0.0.1 (stdlib `http.server`, in this process): model
`oracle` answers each conversation with the oracle's action for its seed and turn (played in-process
beforehand), and checks that every env reply it receives is the in-process one; model `wrong` always answers
`I do not know.`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from integration_helpers import OracleEpisode, play_oracle, readme_example

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the first test also builds the virtualenv

REPO = Path(__file__).resolve().parents[2]
BEAM, COPY = "beam-statics-v0", "copy-digits-v0"
WRONG = "I do not know."
KEY_VAR = "VERIGYM_TEST_API_KEY"
VENV_BUILD_BUDGET_S = 420


# --- the virtualenv with verifiers -----------------------------------------------------------------------
def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def _venv_key() -> str:
    digest = hashlib.sha256()
    for part in ((REPO / "pyproject.toml").read_bytes(), sys.version.encode(), str(REPO).encode()):
        digest.update(part)
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def verifiers_venv() -> Path:
    """A virtualenv with verigym (editable, so it runs this checkout) and the `verifiers` extra."""
    prepared = os.environ.get("VERIGYM_VERIFIERS_VENV")
    if prepared:
        return Path(prepared)
    root = REPO / "build" / "test-venvs"
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"verifiers-{_venv_key()}"
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others reuse its result
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
            pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
            done = subprocess.run(
                [*pip, "install", "-q", "--no-compile", "-e", f"{REPO}[verifiers]"],
                capture_output=True, text=True, env=_clean_env(), timeout=VENV_BUILD_BUDGET_S,
            )
            assert done.returncode == 0, f"installing verigym[verifiers] failed:\n{done.stdout}\n{done.stderr}"
            checked = subprocess.run([*pip, "check"], capture_output=True, text=True, env=_clean_env(), timeout=120)
            assert checked.returncode == 0, f"pip check in the verifiers virtualenv:\n{checked.stdout}{checked.stderr}"
            (venv / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    return venv


def venv_python(venv: Path, code: str, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args],
        cwd=REPO.parent, capture_output=True, text=True, timeout=timeout, env=_clean_env(**env),
    )
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    return done


# --- the scripted OpenAI-compatible endpoint ---------------------------------------------------------------
class ScriptedModel:
    """Answers chat completions: `oracle` plays the recorded oracle episode of the conversation's seed."""

    def __init__(self, episodes: list[OracleEpisode]) -> None:
        self.by_opening = {_key(e.opening): e for e in episodes}
        self.requests = 0
        self.mismatches: list[str] = []

    def reply(self, body: dict[str, Any]) -> str:
        self.requests += 1
        if body.get("model") == "wrong":
            return WRONG
        messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
        opening_len = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
        episode = self.by_opening.get(_key(messages[:opening_len]))
        if episode is None:
            self.mismatches.append(f"a conversation with an unknown opening: {messages[:opening_len]!r}")
            return WRONG
        expected = list(episode.opening)
        for action, step in zip(episode.actions, episode.steps):
            if len(expected) >= len(messages):
                break
            expected += [{"role": "assistant", "content": action}, *step[0]]
        if messages != expected[: len(messages)]:
            self.mismatches.append(f"seed {episode.seed}: the conversation differs from the in-process episode")
        turn = sum(m["role"] == "assistant" for m in messages)
        return episode.actions[turn]


@contextmanager
def scripted_endpoint(model: ScriptedModel) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            text = model.reply(body)
            payload = json.dumps({
                "id": f"chatcmpl-{model.requests}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _key(messages: list[dict[str, Any]]) -> str:
    return json.dumps([(m["role"], m["content"]) for m in messages])


# --- vf-eval ------------------------------------------------------------------------------------------------
def vf_eval(venv: Path, env_id: str, n: int, model: str, base_url: str, out: Path, *extra: str) -> list[dict]:
    """`vf-eval` on `env_id` seeds 0..n-1, one rollout each (through env-server worker processes, as prime-rl
    runs envs, unless `--disable-env-server` is among `extra`)."""
    args = json.dumps({"env": env_id, "n": n})
    cmd = [str(venv / "bin" / "vf-eval"), "verigym.integrations.verifiers", "-a", args, "-m", model,
           "-b", base_url, "-k", KEY_VAR, "-n", str(n), "-r", "1", "-c", "4", "-d", "-s", "-o", str(out), *extra]
    done = subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True, timeout=300,
                          env=_clean_env(**{KEY_VAR: "scripted"}))
    assert done.returncode == 0, f"vf-eval failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    results = [json.loads(line) for path in out.rglob("results.jsonl") for line in path.read_text().splitlines()]
    assert len(results) == n, (len(results), done.stdout[-2000:])
    return sorted(results, key=lambda row: _info(row)["seed"])


def _info(row: dict) -> dict:
    info = row["info"]
    return json.loads(info) if isinstance(info, str) else info


def metric(row: dict, name: str) -> float:
    return row["metrics"][name] if "metrics" in row else row[name]


# beam's oracle goes through verifiers' env-server workers (how prime-rl runs envs: the env rebuilt in another
# process from `env_id` and `env_args`); the other runs stay in vf-eval's process (each worker costs seconds).
@pytest.mark.parametrize("env_id, n, server", [(BEAM, 4, True), (COPY, 3, False)])
def test_vf_eval_oracle_scores_as_in_process_and_wrong_scores_zero(
    verifiers_venv: Path, tmp_path: Path, env_id: str, n: int, server: bool
) -> None:
    episodes = [play_oracle(env_id, seed) for seed in range(n)]
    model = ScriptedModel(episodes)
    with scripted_endpoint(model) as url:
        mode = () if server else ("--disable-env-server",)
        oracle = vf_eval(verifiers_venv, env_id, n, "oracle", url, tmp_path / "oracle", *mode)
        wrong = vf_eval(verifiers_venv, env_id, n, "wrong", url, tmp_path / "wrong", "--disable-env-server")
    assert model.mismatches == []
    for row, episode in zip(oracle, episodes):
        assert _info(row)["seed"] == episode.seed and row.get("error") is None
        assert row["reward"] == pytest.approx(episode.total) and episode.total > 0
        for name, value in episode.steps[-1][3].items():  # the reward components of the last step
            assert metric(row, name) == pytest.approx(value), name
        assert metric(row, "episode_over") == 1.0 and metric(row, "dropped") == 0.0
        assert metric(row, "num_turns") == len(episode.actions)
    for row in wrong:
        assert row["reward"] == 0.0 and row.get("error") is None and metric(row, "episode_over") == 1.0


# --- in-process API: errors, sandboxes, the README example ------------------------------------------------------
DROPPED_SCRIPT = r"""
import json, sys
import verifiers as vf
from verigym.envs.copy_digits.env import CopyDigitsEnv
from verigym.envs.verdict import VerifierError
from verigym.plugins.registry import register_env
from verigym.integrations.verifiers import load_environment

class Broken(CopyDigitsEnv):
    calls = 0
    def on_turn(self, action):
        Broken.calls += 1
        raise VerifierError("the grader crashed")

register_env("broken-copy-v0", Broken)
env = load_environment("broken-copy-v0", n=2)
client = vf.ClientConfig(api_base_url=sys.argv[1], api_key_var="VERIGYM_TEST_API_KEY")
out = env.evaluate_sync(client=client, model="wrong", max_retries=1)
rows = [{"reward": o["reward"], "error": o.get("error"), "metrics": o["metrics"]} for o in out["outputs"]]
print(json.dumps({"rows": rows, "calls": Broken.calls}))
"""


def test_a_verifier_error_is_a_verifiers_error_not_a_zero(verifiers_venv) -> None:
    with scripted_endpoint(ScriptedModel([])) as url:
        done = venv_python(verifiers_venv, DROPPED_SCRIPT, url, VERIGYM_TEST_API_KEY="scripted")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == 4  # 2 rollouts, each retried once (an InfraError)
    for row in result["rows"]:  # verifiers writes 0.0 into `reward`; `error` and `dropped` say it does not count
        assert row["reward"] == 0.0 and row["error"] is not None and row["error"]["error"] == "VerigymInfraError"
        assert "VerifierError (verifier): the grader crashed" in row["error"]["message"]
        assert row["metrics"]["dropped"] == 1.0 and row["metrics"]["episode_over"] == 0.0


SANDBOX_SCRIPT = r"""
import json, sys
import verifiers as vf
from verigym.integrations.verifiers import load_environment

env = load_environment("code-python-v0", n=2, sandbox="local", sandbox_pool=1)
client = vf.ClientConfig(api_base_url=sys.argv[1], api_key_var="VERIGYM_TEST_API_KEY")
out = env.evaluate_sync(client=client, model="oracle")
print(json.dumps({"rewards": [o["reward"] for o in out["outputs"]], "errors": [o.get("error") for o in out["outputs"]],
                  "seeds": [o["info"]["seed"] for o in out["outputs"]], "outstanding": env.providers.outstanding()}))
"""


def test_sandboxed_env_scores_as_in_process_and_releases_its_sessions(verifiers_venv, local_providers) -> None:
    episodes = [play_oracle("code-python-v0", seed, providers=local_providers) for seed in range(2)]
    assert all(e.total > 0 for e in episodes)
    model = ScriptedModel(episodes)
    with scripted_endpoint(model) as url:
        done = venv_python(verifiers_venv, SANDBOX_SCRIPT, url, VERIGYM_TEST_API_KEY="scripted")
    assert model.mismatches == []
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [None, None] and result["outstanding"] == 0
    by_seed = dict(zip(result["seeds"], result["rewards"]))
    assert by_seed == {e.seed: pytest.approx(e.total) for e in episodes}


def test_readme_example(verifiers_venv) -> None:
    episodes = [play_oracle(BEAM, seed) for seed in range(8)]
    model = ScriptedModel(episodes)
    with scripted_endpoint(model) as url:
        code = readme_example("verifiers").replace("http://127.0.0.1:8000/v1", url)
        done = venv_python(verifiers_venv, code.replace('model="my-model"', 'model="oracle"'), VLLM_API_KEY="scripted")
    assert model.mismatches == [] and "scored 8 of 8 episodes" in done.stdout
    assert f"average reward: {sum(e.total for e in episodes) / 8:.3f}" in done.stdout
