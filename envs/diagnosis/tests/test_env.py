"""The Gymnasium env: API conformance, the three tools, refusals, the turn budget and determinism."""

import random

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.diagnosis.env import DiagnosisConfig, DiagnosisEnv
from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.plugins.registry import make

PE = DiagnosisTask("pe", 7, "pe.patient", "I26.99", 50, "female", "shortness_of_breath")


def _env(**settings):
    env = DiagnosisEnv(**settings)
    env.reset(options={"task": PE})
    return env


def test_passes_gymnasium_check_env():
    check_env(DiagnosisEnv(), skip_render_check=True)


def test_registered_under_its_id_with_settings():
    env = make("diagnosis-v0", max_turns=5, oracle_strategy="immediate")
    assert isinstance(env, DiagnosisEnv) and env.config.max_turns == 5
    with pytest.raises(TypeError, match="known settings"):
        make("diagnosis-v0", max_turn=5)
    with pytest.raises(ValueError, match="oracle_strategy must be one of"):
        DiagnosisEnv(oracle_strategy="psychic")
    with pytest.raises(ValueError, match="cost_cap must be positive"):
        DiagnosisEnv(cost_cap=0)
    assert isinstance(DiagnosisEnv(DiagnosisConfig(max_turns=3)).config, DiagnosisConfig)
    with pytest.raises(ValueError, match="code Z99.9 is not in the knowledge base"):
        DiagnosisEnv().reset(options={"task": DiagnosisTask("x", 0, "p", "Z99.9", 40, "male", "fever")})
    with pytest.raises(ValueError, match="complaint 'hiccups' is not an item"):
        DiagnosisEnv().reset(options={"task": DiagnosisTask("x", 0, "p", "J18.9", 40, "male", "hiccups")})


def test_prompt_lists_tools_items_exams_and_codes():
    env = DiagnosisEnv()
    obs, info = env.reset(options={"task": PE.to_dict()})
    system, note = obs[0]["content"], obs[1]["content"]
    assert '{"name": "ask"' in system and '{"name": "order"' in system and '{"name": "diagnose"' in system
    assert "- I26.99: Pulmonary embolism" in system and "- d_dimer: D-dimer (cost 3)" in system
    assert "- fever: fever or chills" in system and "not for clinical use" in system
    assert note == "A 50-year-old woman presents with shortness of breath."
    assert info == {"task_id": "pe", "seed": 7}


def test_ask_and_order_answer_from_the_case():
    env = _env()
    obs, reward, terminated, truncated, info = env.step(format_tool_call("ask", {"item": "shortness_of_breath"}))
    assert obs[0] == {"role": "tool", "content": "shortness_of_breath: yes, the patient reports shortness of breath."}
    assert reward == 0.0 and not terminated and not truncated and info["malformed"] is None
    obs, *_ = env.step(format_tool_call("ask", {"item": "missed_period"}))
    assert obs[0]["content"].startswith("missed_period: ") and obs[0]["content"].endswith("a missed menstrual period.")
    obs, *_ = env.step(format_tool_call("order", {"exam": "d_dimer"}))
    assert obs[0]["content"].startswith("d_dimer: D-dimer: ") and "(reference 0-500 ng/mL FEU)" in obs[0]["content"]
    obs, _, _, _, info = env.step(format_tool_call("order", {"exam": "chest_xray"}))
    assert obs[0]["content"].startswith("chest_xray: Chest X-ray: ") and info["ordered"] == ["d_dimer", "chest_xray"]
    obs, reward, terminated, _, info = env.step(format_tool_call("diagnose", {"primary": "I26.99", "differential": ["J18.9"]}))
    assert terminated and obs[0]["content"] == "Diagnosis I26.99 recorded (correct). Episode over."
    assert info["reward_components"] == {"correct": 1.0, "top_k": 1.0, "exam_f1": pytest.approx(0.5), "cost": pytest.approx(5 / 30)}
    assert reward == pytest.approx(1.0 + 0.2 + 0.1 - 0.4 * 5 / 30)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (format_tool_call("ask", {"item": "horoscope"}), "ask needs {\"item\": ID} with ID one of: seizure_episode, "),
        (format_tool_call("ask", {"item": "fever", "also": "cough"}), "ask needs {\"item\": ID}"),
        (format_tool_call("order", {"exam": "full body scan"}), "order needs {\"exam\": ID} with ID one of: temperature, "),
        (format_tool_call("order", {"exam": ["ecg", "troponin"]}), "order needs {\"exam\": ID}"),
        (format_tool_call("diagnose", {"primary": "Z99.9"}), "is not a code or name in the list of diagnoses"),
        ('<tool_call>{"name": "treat", "arguments": {}}</tool_call>', "unknown tool 'treat'; available tools: ['ask', 'diagnose', 'order']"),
        (format_answer("I26.99"), "Use the diagnose tool"),
        ("I think it is a PE", "no <answer>...</answer>"),
        ("", "no <answer>"),
    ],
)
def test_malformed_turns_and_unknown_items_get_a_precise_observation(action, message):
    env = _env()
    obs, reward, terminated, truncated, info = env.step(action)
    assert message in obs[0]["content"] and message in info["malformed"]
    assert reward == 0.0 and not terminated and not truncated and env.turn == 1
    assert info["reward_components"] == {"correct": 0.0, "top_k": 0.0, "exam_f1": 0.0, "cost": 0.0}
    if "ID one of" in message:
        kind = "findings" if "item" in message else "exams"
        assert all(name in obs[0]["content"] for name in getattr(env.kb, kind))


def test_turn_budget_truncates():
    env = _env(max_turns=3)
    for turn in (1, 2, 3):
        obs, reward, terminated, truncated, _ = env.step(format_tool_call("ask", {"item": "fever"}))
        assert reward == 0.0 and not terminated and truncated == (turn == 3)
    assert obs[-1]["content"].startswith("Turn budget of 3 used up; episode over.")
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(format_tool_call("diagnose", {"primary": "I26.99"}))


def test_running_out_the_clock_still_pays_for_exams():
    env = _env(max_turns=3)
    env.step(format_tool_call("order", {"exam": "ct_pulmonary_angiogram"}))
    env.step(format_tool_call("order", {"exam": "d_dimer"}))
    obs, reward, terminated, truncated, info = env.step(format_tool_call("ask", {"item": "fever"}))
    assert truncated and not terminated
    assert info["reward_components"] == {"correct": 0.0, "top_k": 0.0, "exam_f1": 0.0, "cost": 0.5}
    assert reward == pytest.approx(-0.2) and "Scored as it stands: -0.200." in obs[-1]["content"]
    wrong = _env(max_turns=3)
    wrong.step(format_tool_call("order", {"exam": "ct_pulmonary_angiogram"}))
    wrong.step(format_tool_call("order", {"exam": "d_dimer"}))
    _, wrong_reward, terminated, _, _ = wrong.step(format_tool_call("diagnose", {"primary": "J18.9"}))
    assert terminated and wrong_reward >= reward  # a wrong diagnosis is never worse than timing out


def _episode(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    transcript, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        transcript.append(obs)
        rewards.append((reward, info["reward_components"]))
        if terminated or truncated:
            break
    return transcript, rewards


def test_same_seed_and_actions_give_an_identical_episode():
    rng = random.Random(3)
    probe = DiagnosisEnv()
    probe.reset(seed=11)
    actions = [probe.sample_action(rng) for _ in range(12)]
    first = _episode(DiagnosisEnv(), 11, actions)
    assert _episode(DiagnosisEnv(), 11, actions) == first
    env = DiagnosisEnv()
    _episode(env, 99, actions)  # playing another patient in between changes nothing
    assert _episode(env, 11, actions) == first
    assert _episode(DiagnosisEnv(), 12, actions) != first


def test_oracle_is_deterministic_and_diagnoses_on_the_last_turn():
    def oracle_run(seed, **settings):
        env = DiagnosisEnv(**settings)
        env.reset(seed=seed)
        actions = []
        while True:
            actions.append(env.oracle_action())
            _, reward, terminated, truncated, _ = env.step(actions[-1])
            if terminated or truncated:
                return actions, reward, terminated

    assert oracle_run(5) == oracle_run(5)
    actions, _, terminated = oracle_run(5, max_turns=1)
    assert terminated and len(actions) == 1 and '"diagnose"' in actions[0]
    for seed in range(20):
        actions, _, terminated = oracle_run(seed, max_turns=3)
        assert terminated and len(actions) <= 3


def test_immediate_strategy_diagnoses_from_the_opening_note():
    env = _env(oracle_strategy="immediate")
    action = env.oracle_action()
    assert '"diagnose"' in action
    _, _, terminated, _, info = env.step(action)
    assert terminated and info["reward_components"]["exam_f1"] == 0.0 and info["reward_components"]["cost"] == 0.0


def test_sample_action_is_well_formed_and_reproducible():
    env = _env()
    actions = [env.sample_action(random.Random(i)) for i in range(60)]
    assert actions == [env.sample_action(random.Random(i)) for i in range(60)]
    for action in actions:
        _, _, _, _, info = _env().step(action)
        assert info["malformed"] is None, action
    assert {name for name in ("ask", "order", "diagnose") if any(f'"{name}"' in a for a in actions)} == {"ask", "order", "diagnose"}


def test_render_ansi_shows_the_transcript():
    env = DiagnosisEnv(render_mode="ansi")
    env.reset(options={"task": PE})
    env.step(format_tool_call("diagnose", {"primary": "J18.9"}))
    text = env.render()
    assert "[system]" in text and "[user]\nA 50-year-old woman" in text and "(incorrect)" in text
