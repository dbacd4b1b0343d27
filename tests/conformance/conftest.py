"""Starts one `ferrite serve` for the session (the tiny llama fixture with the Qwen3 tokenizer)
and gives tests an OpenAI client and schema validators."""
import copy
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import jsonschema
import openai
import pytest

ROOT = os.environ.get("FERRITE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("FERRITE_SHARED", os.path.join(ROOT, "..", "shared"))
BINARY = os.environ.get("FERRITE_BINARY", os.path.join(ROOT, "build", "bin", "ferrite"))
# Tensor parallelism (tests/integration/server/CMakeLists.txt, conformance_tp2): the launcher put
# before the binary ("mpirun -np 2 ...") and the flags after serve's ("-tp 2").
SERVE_PREFIX = os.environ.get("FERRITE_SERVE_PREFIX", "").split()
SERVE_EXTRA = os.environ.get("FERRITE_SERVE_EXTRA", "").split()
MODEL = "tiny"
API_KEY = "conformance-key"
# The fixture model knows 512 ids, so the template writes plain text only.
TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %} and{% endif %}"


class Server:
    def __init__(self, proc, port, log):
        self.proc, self.port, self.log = proc, port, log
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method, path, body=None, key=API_KEY, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def launch(args, log):
    """Starts `ferrite serve` with `args` (after the binary), waits for its ready line."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([*SERVE_PREFIX, BINARY, "serve", *args, *SERVE_EXTRA], stdout=out,
                                stderr=subprocess.STDOUT)
    port = None
    for _ in range(1200):
        text = log.read_text(errors="replace")
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", text)
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if port is None:
        proc.kill()
        pytest.fail("ferrite serve did not become ready:\n" + log.read_text(errors="replace"))
    return Server(proc, port, log)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    s = launch([os.path.join(ROOT, "tests/data/models/llama"),
                "--tokenizer", os.path.join(SHARED, "fixtures/tokenizers/qwen3"),
                "--chat-template", TEMPLATE, "--served-model-name", MODEL, "--port", "0",
                "--api-key", API_KEY, "--max-logprobs", "5",
                "--generation-config", "vllm"], log)
    yield s
    if SERVE_PREFIX:
        # mpirun treats its own SIGTERM as "kill the job"; a clean stop is SIGTERM to rank 0.
        os.kill(_launched_rank0(s.proc.pid), signal.SIGTERM)
    else:
        s.proc.terminate()
    assert s.proc.wait(timeout=30) == 0, log.read_text(errors="replace")


def _launched_rank0(launcher_pid):
    """The process of rank 0 among the launcher's children (OpenMPI sets OMPI_COMM_WORLD_RANK)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if ppid == launcher_pid and b"OMPI_COMM_WORLD_RANK=0" in env:
            return int(pid)
    pytest.fail(f"rank 0 of launcher {launcher_pid} not found")


@pytest.fixture(scope="session")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key=API_KEY, max_retries=0, timeout=60)


def _rewrite_nullable(node):
    """OpenAPI 3.0's `nullable: true` inside a 3.1 document -> JSON Schema's null type."""
    if isinstance(node, list):
        return [_rewrite_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _rewrite_nullable(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = list(node["enum"]) + [None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="session")
def schema():
    with open(os.path.join(SHARED, "fixtures/openai/openapi.json")) as f:
        doc = json.load(f)
    components = _rewrite_nullable(doc["components"])

    def validate(instance, name):
        root = {"components": copy.deepcopy(components), "$ref": f"#/components/schemas/{name}"}
        jsonschema.Draft202012Validator(root).validate(instance)

    return validate
