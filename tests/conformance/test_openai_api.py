"""The OpenAI API as the official client and the OpenAPI schema see it."""
import json

import openai
import pytest

from conftest import MODEL

GREEDY = {"temperature": 0, "extra_body": {"ignore_eos": True}}


def test_models(client, server, schema):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    status, body = server.request("GET", "/v1/models")
    assert status == 200
    schema(json.loads(body), "ListModelsResponse")


def test_completion(client, server, schema):
    r = client.completions.create(model=MODEL, prompt="in the", max_tokens=8, logprobs=2, **GREEDY)
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.choices[0].finish_reason == "length"
    assert len(r.choices[0].logprobs.tokens) == 8
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8
    status, body = server.request("POST", "/v1/completions",
                                  {"model": MODEL, "prompt": "in the", "max_tokens": 4, "logprobs": 1})
    assert status == 200
    schema(json.loads(body), "CreateCompletionResponse")


def test_completion_stream_equals_whole(client):
    whole = client.completions.create(model=MODEL, prompt="in the", max_tokens=10, **GREEDY)
    chunks = list(client.completions.create(model=MODEL, prompt="in the", max_tokens=10, stream=True,
                                            stream_options={"include_usage": True}, **GREEDY))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 10


def test_seeded_sampling_streamed_equals_whole(client):
    kw = dict(model=MODEL, prompt="in the", max_tokens=10, temperature=1.0, seed=7)
    whole = client.completions.create(**kw)
    text = "".join(c.choices[0].text for c in client.completions.create(stream=True, **kw) if c.choices)
    assert text == whole.choices[0].text


def test_n_and_batch(client):
    r = client.completions.create(model=MODEL, prompt=["in the", "in"], n=2, max_tokens=3, **GREEDY)
    assert sorted(c.index for c in r.choices) == [0, 1, 2, 3]


def test_stop_string(client):
    whole = client.completions.create(model=MODEL, prompt="in the", max_tokens=12, **GREEDY).choices[0].text
    stop = whole[3:5]
    if not stop.strip():
        pytest.skip("the greedy text has no usable stop string")
    r = client.completions.create(model=MODEL, prompt="in the", max_tokens=12, stop=[stop], **GREEDY)
    assert r.choices[0].finish_reason == "stop"
    assert stop not in r.choices[0].text


def test_chat(client, server, schema):
    messages = [{"role": "user", "content": "in the"}]
    r = client.chat.completions.create(model=MODEL, messages=messages, max_completion_tokens=6, logprobs=True,
                                       top_logprobs=2, **GREEDY)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert len(r.choices[0].logprobs.content) == 6
    status, body = server.request("POST", "/v1/chat/completions",
                                  {"model": MODEL, "messages": messages, "max_tokens": 4, "logprobs": True,
                                   "top_logprobs": 1})
    assert status == 200
    schema(json.loads(body), "CreateChatCompletionResponse")
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_completion_tokens=6,
                                                 stream=True, stream_options={"include_usage": True}, **GREEDY))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 6


def test_chat_stream_schema(server, schema):
    status, body = server.request("POST", "/v1/chat/completions",
                                  {"model": MODEL, "messages": [{"role": "user", "content": "in the"}],
                                   "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True}})
    assert status == 200
    events = [e[len("data: "):] for e in body.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for e in events[:-1]:
        schema(json.loads(e), "CreateChatCompletionStreamResponse")


@pytest.mark.parametrize("path,body,code", [
    ("/v1/completions", {"model": "nope", "prompt": "x"}, 404),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": "x"}, 400),
    ("/v1/completions", {"model": MODEL}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "logprobs": 6}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": [1] * 200}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": [1, 100000]}, 400),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "stream_options": {"include_usage": True}}, 400),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, 400),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                              "response_format": {"type": "json_object"}}, 400),
])
def test_errors(server, schema, path, body, code):
    status, text = server.request("POST", path, body)
    assert status == code, text
    schema(json.loads(text), "ErrorResponse")


def test_error_codes_raw(server, schema):
    for method, path, raw, key, code in [("POST", "/v1/completions", b"{bad", "conformance-key", 400),
                                         ("POST", "/v1/completions", b"{}", None, 401),
                                         ("POST", "/v1/completions", b"{}", "wrong", 401),
                                         ("GET", "/v1/nowhere", None, "conformance-key", 404),
                                         ("GET", "/v1/completions", None, "conformance-key", 405)]:
        status, text = server.request(method, path, raw=raw, key=key)
        assert status == code, (path, text)
        schema(json.loads(text), "ErrorResponse")
    assert server.request("GET", "/health", key=None)[0] == 200


def test_client_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=2)
    bad = openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_healthy_after_malformed_burst(server, client):
    for i in range(50):
        server.request("POST", "/v1/completions", raw=(b"{\"prompt\": " + bytes([0x80 + i % 60])))
    assert server.request("GET", "/health", key=None)[0] == 200
    assert client.completions.create(model=MODEL, prompt="in the", max_tokens=2).usage.completion_tokens == 2


def test_metrics(server, client):
    client.completions.create(model=MODEL, prompt="in the", max_tokens=2)
    status, text = server.request("GET", "/metrics", key=None)
    assert status == 200
    for name in ["ferrite:num_requests_running", "ferrite:kv_cache_usage_perc", "ferrite:prompt_tokens_total",
                 "ferrite:generation_tokens_total", "ferrite:request_success_total",
                 "ferrite:time_to_first_token_seconds_bucket", "ferrite:e2e_request_latency_seconds_count"]:
        assert name in text


def test_tokenize_roundtrip(server):
    status, body = server.request("POST", "/tokenize", {"model": MODEL, "prompt": "in the"})
    assert status == 200
    t = json.loads(body)
    assert t["count"] == len(t["tokens"]) and t["max_model_len"] == 128
    status, body = server.request("POST", "/detokenize", {"model": MODEL, "tokens": t["tokens"]})
    assert json.loads(body)["prompt"] == "in the"


def test_continue_final_message(client, server):
    """The prompt ends inside the final (assistant) message: nothing the template writes after it."""
    msgs = [{"role": "user", "content": "in the"}, {"role": "assistant", "content": "and the"}]
    flags = {"continue_final_message": True, "add_generation_prompt": False}
    r = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=2, temperature=0, extra_body=flags)
    status, body = server.request("POST", "/tokenize", {"model": MODEL, "messages": msgs, **flags})
    assert status == 200, body
    tokens = json.loads(body)["tokens"]
    assert r.usage.prompt_tokens == len(tokens)
    status, body = server.request("POST", "/detokenize", {"model": MODEL, "tokens": tokens})
    assert json.loads(body)["prompt"] == "in the\nand the"  # the template's trailing newline is cut
    status, body = server.request("POST", "/v1/chat/completions",
                                  {"model": MODEL, "messages": msgs, "continue_final_message": True})
    assert status == 400 and "continue_final_message" in body, body
