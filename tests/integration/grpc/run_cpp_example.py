#!/usr/bin/env python3
"""The ctest grpc_cpp_example: runs docs/grpc.md's C++ example (example_client.cpp) against a real
`ferrite serve --grpc-port` and checks its greedy tokens against HTTP's /v1/completions.
Standard library only. Usage: run_cpp_example.py path/to/ferrite path/to/grpc_example_client"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from ferrite_server import TINY_MODEL, FerriteServer  # noqa: E402


def main(binary, example):
    server = FerriteServer(TINY_MODEL, ["--served-model-name", "tiny", "--generation-config", "vllm"],
                           binary=binary).start()
    try:
        out = subprocess.run([example, server.target], capture_output=True, text=True, timeout=120)
        print(out.stdout, end="")
        print(out.stderr, end="", file=sys.stderr)
        status, body = server.http("POST", "/v1/completions", {
            "model": "tiny", "prompt": [1, 17, 42, 99, 7, 300], "max_tokens": 8, "temperature": 0,
            "ignore_eos": True, "return_token_ids": True})
        want = body["choices"][0]["token_ids"] if status == 200 else None
        expected = ["model: tiny (LlamaForCausalLM, 512 ids)", "finish: FINISH_REASON_LENGTH",
                    "usage: 6 prompt, 8 generated", f"tokens: {want}"]
        missing = [line for line in expected if line not in out.stdout.splitlines()]
        if out.returncode != 0 or status != 200 or missing:
            print(f"FAIL: exit {out.returncode}, HTTP {status} {body if status != 200 else ''}, missing {missing}",
                  file=sys.stderr)
            return 1
        print("OK: the C++ example's tokens equal HTTP's")
        return 0
    finally:
        rc = server.stop()
        if rc != 0:
            print(f"ferrite serve exited {rc}:\n{server.text()}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
