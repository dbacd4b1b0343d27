#!/usr/bin/env python3
"""Per-token streaming overhead of ferrite's gRPC API vs its HTTP SSE API, on a small model with
many concurrent streams.

Run it (from the repository root) with the virtual environment that the gRPC integration test
creates (it has grpcio, grpcio-tools and protobuf):

    build/tests/integration/grpc/python-venv/bin/python benchmarks/serving/stream_overhead.py
    build/tests/integration/grpc/python-venv/bin/python benchmarks/serving/stream_overhead.py \
        --concurrency 1,64,512 --output-len 128 --repeats 3 --json /tmp/stream_overhead.json

Any Python 3.8+ with `pip install grpcio grpcio-tools protobuf` works too. Only the standard
library and those packages are used.

What it does
------------
1. Starts ONE `ferrite serve MODEL --port 0 --grpc-port P --max-num-seqs 1024
   --served-model-name bench --max-model-len 8+OUTPUT_LEN` (the tiny llama fixture has
   max_position_embeddings 128, so 8 + 128 needs a longer context; ferrite only warns).
2. For every repeat, every concurrency C and both protocols (their order alternates between
   repeats so that drift hits both alike), runs C concurrent streaming requests of the same fixed
   8-token id prompt, OUTPUT_LEN tokens each (temperature 0, ignore_eos):
     http: POST /v1/completions, "stream": true, "return_token_ids": true, one raw asyncio TCP
           connection per request (HTTP/1.1, Content-Length body, `Connection: close`); the
           chunked SSE body is parsed and the ids of every `data:` event counted.
     grpc: ferrite.v1.Ferrite/Generate with grpc.aio over ONE channel (HTTP/2 multiplexes every
           stream on one TCP connection); stubs are generated at run time from
           proto/ferrite/v1/ferrite.proto with grpc_tools.protoc into a temp dir.
   Every stream must deliver exactly OUTPUT_LEN tokens and end with finish reason "length";
   anything else (an error status, an error event, a lost token) stops the benchmark.
3. Runs the in-process engine baseline, `ferrite bench throughput` with the same C, input and
   output length, and again with --output-len 1.

What each number includes
-------------------------
server CPU us/token  utime+stime of the whole `ferrite serve` process (all its threads: engine,
                     HTTP event loop and workers, gRPC threads, logging) from /proc/PID/stat,
                     read just before the first request is sent and just after the last stream
                     ended, divided by the tokens received. The engine work (prefill + decode of
                     the same C x OUTPUT_LEN tokens) is the same for both protocols, so the
                     difference between the two rows is the difference in API overhead. Clock
                     tick resolution is 1/SC_CLK_TCK s (usually 10 ms): tiny runs are coarse.
engine CPU us/token  `ferrite bench throughput` (a child process; CPU from getrusage(
                     RUSAGE_CHILDREN) deltas). `total` includes process start, model load,
                     prompt generation, prefill and decode, divided by C*OUTPUT_LEN tokens.
                     `decode` = (CPU(OUTPUT_LEN) - CPU(1)) / (C*(OUTPUT_LEN-1)): the marginal
                     cost of one more decoded token, with load and prefill subtracted. Its
                     prompts are random ids (the serve runs share one prompt; 8 tokens is under
                     one KV block, so the prefix cache does not change the work).
                     server us/token - engine decode us/token ~ API overhead per token (plus
                     the prefill/first-token share, which the serve number also carries).
wall s               from the first request sent to the last stream ended (client clock).
tokens/s             tokens received / wall s.
TTFT ms              mean over streams of (first token-bearing chunk arrival - request sent).
ITL ms               gaps between consecutive token-bearing chunk arrivals within a stream,
                     pooled over all streams of the run (mean, p50, p99, nearest rank). A chunk
                     carrying k > 1 tokens counts as one gap; `tokens/chunk` shows if it happens.
client CPU us/token  this Python process's CPU (getrusage(RUSAGE_SELF)) over the run: the load
                     generator shares the machine with the server, and grpc.aio costs more
                     client CPU than a raw socket parser, which can limit wall-clock numbers at
                     high concurrency on few cores (the server CPU numbers are unaffected).
Reported values are the medians over the repeats, taken per metric.
"""
import argparse
import asyncio
import importlib
import json
import os
import platform
import re
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_BINARY = os.path.join(ROOT, "build", "bin", "ferrite")
DEFAULT_MODEL = os.path.join(ROOT, "tests", "data", "models", "llama")
PROTO_DIR = os.path.join(ROOT, "proto")
PROMPT = [1, 17, 42, 99, 7, 300, 5, 64]  # token ids < 512 (the tiny fixture's vocabulary)
MODEL_NAME = "bench"
# The ready line of `ferrite serve` (src/cli/serve_cmd.cpp).
READY = re.compile(r"on http://127\.0\.0\.1:(\d+) and grpc://127\.0\.0\.1:(\d+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# Machine and process information


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "sched_affinity": len(os.sched_getaffinity(0)), "cpu_model": model,
            "loadavg_at_start": list(os.getloadavg()), "platform": platform.platform(),
            "python": sys.version.split()[0], "clk_tck": CLK_TCK}


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads) in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 (utime) and 15 (stime)


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, binary, model, args, log_path):
        self.binary, self.model, self.args, self.log_path = binary, model, list(args), log_path
        self.proc = None
        self.http_port = self.grpc_port = None

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def start(self, timeout=120):
        for _ in range(3):  # the gRPC port may be taken between free_port() and the bind
            port = free_port()
            cmd = [self.binary, "serve", self.model, "--port", "0", "--grpc-port", str(port)] + self.args
            self.cmd = cmd
            with open(self.log_path, "wb") as out:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = READY.search(self.text())
                if m:
                    self.http_port, self.grpc_port = int(m.group(1)), int(m.group(2))
                    return
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if "cannot listen" not in self.text():
                break
        raise BenchError("ferrite serve did not become ready:\n" + self.text()[-4000:])

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"ferrite serve exited with {self.proc.returncode}:\n" + self.text()[-4000:])

    def cpu(self):
        return proc_cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# --------------------------------------------------------------------------------------------
# One stream's record


class Stream:
    __slots__ = ("sent", "arrivals", "tokens", "chunks", "finish")

    def __init__(self):
        self.sent = 0.0
        self.arrivals = []  # perf_counter() of every token-bearing chunk
        self.tokens = 0
        self.chunks = 0
        self.finish = None


# --------------------------------------------------------------------------------------------
# HTTP SSE client: raw asyncio sockets


async def _read_headers(reader):
    status_line = await reader.readline()
    if not status_line:
        raise BenchError("http: the server closed the connection before answering")
    parts = status_line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


async def _body_pieces(reader, headers):
    """Yields the body's bytes as they arrive (chunked, Content-Length, or until close)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readline()
            if not size_line:
                raise BenchError("http: the connection closed inside a chunked body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)  # CRLF
            yield data
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            yield data


async def http_stream(port, body, output_len, rec):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        rec.sent = time.perf_counter()
        writer.write(head + body)
        await writer.drain()
        status, headers = await _read_headers(reader)
        if status != 200:
            rest = b"".join([p async for p in _body_pieces(reader, headers)])
            raise BenchError(f"http: status {status}: {rest[:500]!r}")
        buf = b""
        done = False
        async for piece in _body_pieces(reader, headers):
            now = time.perf_counter()
            buf += piece
            while True:
                i = buf.find(b"\n\n")
                if i < 0:
                    break
                event, buf = buf[:i], buf[i + 2:]
                for line in event.split(b"\n"):
                    line = line.rstrip(b"\r")
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        continue
                    obj = json.loads(payload)
                    if "error" in obj:
                        raise BenchError(f"http: error event: {obj['error']}")
                    for choice in obj.get("choices", []):
                        ids = choice.get("token_ids") or []
                        if ids:
                            rec.tokens += len(ids)
                            rec.chunks += 1
                            rec.arrivals.append(now)
                        if choice.get("finish_reason"):
                            rec.finish = choice["finish_reason"]
        if not done:
            raise BenchError("http: the stream ended without `data: [DONE]`")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    if rec.tokens != output_len or rec.finish != "length":
        raise BenchError(f"http: a stream got {rec.tokens} of {output_len} tokens, finish_reason {rec.finish!r}")


def http_body(output_len):
    return json.dumps({"model": MODEL_NAME, "prompt": PROMPT, "max_tokens": output_len, "temperature": 0,
                       "ignore_eos": True, "stream": True, "return_token_ids": True}).encode()


# --------------------------------------------------------------------------------------------
# gRPC client: grpc.aio, stubs generated at run time


def generate_stubs(out_dir):
    from grpc_tools import protoc
    os.makedirs(out_dir, exist_ok=True)
    rc = protoc.main(["grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                      os.path.join(PROTO_DIR, "ferrite", "v1", "ferrite.proto")])
    if rc != 0:
        raise BenchError("grpc_tools.protoc failed on proto/ferrite/v1/ferrite.proto")
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("ferrite.v1.ferrite_pb2")
    pb_grpc = importlib.import_module("ferrite.v1.ferrite_pb2_grpc")
    return pb, pb_grpc


def grpc_request(pb, output_len):
    return pb.GenerateRequest(model=MODEL_NAME, token_ids=pb.TokenIds(ids=PROMPT),
                              sampling=pb.SamplingParams(temperature=0.0, max_tokens=output_len, ignore_eos=True))


async def grpc_stream(stub, pb, req, output_len, rec, timeout):
    rec.sent = time.perf_counter()
    async for r in stub.Generate(req, timeout=timeout):
        kind = r.WhichOneof("response")
        if kind == "chunk":
            n = len(r.chunk.token_ids)
            if n:
                rec.arrivals.append(time.perf_counter())
                rec.tokens += n
                rec.chunks += 1
        elif kind == "complete":
            rec.finish = pb.FinishReason.Name(r.complete.finish_reason)
        elif kind == "error":
            raise BenchError(f"grpc: error event: {r.error.message}")
    if rec.tokens != output_len or rec.finish != "FINISH_REASON_LENGTH":
        raise BenchError(f"grpc: a stream got {rec.tokens} of {output_len} tokens, finish {rec.finish!r}")


# --------------------------------------------------------------------------------------------
# One measured run


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


async def run_once(proto, c, args, server, grpc_ctx):
    recs = [Stream() for _ in range(c)]
    if proto == "http":
        body = http_body(args.output_len)
        coros = [http_stream(server.http_port, body, args.output_len, r) for r in recs]
    else:
        stub, pb = grpc_ctx
        req = grpc_request(pb, args.output_len)
        coros = [grpc_stream(stub, pb, req, args.output_len, r, args.request_timeout) for r in recs]
    cpu0, self0 = server.cpu(), self_cpu_seconds()
    t0 = time.perf_counter()
    results = await asyncio.gather(*coros, return_exceptions=True)
    t1 = time.perf_counter()
    cpu1, self1 = server.cpu(), self_cpu_seconds()
    errors = [e for e in results if isinstance(e, BaseException)]
    if errors:
        raise BenchError(f"{proto} C={c}: {len(errors)} of {c} streams failed; first: {errors[0]!r}")
    tokens = sum(r.tokens for r in recs)
    if tokens != c * args.output_len:
        raise BenchError(f"{proto} C={c}: {tokens} tokens received, want {c * args.output_len}")
    chunks = sum(r.chunks for r in recs)
    gaps = sorted(b - a for r in recs for a, b in zip(r.arrivals, r.arrivals[1:]))
    ttfts = [r.arrivals[0] - r.sent for r in recs]
    wall = t1 - t0
    server_cpu = cpu1 - cpu0
    client_cpu = self1 - self0
    return {
        "protocol": proto, "concurrency": c, "tokens": tokens, "chunks": chunks, "wall_s": wall,
        "tokens_per_s": tokens / wall, "server_cpu_s": server_cpu, "server_cpu_us_per_token": server_cpu / tokens * 1e6,
        "server_cpu_util": server_cpu / wall, "client_cpu_s": client_cpu,
        "client_cpu_us_per_token": client_cpu / tokens * 1e6,
        "ttft_ms_mean": statistics.fmean(ttfts) * 1e3, "ttft_ms_max": max(ttfts) * 1e3,
        "itl_ms_mean": statistics.fmean(gaps) * 1e3 if gaps else float("nan"),
        "itl_ms_p50": percentile(gaps, 50) * 1e3, "itl_ms_p99": percentile(gaps, 99) * 1e3,
        "tokens_per_chunk": tokens / chunks,
    }


# --------------------------------------------------------------------------------------------
# The in-process engine baseline


def engine_bench(args, c, output_len, tmp):
    out = os.path.join(tmp, f"bench-c{c}-o{output_len}.json")
    cmd = [args.binary, "bench", "throughput", "--model", args.model, "--num-prompts", str(c), "--input-len",
           str(len(PROMPT)), "--output-len", str(output_len), "--max-concurrency", str(c), "--max-num-seqs",
           str(args.max_num_seqs), "--max-model-len", str(max_model_len(args)), "--json", out]
    cmd += shlex.split(args.extra_bench_args)
    cpu0, t0 = children_cpu_seconds(), time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu_seconds() - cpu0
    if p.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed ({p.returncode}):\n{p.stderr[-4000:]}")
    with open(out) as f:
        result = json.load(f)
    if result.get("failed") or result.get("completed") != c or result.get("total_output_tokens") != c * output_len:
        raise BenchError(f"`{' '.join(cmd)}`: completed {result.get('completed')}, failed {result.get('failed')}, "
                         f"{result.get('total_output_tokens')} output tokens (want {c * output_len}): "
                         f"{result.get('errors')}")
    return {"cmd": cmd, "process_wall_s": wall, "process_cpu_s": cpu, "result": result}


def max_model_len(args):
    return len(PROMPT) + args.output_len


# --------------------------------------------------------------------------------------------


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def fmt(v, digits=1):
    return "-" if v is None or v != v else f"{v:.{digits}f}"


async def serve_benchmark(args, server, pb, pb_grpc):
    import grpc
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=[
        ("grpc.max_receive_message_length", 64 << 20)])
    await asyncio.wait_for(channel.channel_ready(), 30)
    stub = pb_grpc.FerriteStub(channel)
    grpc_ctx = (stub, pb)
    # Warm-up (not measured): one stream each, so that connections, threads and the engine's
    # first steps are behind us.
    await run_once("http", 1, args, server, grpc_ctx)
    await run_once("grpc", 1, args, server, grpc_ctx)
    runs = []
    for rep in range(args.repeats):
        for c in args.concurrency:
            order = ("http", "grpc") if (rep + args.concurrency.index(c)) % 2 == 0 else ("grpc", "http")
            for proto in order:
                server.check_alive()
                r = await run_once(proto, c, args, server, grpc_ctx)
                r["repeat"] = rep
                runs.append(r)
                print(f"  repeat {rep} {proto:4} C={c:<5} {r['tokens']} tokens in {r['wall_s']:.2f} s, "
                      f"server {r['server_cpu_us_per_token']:.1f} us/token", file=sys.stderr, flush=True)
                if args.pause > 0:
                    await asyncio.sleep(args.pause)
    await channel.close()
    server.check_alive()
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model directory (default: the tiny llama fixture)")
    ap.add_argument("--binary", default=DEFAULT_BINARY, help="the ferrite binary (default: build/bin/ferrite)")
    ap.add_argument("--concurrency", default="1,64,512", help="comma-separated concurrent streams (default 1,64,512)")
    ap.add_argument("--output-len", type=int, default=128, help="tokens per stream (default 128)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per (protocol, concurrency); medians reported")
    ap.add_argument("--max-num-seqs", type=int, default=1024)
    ap.add_argument("--extra-serve-args", default="", help="more `ferrite serve` flags (one shell-quoted string)")
    ap.add_argument("--extra-bench-args", default="", help="more `ferrite bench throughput` flags")
    ap.add_argument("--no-engine-baseline", action="store_true", help="skip `ferrite bench throughput`")
    ap.add_argument("--request-timeout", type=float, default=600, help="per-stream timeout, seconds")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of idle between runs")
    ap.add_argument("--json", help="write every raw number here")
    ap.add_argument("--keep-log", action="store_true", help="print the server log's path and keep it")
    args = ap.parse_args()
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if args.output_len < 2:
        ap.error("--output-len must be at least 2 (inter-token gaps need two tokens)")
    if any(c < 1 for c in args.concurrency) or args.repeats < 1:
        ap.error("concurrency and repeats must be positive")
    if max(args.concurrency) > args.max_num_seqs:
        print(f"note: concurrency above --max-num-seqs {args.max_num_seqs} queues in the server", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.concurrency) * 2 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))

    info = machine_info()
    tmp = tempfile.mkdtemp(prefix="ferrite-stream-overhead-")
    pb, pb_grpc = generate_stubs(os.path.join(tmp, "stubs"))

    serve_args = ["--max-num-seqs", str(args.max_num_seqs), "--served-model-name", MODEL_NAME]
    extra = shlex.split(args.extra_serve_args)
    if "--max-model-len" not in extra:
        serve_args += ["--max-model-len", str(max_model_len(args))]
    server = Server(args.binary, args.model, serve_args + extra, os.path.join(tmp, "serve.log"))
    server.start()
    print(f"server: pid {server.proc.pid}, http {server.http_port}, grpc {server.grpc_port}; "
          f"log {server.log_path}", file=sys.stderr, flush=True)
    try:
        runs = asyncio.run(serve_benchmark(args, server, pb, pb_grpc))
    finally:
        rc = server.stop()
    log = server.text()
    if rc != 0:
        raise BenchError(f"ferrite serve exited with {rc} on SIGTERM:\n{log[-4000:]}")

    engine = []
    if not args.no_engine_baseline:
        for rep in range(args.repeats):
            for c in args.concurrency:
                full = engine_bench(args, c, args.output_len, tmp)
                one = engine_bench(args, c, 1, tmp)
                tokens = c * args.output_len
                engine.append({
                    "repeat": rep, "concurrency": c, "tokens": tokens, "full": full, "output_len_1": one,
                    "total_cpu_us_per_token": full["process_cpu_s"] / tokens * 1e6,
                    "decode_cpu_us_per_token": (full["process_cpu_s"] - one["process_cpu_s"])
                    / (c * (args.output_len - 1)) * 1e6,
                })
                print(f"  repeat {rep} engine C={c:<5} {full['process_cpu_s']:.2f} s CPU "
                      f"({one['process_cpu_s']:.2f} s at --output-len 1)", file=sys.stderr, flush=True)

    # Summary: medians over the repeats.
    summary = []
    for c in args.concurrency:
        for proto in ("http", "grpc"):
            rs = [r for r in runs if r["protocol"] == proto and r["concurrency"] == c]
            row = {"protocol": proto, "concurrency": c, "tokens": rs[0]["tokens"], "repeats": len(rs)}
            for k in ("wall_s", "tokens_per_s", "server_cpu_us_per_token", "client_cpu_us_per_token", "ttft_ms_mean",
                      "itl_ms_mean", "itl_ms_p50", "itl_ms_p99", "tokens_per_chunk"):
                row[k] = median_of(rs, k)
            summary.append(row)
        es = [e for e in engine if e["concurrency"] == c]
        if es:
            res = [e["full"]["result"] for e in es]
            row = {"protocol": "engine", "concurrency": c, "tokens": es[0]["tokens"], "repeats": len(es),
                   "total_cpu_us_per_token": statistics.median(e["total_cpu_us_per_token"] for e in es),
                   "decode_cpu_us_per_token": statistics.median(e["decode_cpu_us_per_token"] for e in es)}
            for k_out, k_in in (("wall_s", "duration"), ("tokens_per_s", "output_throughput"),
                                ("ttft_ms_mean", "mean_ttft_ms"), ("itl_ms_mean", "mean_itl_ms"),
                                ("itl_ms_p50", "median_itl_ms"), ("itl_ms_p99", "p99_itl_ms")):
                vals = [r.get(k_in) for r in res]
                row[k_out] = statistics.median(vals) if all(isinstance(v, (int, float)) for v in vals) else None
            summary.append(row)

    print(f"\nferrite stream overhead: model {args.model}, prompt {len(PROMPT)} ids, {args.output_len} tokens/stream, "
          f"median of {args.repeats}; {info['nproc']} CPUs ({info['cpu_model']}), "
          f"load avg at start {info['loadavg_at_start'][0]:.2f}\n")
    print("| protocol | C | tokens | wall s | tokens/s | server CPU us/token | client CPU us/token | TTFT ms "
          "| ITL mean ms | ITL p50 ms | ITL p99 ms | tokens/chunk |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in summary:
        if r["protocol"] == "engine":
            cpu = f"{fmt(r['decode_cpu_us_per_token'])} decode / {fmt(r['total_cpu_us_per_token'])} total"
            print(f"| engine (in-process) | {r['concurrency']} | {r['tokens']} | {fmt(r['wall_s'], 2)} "
                  f"| {fmt(r['tokens_per_s'], 0)} | {cpu} | - | {fmt(r['ttft_ms_mean'], 2)} | {fmt(r['itl_ms_mean'], 2)} "
                  f"| {fmt(r['itl_ms_p50'], 2)} | {fmt(r['itl_ms_p99'], 2)} | - |")
        else:
            print(f"| {r['protocol']} | {r['concurrency']} | {r['tokens']} | {fmt(r['wall_s'], 2)} "
                  f"| {fmt(r['tokens_per_s'], 0)} | {fmt(r['server_cpu_us_per_token'])} "
                  f"| {fmt(r['client_cpu_us_per_token'])} | {fmt(r['ttft_ms_mean'], 2)} | {fmt(r['itl_ms_mean'], 2)} "
                  f"| {fmt(r['itl_ms_p50'], 2)} | {fmt(r['itl_ms_p99'], 2)} | {fmt(r['tokens_per_chunk'], 2)} |")
    print("\nserver CPU: the whole `ferrite serve` process per token received; engine: `ferrite bench "
          "throughput` CPU, `decode` = marginal per decoded token (load and prefill subtracted), "
          "`total` = everything incl. model load. See the docstring for what each number includes.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "prompt": PROMPT, "serve_cmd": server.cmd,
                       "summary": summary, "runs": runs, "engine": engine,
                       "server_log_tail": log[-8000:]}, f, indent=1)
        print(f"\nwrote {args.json}", file=sys.stderr)
    if args.keep_log:
        print(f"server log: {server.log_path}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"stream_overhead: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
