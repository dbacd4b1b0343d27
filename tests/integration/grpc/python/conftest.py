"""Fixtures of the Python gRPC test: Python stubs generated from proto/ at test time, and two real
`ferrite serve --grpc-port` processes (the tiny llama fixture, and a slow dummy model behind an API
key for cancellation)."""
import importlib
import os
import sys
import types

import grpc
import pytest
from grpc_tools import protoc

from ferrite_server import QWEN3_TOKENIZER, ROOT, TINY_MODEL, FerriteServer, have_tokenizer, slow_dummy_model

API_KEY = "grpc-test-key"


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """ferrite_pb2 / ferrite_pb2_grpc, generated into a temp dir (nothing generated is committed)."""
    out = tmp_path_factory.mktemp("stubs")
    proto_dir = os.path.join(ROOT, "proto")
    rc = protoc.main(["grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(proto_dir, "ferrite/v1/ferrite.proto")])
    assert rc == 0, "grpc_tools.protoc failed on proto/ferrite/v1/ferrite.proto"
    sys.path.insert(0, str(out))
    pb = importlib.import_module("ferrite.v1.ferrite_pb2")
    pb_grpc = importlib.import_module("ferrite.v1.ferrite_pb2_grpc")
    return types.SimpleNamespace(pb=pb, pb_grpc=pb_grpc, path=str(out))


def _serve(tmp_path_factory, model, args):
    server = FerriteServer(model, args, log_dir=str(tmp_path_factory.mktemp("serve")))
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(str(e))
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The tiny llama fixture served as "tiny" (with the Qwen3 tokenizer when ../shared has it)."""
    args = ["--served-model-name", "tiny", "--max-logprobs", "5", "--generation-config", "vllm"]
    if have_tokenizer():
        args += ["--tokenizer", QWEN3_TOKENIZER]
    s = _serve(tmp_path_factory, TINY_MODEL, args)
    yield s
    assert s.stop() == 0, s.text()


@pytest.fixture(scope="session")
def slow_server(tmp_path_factory):
    """A model slow enough to cancel mid-stream, behind --api-key; no prefix cache, so that every
    KV block is free again once nothing runs."""
    model = slow_dummy_model(str(tmp_path_factory.mktemp("slow-model")))
    s = _serve(tmp_path_factory, model, ["--load-format", "dummy", "--api-key", API_KEY, "--num-kv-blocks", "256",
                                         "--no-enable-prefix-caching", "--served-model-name", "slow"])
    yield s
    assert s.stop() == 0, s.text()


@pytest.fixture(scope="session")
def stub(server, stubs):
    with grpc.insecure_channel(server.target) as channel:
        yield stubs.pb_grpc.FerriteStub(channel)


@pytest.fixture(scope="session")
def channel(server):
    with grpc.insecure_channel(server.target) as ch:
        yield ch
