"""Built-in policies, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import PolicySpec


@hookimpl
def verigym_policies() -> list[PolicySpec]:
    return [
        PolicySpec("oracle", "verigym.agents.scripted:OraclePolicy", "plays the env's gold action each turn"),
        PolicySpec("random", "verigym.agents.scripted:RandomPolicy", "well-formed but uninformed actions"),
        PolicySpec("garbage", "verigym.agents.scripted:GarbagePolicy", "random characters (malformed input)"),
        PolicySpec("hf", "verigym.agents.hf_policy:HFPolicy", "a transformers model: model=DIR", extra="train"),
        PolicySpec("vllm", "verigym.agents.vllm_policy:VllmPolicy", "an in-process vLLM engine: model=DIR", extra="vllm"),
        PolicySpec("openai", "verigym.agents.openai_policy:OpenAIPolicy", "any OpenAI-compatible server: base_url=URL model=NAME", extra="llm"),
    ]
