"""ferrite's gRPC API from Python (grpcio), against a real `ferrite serve --grpc-port`: streaming
greedy generation equal to HTTP's /v1/completions, tokenization, information, health, reflection,
status codes with HTTP's messages, the API key, cancellation, and the documented example client."""
import os
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import API_KEY
from ferrite_server import ROOT, TINY_MODEL, FerriteServer, have_tokenizer

PROMPT = [1, 17, 42, 99, 7, 300]


def greedy(pb, ids, max_tokens, **sampling):
    return pb.GenerateRequest(token_ids=pb.TokenIds(ids=ids),
                              sampling=pb.SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True,
                                                         **sampling))


def collect(responses):
    tokens, text, completes, prompt_ids = [], "", [], []
    for r in responses:
        kind = r.WhichOneof("response")
        if kind == "chunk":
            tokens += r.chunk.token_ids
            text += r.chunk.text
            if r.chunk.prompt_token_ids:
                prompt_ids = list(r.chunk.prompt_token_ids)
        elif kind == "complete":
            completes.append(r.complete)
        else:
            pytest.fail(f"unexpected {kind}: {r}")
    return tokens, text, completes, prompt_ids


def http_greedy(server, ids, max_tokens):
    status, body = server.http("POST", "/v1/completions", {
        "model": "tiny", "prompt": ids, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
        "return_token_ids": True})
    assert status == 200, body
    return body["choices"][0]


def test_generate_streams_the_same_greedy_tokens_as_http(server, stub, stubs):
    pb = stubs.pb
    tokens, text, completes, prompt_ids = collect(stub.Generate(greedy(pb, PROMPT, 12), timeout=60))
    want = http_greedy(server, PROMPT, 12)
    assert tokens == want["token_ids"]
    assert len(tokens) == 12
    if have_tokenizer():
        assert text == want["text"]
    assert prompt_ids == PROMPT
    assert len(completes) == 1
    assert completes[0].finish_reason == pb.FINISH_REASON_LENGTH
    assert completes[0].usage.prompt_tokens == len(PROMPT)
    assert completes[0].usage.completion_tokens == 12


@pytest.mark.skipif(not have_tokenizer(), reason="no ../shared/fixtures/tokenizers/qwen3")
def test_tokenize_and_detokenize(server, stub, stubs):
    pb = stubs.pb
    res = stub.Tokenize(pb.TokenizeRequest(text="a b c", return_token_strs=True), timeout=10)
    status, body = server.http("POST", "/tokenize", {"model": "tiny", "prompt": "a b c"})
    assert status == 200, body
    assert list(res.token_ids) == body["tokens"]
    assert len(res.token_strs) == len(res.token_ids)
    assert res.max_model_len == body["max_model_len"]
    back = stub.Detokenize(pb.DetokenizeRequest(token_ids=res.token_ids), timeout=10)
    assert back.text == "a b c"
    with pytest.raises(grpc.RpcError) as e:
        stub.Detokenize(pb.DetokenizeRequest(token_ids=[1 << 30]), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is outside the vocabulary" in e.value.details()


def test_models_and_server_info(server, stub, stubs):
    pb = stubs.pb
    models = stub.ListModels(pb.ListModelsRequest(), timeout=10)
    assert [m.id for m in models.models] == ["tiny"]
    _, http_models = server.http("GET", "/v1/models")
    assert models.models[0].max_model_len == http_models["data"][0]["max_model_len"]
    info = stub.GetModelInfo(pb.GetModelInfoRequest(model="tiny"), timeout=10)
    assert info.architecture == "LlamaForCausalLM"
    assert list(info.served_model_names) == ["tiny"]
    assert info.max_model_len == models.models[0].max_model_len
    assert info.vocab_size == 512
    with pytest.raises(grpc.RpcError) as e:
        stub.GetModelInfo(pb.GetModelInfoRequest(model="nope"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    si = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
    assert si.healthy
    assert si.max_logprobs == 5
    assert si.num_kv_blocks > 0 and si.block_size > 0
    assert si.version


def test_health_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "ferrite.v1.Ferrite"):
        res = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert res.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                timeout=10)
    names = [s.name for r in responses for s in r.list_services_response.service]
    assert "ferrite.v1.Ferrite" in names
    assert "grpc.health.v1.Health" in names


def test_bad_parameter_is_invalid_argument_with_the_http_message(server, stub, stubs):
    for sampling, http in [({"temperature": -1.0}, {"temperature": -1}), ({"top_p": 0.0}, {"top_p": 0}),
                           ({"logprobs": 50}, {"logprobs": 50})]:
        req = stubs.pb.GenerateRequest(token_ids=stubs.pb.TokenIds(ids=[1, 2, 3]),
                                       sampling=stubs.pb.SamplingParams(max_tokens=4, **sampling))
        with pytest.raises(grpc.RpcError) as e:
            list(stub.Generate(req, timeout=10))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status, body = server.http("POST", "/v1/completions", {"model": "tiny", "prompt": [1, 2, 3], "max_tokens": 4,
                                                                **http})
        assert status == 400, body
        assert e.value.details() == body["error"]["message"]


def test_api_key_is_required(slow_server, stubs):
    with grpc.insecure_channel(slow_server.target) as ch:
        stub = stubs.pb_grpc.FerriteStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.ListModels(stubs.pb.ListModelsRequest(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            stub.ListModels(stubs.pb.ListModelsRequest(), metadata=[("authorization", "Bearer wrong")], timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        res = stub.ListModels(stubs.pb.ListModelsRequest(), metadata=[("authorization", f"Bearer {API_KEY}")],
                              timeout=10)
        assert [m.id for m in res.models] == ["slow"]


def test_cancellation_mid_stream_frees_the_request(slow_server, stubs):
    pb = stubs.pb
    auth = [("authorization", f"Bearer {API_KEY}")]
    with grpc.insecure_channel(slow_server.target) as ch:
        stub = stubs.pb_grpc.FerriteStub(ch)
        call = stub.Generate(greedy(pb, [3] * 40, 3000), metadata=auth, timeout=120)
        chunks = 0
        for r in call:
            chunks += r.WhichOneof("response") == "chunk"
            if chunks == 3:
                break
        assert chunks == 3
        busy = stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=auth, timeout=10)
        assert busy.num_free_kv_blocks < busy.num_kv_blocks  # the request holds blocks
        assert busy.grpc_in_flight == 1
        call.cancel()
        with pytest.raises(grpc.RpcError) as e:
            for _ in call:
                pass
        assert e.value.code() == grpc.StatusCode.CANCELLED
        # The stats may lag one engine step.
        for _ in range(200):
            info = stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=auth, timeout=10)
            if info.num_running == 0 and info.kv_usage == 0 and info.grpc_in_flight == 0:
                break
            time.sleep(0.02)
        assert info.num_running == 0
        assert info.num_waiting == 0
        assert info.kv_usage == 0
        assert info.num_free_kv_blocks == info.num_kv_blocks
        assert info.grpc_in_flight == 0


def test_documented_example_client(server, stubs):
    """docs/grpc.md's Python example, run as a user would."""
    example = os.path.join(os.path.dirname(__file__), "example_client.py")
    env = dict(os.environ, PYTHONPATH=stubs.path)
    out = subprocess.run([sys.executable, example, server.target], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    want = http_greedy(server, PROMPT, 8)["token_ids"]
    assert f"tokens: {want}" in out.stdout, out.stdout
    assert "finish: FINISH_REASON_LENGTH" in out.stdout
    assert "model: tiny (LlamaForCausalLM, 512 ids)" in out.stdout


def test_docs_show_the_example_files():
    """docs/grpc.md's code blocks are the example files verbatim, so the examples run here are the
    ones documented."""
    with open(os.path.join(ROOT, "docs", "grpc.md")) as f:
        doc = f.read()
    for heading, fence, path in [("## A Python client", "```python\n", "tests/integration/grpc/python/example_client.py"),
                                 ("## A C++ client", "```cpp\n", "tests/integration/grpc/example_client.cpp")]:
        section = doc[doc.index(heading):]
        start = section.index(fence) + len(fence)
        block = section[start:section.index("```\n", start)]
        with open(os.path.join(ROOT, path)) as f:
            assert block == f.read(), f"docs/grpc.md's block under '{heading}' differs from {path}"


def test_sentencepiece_tokenizer_in_the_grpc_server(tmp_path, stubs):
    """`ferrite serve` with gRPC and a tokenizer.model (Debian's libsentencepiece carries a protobuf
    that clashes with gRPC's; the dlopened shim keeps them apart)."""
    sp = os.path.join(ROOT, "tests", "data", "tokenizer", "sp_tiny")
    server = FerriteServer(TINY_MODEL, ["--tokenizer", sp, "--served-model-name", "tiny"], log_dir=str(tmp_path))
    server.start()
    try:
        with grpc.insecure_channel(server.target) as ch:
            stub = stubs.pb_grpc.FerriteStub(ch)
            res = stub.Tokenize(stubs.pb.TokenizeRequest(text="Hello world, <s> again"), timeout=10)
        status, body = server.http("POST", "/tokenize", {"model": "tiny", "prompt": "Hello world, <s> again"})
        assert status == 200, body
        assert list(res.token_ids) == body["tokens"]
        assert len(res.token_ids) > 3
    finally:
        assert server.stop() == 0, server.text()
