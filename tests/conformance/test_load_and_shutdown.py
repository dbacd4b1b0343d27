"""The server under load and at shutdown, each against its own `ferrite serve` on the tiny llama
fixture (prompts as token ids, so no tokenizer is involved):

- 1,000 streaming requests on one event loop: the server holds all 1,000 connections at once,
  at least 900 requests are in flight together (read from /metrics), every stream completes with
  the right number of tokens, the server keeps a small fixed number of threads, and afterwards
  nothing is running and no KV block is in use.
- SIGTERM: the listener closes at once, a request that finishes within --shutdown-timeout ends
  normally, one that does not is ended with an error event and [DONE], and the process exits 0.
"""
import asyncio
import json
import os
import re
import resource
import signal
import socket
import time

import pytest

from conftest import ROOT, launch

STREAMS = 1000
MAX_TOKENS = 64
PROMPT = [1, 17, 42, 99, 7, 300, 12, 5]


def metric(text, name):
    m = re.search(r"^ferrite:" + name + r"\{[^}]*\} ([0-9.e+-]+)$", text, re.M)
    assert m, f"no ferrite:{name} in /metrics"
    return float(m.group(1))


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


async def stream_one(port, body, record, connected, go):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connected.append(1)
    await go.wait()  # every connection is open before any request is sent
    data = json.dumps(body).encode()
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    tokens, first, done = 0, None, False
    buf = b""
    while not done:
        chunk = await reader.read(65536)
        if not chunk:
            break
        buf += chunk
        for event in re.findall(rb"data: (\{.*?\}|\[DONE\])\n\n", buf):
            if event == b"[DONE]":
                done = True
                continue
            j = json.loads(event)
            got = len(j["choices"][0].get("token_ids") or []) if j["choices"] else 0
            if got and first is None:
                first = time.monotonic()
            tokens += got
        buf = buf[buf.rfind(b"\n\n") + 2:] if b"\n\n" in buf else buf
    record.append((first, time.monotonic(), tokens, done))
    writer.close()


def open_sockets(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


async def get(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.decode(errors="replace")


async def load(port, pid):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    body = {"prompt": PROMPT, "max_tokens": MAX_TOKENS, "ignore_eos": True, "stream": True,
            "temperature": 0, "return_token_ids": True}
    record, connected, go = [], [], asyncio.Event()
    tasks = [asyncio.create_task(stream_one(port, body, record, connected, go)) for _ in range(STREAMS)]
    while len(connected) < STREAMS and not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    # The server holds every connection (accepted: one socket each) before any request is sent.
    held = 0
    for _ in range(500):
        held = open_sockets(pid)
        if held > STREAMS:  # and the listener
            break
        await asyncio.sleep(0.01)
    go.set()
    peak_threads, peak_requests = 0, 0
    while not all(t.done() for t in tasks):
        peak_threads = max(peak_threads, threads_of(pid))
        text = await get(port, "/metrics")
        peak_requests = max(peak_requests, metric(text, "num_requests_running") + metric(text, "num_requests_waiting"))
        await asyncio.sleep(0.02)
    for t in tasks:
        t.result()  # re-raise a client-side failure
    return record, held, peak_threads, peak_requests


def test_thousand_concurrent_streams(tmp_path):
    s = launch([os.path.join(ROOT, "tests/data/models/llama"), "--port", "0", "--served-model-name", "tiny",
                "--max-num-seqs", "1024", "--max-num-batched-tokens", "8192"], tmp_path / "load.log")
    try:
        t0 = time.monotonic()
        record, held, peak_threads, peak_requests = asyncio.run(
            asyncio.wait_for(load(s.port, s.proc.pid), timeout=240))
        elapsed = time.monotonic() - t0
        assert held > STREAMS, f"the server held {held} sockets with {STREAMS} clients connected"
        assert len(record) == STREAMS
        assert all(done for _, _, _, done in record), "a stream ended without [DONE]"
        assert all(tokens == MAX_TOKENS for _, _, tokens, _ in record), "a stream lost tokens"
        # Generating together: the first few requests may finish before the last arrive (a step
        # of this model takes microseconds when it runs alone), the rest are in one batch.
        assert peak_requests >= 0.9 * STREAMS, f"at most {peak_requests:.0f} requests were in flight at once"
        # One event loop and a few workers, not a thread per connection.
        assert 0 < peak_threads < 64, f"the server ran {peak_threads} threads for {STREAMS} streams"
        status, text = s.request("GET", "/metrics", key=None)
        assert status == 200
        assert metric(text, "num_requests_running") == 0
        assert metric(text, "kv_cache_usage_perc") == 0
        assert s.request("GET", "/health", key=None)[0] == 200
        print(f"{STREAMS} streams x {MAX_TOKENS} tokens in {elapsed:.1f} s; {held} sockets held, "
              f"peak {peak_requests:.0f} requests in flight, {peak_threads} server threads")
    finally:
        s.proc.terminate()
        assert s.proc.wait(timeout=60) == 0, s.log.read_text(errors="replace")


def slow_model(tmp_path):
    """The tiny llama's config made wide enough that a step takes milliseconds (dummy weights)."""
    with open(os.path.join(ROOT, "tests/data/models/llama/config.json")) as f:
        c = json.load(f)
    c.update(hidden_size=512, intermediate_size=1536, num_attention_heads=8, num_key_value_heads=8, head_dim=64,
             num_hidden_layers=6, max_position_embeddings=4096)
    d = tmp_path / "slow-model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(c))
    return str(d)


def sse_request(port, body):
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
    return sock


def read_all(sock):
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_sigterm_drains(tmp_path):
    s = launch([slow_model(tmp_path), "--load-format", "dummy", "--port", "0", "--served-model-name", "tiny",
                "--shutdown-timeout", "2"], tmp_path / "drain.log")
    short = sse_request(s.port, {"prompt": PROMPT, "max_tokens": 5, "ignore_eos": True, "stream": True})
    endless = sse_request(s.port, {"prompt": PROMPT, "max_tokens": 4000, "ignore_eos": True, "stream": True})
    # Both are generating before the signal.
    first = endless.recv(4096)
    assert first.startswith(b"HTTP/1.1 200"), first
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    # The listener closes at once: new connections are refused.
    refused = False
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
        except ConnectionRefusedError:
            refused = True
            break
        time.sleep(0.02)
    assert refused, "the server kept accepting after SIGTERM"
    short_body = read_all(short)
    assert short_body.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"), short_body[-200:]
    assert b'"finish_reason":"length"' in short_body
    assert b"shutting down" not in short_body
    endless_body = first + read_all(endless)
    waited = time.monotonic() - t0
    assert b"the server is shutting down" in endless_body, endless_body[-400:]
    assert endless_body.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"), endless_body[-200:]
    assert s.proc.wait(timeout=30) == 0, s.log.read_text(errors="replace")
    assert 1.5 < waited < 20, f"drained after {waited:.1f} s with --shutdown-timeout 2"
