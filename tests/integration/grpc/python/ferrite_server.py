"""A real `ferrite serve --grpc-port` for the gRPC tests. Standard library only, so that the C++
example's driver (../run_cpp_example.py) can use it with the system python3."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("FERRITE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")))
SHARED = os.environ.get("FERRITE_SHARED", os.path.join(ROOT, "..", "shared"))
BINARY = os.environ.get("FERRITE_BINARY", os.path.join(ROOT, "build", "bin", "ferrite"))
TINY_MODEL = os.path.join(ROOT, "tests", "data", "models", "llama")
QWEN3_TOKENIZER = os.path.join(SHARED, "fixtures", "tokenizers", "qwen3")
# The ready line of `ferrite serve` (src/cli/serve_cmd.cpp).
READY = re.compile(r"on http://127\.0\.0\.1:(\d+) and grpc://127\.0\.0\.1:(\d+)")


def have_tokenizer():
    return os.path.exists(os.path.join(QWEN3_TOKENIZER, "tokenizer.json"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slow_dummy_model(directory):
    """The llama fixture widened to 6 layers of 512 (load with --load-format dummy): a decode step
    takes milliseconds, so a request is still running when a test cancels it (as
    tests/test_util.h's slow_dummy_model_dir)."""
    with open(os.path.join(TINY_MODEL, "config.json")) as f:
        c = json.load(f)
    c.update(hidden_size=512, intermediate_size=1536, num_attention_heads=8, num_key_value_heads=8, head_dim=64,
             num_hidden_layers=6, max_position_embeddings=4096)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(c, f)
    return directory


class FerriteServer:
    """`ferrite serve MODEL --port 0 --grpc-port P ARGS...`, started and waited for."""

    def __init__(self, model, args=(), log_dir=None, binary=BINARY):
        self.model, self.args, self.binary = model, list(args), binary
        self.log = os.path.join(log_dir or tempfile.mkdtemp(prefix="ferrite-grpc-"), "serve.log")
        self.proc = None
        self.http_port = self.grpc_port = None

    def start(self, timeout=60):
        # The gRPC port is picked here and may be taken by the time ferrite binds it: try again.
        for _ in range(3):
            port = free_port()
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen([self.binary, "serve", self.model, "--port", "0", "--grpc-port", str(port)]
                                             + self.args, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = READY.search(self.text())
                if m:
                    self.http_port, self.grpc_port = int(m.group(1)), int(m.group(2))
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if "cannot listen" not in self.text():
                break
        raise RuntimeError("ferrite serve did not become ready:\n" + self.text())

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    @property
    def target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def http(self, method, path, body=None, key=None):
        """One HTTP call: (status, parsed JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "null")

    def stop(self):
        """SIGTERM, as an operator would; the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -signal.SIGKILL
