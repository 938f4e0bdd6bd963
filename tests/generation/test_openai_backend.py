"""The openai backend against a small OpenAI-compatible server on 127.0.0.1 started here."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generation.backends import BackendError, CapabilityMissing, GenerateRequest
from generation.backends.openai_backend import OpenAIBackend
from generation.scoring import option_distribution


class FakeOpenAIServer:
    """Serves /v1/chat/completions and /v1/completions (echo + logprobs). ``failures``
    is a list of status codes to answer first (e.g. [429, 500]), one per request."""

    def __init__(self):
        self.failures: list[int] = []
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    status = server.failures.pop(0) if server.failures else 200
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    if status != 200:
                        self.send_response(status)
                        if status == 429:
                            self.send_header("Retry-After", "0")
                        self.end_headers()
                        self.wfile.write(b'{"error": "busy"}')
                        return
                    answer = server.chat(body) if self.path == "/v1/chat/completions" else server.completion(body)
                    data = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def chat(body: dict) -> dict:
        if "prompt_logprobs" in body:  # vLLM: one 'token' per character of the templated chat
            prompt = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
            entries = [None] + [{str(ord(ch)): {"logprob": -0.1 if ch == "7" else -5.0, "decoded_token": ch}}
                                for ch in prompt[1:]]
            return {"choices": [{"message": {"role": "assistant", "content": "x"}}], "prompt_logprobs": entries}
        text = f"echo: {body['messages'][-1]['content']}"
        words = text.split()
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": w, "logprob": -0.25} for w in words]}
        return {"choices": [choice], "usage": {"prompt_tokens": 7, "completion_tokens": len(words)}}

    @staticmethod
    def completion(body: dict) -> dict:
        """Echoed prompt with one 'token' per character; '7' is likely, other digits are not."""
        prompt = body["prompt"]
        offsets = list(range(len(prompt)))
        values = [None] + [(-0.1 if ch == "7" else -5.0) for ch in prompt[1:]]
        return {"choices": [{"text": prompt + "x", "logprobs": {
            "tokens": list(prompt), "token_logprobs": values, "text_offset": offsets}}]}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def backend_for(server, **options) -> OpenAIBackend:
    return OpenAIBackend("served-model", base_url=server.base_url, api_key="k", timeout=5, backoff_base=0.01, **options)


def test_generate_batch_concurrency_logprobs_and_request_shape(server):
    server.delay = 0.2
    backend = backend_for(server, concurrency=3)
    requests = [GenerateRequest(messages=[{"role": "user", "content": f"q{i}"}], max_new_tokens=9, seed=i,
                                stop=("\n\n",), logprobs=True) for i in range(6)]
    results = backend.generate(requests)
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(6)]
    assert results[0].token_logprobs == [-0.25, -0.25] and results[0].n_output_tokens == 2
    assert results[0].finish_reason == "stop" and results[0].n_prompt_tokens == 7
    assert 2 <= server.max_in_flight <= 3  # concurrent, but bounded
    body = server.requests[0]["body"]
    assert body["model"] == "served-model" and body["max_tokens"] == 9 and body["stop"] == ["\n\n"]
    assert server.requests[0]["auth"] == "Bearer k"


def test_retries_429_and_5xx_with_backoff_then_succeeds(server):
    server.failures = [429, 500, 503]
    result = backend_for(server, max_retries=4).generate([GenerateRequest(messages=[{"role": "user", "content": "hi"}])])
    assert result[0].text == "echo: hi" and len(server.requests) == 4


def test_gives_up_after_max_retries_and_does_not_retry_4xx(server):
    server.failures = [500, 500, 500]
    with pytest.raises(BackendError, match="failed after 3 attempts: HTTP 500"):
        backend_for(server, max_retries=2).generate([GenerateRequest(messages=[{"role": "user", "content": "hi"}])])
    server.failures, server.requests = [400], []
    with pytest.raises(BackendError, match="refused the request: HTTP 400"):
        backend_for(server, max_retries=4).generate([GenerateRequest(messages=[{"role": "user", "content": "hi"}])])
    assert len(server.requests) == 1


def test_unreachable_server_is_a_backend_error():
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", timeout=1, max_retries=1, backoff_base=0.01)
    with pytest.raises(BackendError, match="failed after 2 attempts: ConnectError"):
        backend.generate([GenerateRequest(messages=[{"role": "user", "content": "hi"}])])


def test_score_reads_the_continuations_prompt_logprobs_only(server):
    backend = backend_for(server, supports_score=True)
    assert backend.score("Score: ", "7/10") == [-0.1, -5.0, -5.0, -5.0]  # 4 characters, 4 'tokens'
    body = server.requests[-1]["body"]
    assert body["echo"] is True and body["prompt"] == "Score: 7/10"
    distribution = option_distribution(backend, "Score: ", tuple("123456789"), suffix="")
    assert distribution.best == "7" and distribution.probabilities[6] > 0.9
    chat = [{"role": "user", "content": "Rate it."}, {"role": "assistant", "content": "Score: "}]
    assert backend.score(chat, "7/10") == [-0.1, -5.0, -5.0, -5.0]
    body = server.requests[-1]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Score: 7/10"} and body["continue_final_message"]
    assert option_distribution(backend, chat, tuple("123456789")).best == "7"
    with pytest.raises(CapabilityMissing, match="CONCORD_OPENAI_SUPPORTS_SCORE"):
        backend_for(server).score("Score: ", "7")


@pytest.mark.django_db
def test_a_sample_job_through_the_openai_backend_records_its_calls(server, settings, project, run_items):
    from curation.models import LLMCall, Pair
    from generation.backends import clear_backends
    from generation.jobs import job_start
    from tests.factories import PromptFactory

    settings.CONCORD_BACKEND = "openai"
    settings.CONCORD_OPENAI_BASE_URL = server.base_url
    settings.CONCORD_OPENAI_MODEL = "served-model"
    clear_backends()
    PromptFactory(project=project, text="Ping?")
    server.failures = [429]
    try:
        job = job_start(project=project, method="sample", params={"n": 2, "temperatures": "0.2,1.0"})
        assert run_items(job) == ["done"]
    finally:
        clear_backends()
    calls = LLMCall.objects.filter(job=job)
    assert {c.backend for c in calls} == {"openai"} and {c.model for c in calls} == {"served-model"}
    assert sorted(c.params["temperature"] for c in calls) == [0.2, 1.0]
    # The fake server echoes the prompt: both samples are the same text → one response, no pair.
    assert Pair.objects.count() == 0 and job.items.get().result["created"] == {"responses": 1}
