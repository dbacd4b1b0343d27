#!/usr/bin/env python3
"""`ferrite serve` under `mpirun -np 2 ... --tensor-parallel-size 2`, against a plain one-process server.

Checks (standard library only; run by ctest as tensor_parallel_serve_np2):
  1. greedy completions (token ids) of several prompts are identical at TP=2 and TP=1;
  2. SIGTERM to rank 0: the server drains, tells the worker to stop, and the job exits 0;
  3. a stalled worker (SIGSTOP): the request fails with an error within the collective timeout,
     /health answers non-200, and the whole job exits non-zero within a bounded time;
  4. a killed worker (SIGKILL): the job exits non-zero within a bounded time, no process left.

usage: tensor_parallel_serve_test.py MPIEXEC FERRITE MODEL_DIR [mpiexec flags...]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

MPIEXEC, FERRITE, MODEL = sys.argv[1:4]
MPI_FLAGS = sys.argv[4:]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mpi_yield_when_idle="1", FERRITE_LOG_LEVEL="info")
PROMPTS = [[1, 5, 6, 7, 8], [1, 300, 20, 9], [1] + list(range(40, 70)), [1, 2000, 4000, 8000, 17]]


def start(tp: int, extra=()):
    log = tempfile.NamedTemporaryFile(prefix=f"ferrite-tp{tp}-", suffix=".log", delete=False)
    cmd = [FERRITE, "serve", MODEL, "--port", "0", "--threads", "1", "--num-kv-blocks", "64", *extra]
    if tp > 1:
        cmd = [MPIEXEC, "-np", str(tp), *MPI_FLAGS, *cmd, "-tp", str(tp)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = open(log.name).read()
        m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", text)
        if m:
            return proc, int(m.group(1)), log.name
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"server (tp {tp}) did not start:\n{open(log.name).read()}")


def post(port: int, body: dict, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0  # nobody answers


def greedy(port: int):
    out = []
    for p in PROMPTS:
        status, body = post(port, {"model": MODEL, "prompt": p, "max_tokens": 16, "temperature": 0,
                                   "ignore_eos": True, "return_token_ids": True})
        assert status == 200, (status, body)
        out.append(body["choices"][0]["token_ids"])
    return out


def rank_pid(mpirun: subprocess.Popen, rank: int) -> int:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and os.getsid(int(pid)) == mpirun.pid:
                return int(pid)
        except OSError:
            continue
    raise SystemExit(f"rank {rank} of mpirun {mpirun.pid} not found")


def wait_exit(proc: subprocess.Popen, bound: float, what: str) -> int:
    try:
        return proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit(f"FAIL: {what}: the job did not exit within {bound} s")


def no_processes_left(proc: subprocess.Popen):
    """No live (non-zombie) process of the job's session, within 10 s of mpirun's exit."""
    deadline = time.time() + 10
    while True:
        left = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                    if os.getsid(int(pid)) == proc.pid and stat.rsplit(")", 1)[1].split()[0] != "Z":
                        left.append(pid)
                except OSError:
                    pass
        if not left:
            return
        if time.time() > deadline:
            raise SystemExit(f"FAIL: process(es) {left} of the job still running")
        time.sleep(0.2)


def main():
    # 1. TP=2 against TP=1.
    one, port1, _ = start(1)
    want = greedy(port1)
    one.send_signal(signal.SIGTERM)
    assert wait_exit(one, 30, "tp 1 shutdown") == 0
    two, port2, log2 = start(2)
    got = greedy(port2)
    assert got == want, f"TP=2 {got} != TP=1 {want}"
    print(f"ok: {len(PROMPTS)} greedy completions identical at TP=2 and TP=1")

    # 2. Graceful shutdown: SIGTERM to rank 0 only.
    os.kill(rank_pid(two, 0), signal.SIGTERM)
    rc = wait_exit(two, 30, "graceful shutdown")
    assert rc == 0, f"mpirun exited {rc} after SIGTERM to rank 0:\n{open(log2).read()}"
    no_processes_left(two)
    print("ok: SIGTERM to rank 0 ends the job cleanly (exit 0)")

    # 3. A stalled worker.
    three, port3, log3 = start(2, ["--collective-timeout", "2"])
    os.kill(rank_pid(three, 1), signal.SIGSTOP)
    t0 = time.time()
    status, body = post(port3, {"model": MODEL, "prompt": PROMPTS[0], "max_tokens": 4}, timeout=30)
    took = time.time() - t0
    assert status >= 500 and "timed out" in json.dumps(body), (status, body)
    assert took < 10, took
    h = health(port3)
    assert h != 200, h
    rc = wait_exit(three, 30, "stalled worker")
    assert rc != 0, f"mpirun exited 0 after a stalled worker:\n{open(log3).read()}"
    no_processes_left(three)
    print(f"ok: stalled worker: request failed after {took:.1f} s, /health {h}, job exited {rc} "
          f"{time.time() - t0:.1f} s after the request")

    # 4. A killed worker.
    four, port4, log4 = start(2)
    t0 = time.time()
    os.kill(rank_pid(four, 1), signal.SIGKILL)
    rc = wait_exit(four, 30, "killed worker")
    assert rc != 0, f"mpirun exited 0 after a killed worker:\n{open(log4).read()}"
    no_processes_left(four)
    print(f"ok: killed worker: job exited {rc} after {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
