"""The openai policy against a real vLLM OpenAI server on loopback, and against broken servers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from verigym.agents.collect import collect
from verigym.agents.openai_policy import OpenAIPolicy
from verigym.agents.policy import GenerationRequest, SamplingParams
from verigym.agents.scripted import OraclePolicy

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


def beam_env():
    import verigym

    verigym.make("beam-statics-v0").close()  # a built-in env that cannot be built is a failure, never a skip
    return "beam-statics-v0"


class FakeServer:
    """A stdlib HTTP server on loopback; `handler(path, body) -> (status, bytes) | None` (None: drop the socket)."""

    def __init__(self, handler):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(None)

            def do_POST(self):
                self._answer(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"))

            def _answer(self, body):
                outer.requests += 1
                reply = handler(self.path, body)
                if reply is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, payload = reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.requests = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion_json(ids, eos):
    return json.dumps({
        "id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "text": "<answer>x</answer>", "finish_reason": "stop",
                     "logprobs": {"tokens": [f"token_id:{i}" for i in ids + [eos]], "token_logprobs": [-1.0] * (len(ids) + 1),
                                  "top_logprobs": None, "text_offset": None}}],
    }).encode()


def test_real_server_plays_token_exact_episodes_equal_to_hf(vllm_server, tiny_model, hf_policy):
    policy = OpenAIPolicy(str(tiny_model), base_url=vllm_server.url)
    remote = collect(beam_env(), policy, [0, 1], max_turns=3, sampling=GREEDY)
    local = collect(beam_env(), hf_policy, [0, 1], max_turns=3, sampling=GREEDY)
    for a, b in zip(remote, local):
        assert not a.dropped, a.error
        assert a.turns == 3 and a.token_ids == b.token_ids
        assert [t.action for t in a.turn_records] == [t.action for t in b.turn_records]
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-4


def test_real_server_chat_mode_without_a_local_tokenizer(vllm_server):
    policy = OpenAIPolicy(base_url=vllm_server.url)  # model name discovered from /v1/models
    (c,) = policy.generate([GenerationRequest([{"role": "user", "content": "hi"}])], GREEDY)
    assert c.error is None and isinstance(c.text, str) and len(c.token_ids) == len(c.logprobs) == 24


def test_unreachable_server_errors_each_episode_with_the_reason(echo_env_cls):
    policy = OpenAIPolicy("m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, timeout=2)
    records = collect(echo_env_cls, policy, [0, 1])
    assert all(r.dropped for r in records)
    assert "failed after 2 attempt(s)" in records[0].error and "Is it running" in records[0].error


def test_garbage_responses_error_the_episode_and_the_run_goes_on(echo_env_cls):
    replies = iter([(200, b"this is not json"), (200, b'{"choices": "nope"}'), (500, b"{}")] * 10)
    server = FakeServer(lambda path, body: next(replies))
    try:
        policy = OpenAIPolicy("m", base_url=server.url, max_retries=0, timeout=5)
        records = collect(echo_env_cls, policy, [0, 1, 2], concurrency=1)
    finally:
        server.close()
    assert all(r.dropped for r in records)
    assert "malformed response" in records[0].error or "malformed response" in records[1].error
    assert any("InternalServerError" in r.error for r in records)
    # the same run with a working policy afterwards is unaffected
    assert all(r.success for r in collect(echo_env_cls, OraclePolicy(), [0, 1]))


def test_a_server_that_dies_mid_episode_errors_that_episode(echo_env_cls, tokenizer):
    """Serves well-formed tool calls for 2 requests, then drops every connection (a crashed server)."""
    from verigym.agents.chat_tokens import encode

    call = encode(tokenizer, '<tool_call>{"name": "peek", "arguments": {}}</tool_call>')
    served = {"n": 0}

    def handler(path, body):
        served["n"] += 1
        return (200, completion_json(call, tokenizer.eos_token_id)) if served["n"] <= 2 else None

    server = FakeServer(handler)
    try:
        policy = OpenAIPolicy("m", base_url=server.url, tokenizer=tokenizer, max_retries=1, backoff_s=0.01, timeout=5)
        records = collect(echo_env_cls, policy, [0, 1], concurrency=2)
    finally:
        server.close()
    for r in records:
        assert r.dropped and r.turns == 1, (r.turns, r.error)
        assert "failed after 2 attempt(s)" in r.error
        assert r.turn_records[0].completion_token_ids == call + [tokenizer.eos_token_id]


def test_killing_the_real_server_mid_run_errors_episodes_not_the_run(vllm_server, tiny_model, echo_env_cls):
    """Runs last in this file: kills the session's vLLM server while episodes are in flight."""
    policy = OpenAIPolicy(str(tiny_model), base_url=vllm_server.url, max_retries=1, backoff_s=0.05, timeout=10)

    class KillAfterFirstTurn(echo_env_cls):
        def on_turn(self, action):
            if vllm_server.proc.poll() is None:
                vllm_server.crash()  # the API server and its engine core, like a crash
            return super().on_turn("<tool_call>{\"name\": \"peek\", \"arguments\": {}}</tool_call>")

    start = time.perf_counter()
    records = collect(KillAfterFirstTurn, policy, [0, 1, 2], max_turns=4, sampling=GREEDY)
    assert time.perf_counter() - start < 60
    # pipelined: an episode not yet generated for when the first one's step kills the server fails at turn 0
    assert all(r.dropped and r.turns <= 1 and "APIConnectionError" in r.error for r in records), [(r.turns, r.error) for r in records]
    assert any(r.turns == 1 for r in records)  # the episode whose step killed the server


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="http"):
        OpenAIPolicy("m", base_url="127.0.0.1:8000")


def test_request_seeds_name_the_request_not_its_place_in_a_batch():
    from verigym.agents.openai_policy import OpenAIPolicy, request_seed

    request = lambda sample, turn: GenerationRequest([], seed=7, sample=sample, turn=turn)  # noqa: E731
    assert request_seed(3, request(0, 0), index=0) == request_seed(3, request(0, 0), index=5)
    seeds = {request_seed(3, request(k, t), 0) for k in range(8) for t in range(4)}
    assert len(seeds) == 32 and all(0 <= s < 2**31 for s in seeds)  # every sample of a group draws its own stream
    assert request_seed(4, request(0, 0), 0) != request_seed(3, request(0, 0), 0)
    assert request_seed(3, GenerationRequest([]), index=2) == 5  # no episode seed: the place in the batch
    policy = OpenAIPolicy("m", base_url="http://127.0.0.1:9/v1", concurrency=6)
    assert policy.concurrent_calls == 6  # the collector may keep that many single-request calls in flight
