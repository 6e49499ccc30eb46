"""The demo under load: 8 concurrent gradio_client users x 5 requests against one app process.

    python -m benchmarks.bench_load [--rounds 4] [--users 8] [--requests 5] [--checkpoint DIR]

Each user keeps one session over the rounds; in each round every user analyses the SAME generated
3-s talking-head clip (/analyse, with a transcript) at once, and then flips the controls (/predict)
for the rest of its requests. The same clip makes the same face crops in 8 sessions at the same
moment: the app writes its gallery files content-addressed and atomically (app_media), which this
load checks (gradio's own in-place image cache lost about 1 request in 320 here). A last round with new users measures what each new session keeps on the server. The app runs as
its own process (`python app.py`, the shipped checkpoint unless told otherwise), so its memory is
measured alone: resident set size after each round and the process's peak (VmHWM). Latencies are
as seen by the clients, queueing included: with one extraction at a time (app.EXTRACT_CONCURRENCY)
an /analyse waits for the uploads ahead of it, which is what its p95 shows.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import format_table, machine, median, p95, rss_mb

ROOT = Path(__file__).resolve().parents[1]
# the controls each user flips after its upload: (text, audio, visual, drop rate); all deterministic (seed 0)
TOGGLES = [(True, False, True, 0.0), (True, True, False, 0.0), (False, True, True, 0.0), (True, True, True, 0.5),
           (True, False, False, 0.0), (True, True, True, 0.0)]
CONTROLS_TAIL = ("student", "text", "mean", "1")  # model, query, head, layer


@dataclass
class AppProcess:
    """`python app.py` on 127.0.0.1 in a child process; `rss_mb()` / `peak_mb()` read its /proc status."""

    proc: subprocess.Popen
    url: str
    log: Path

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def peak_mb(self) -> float:
        return rss_mb(self.proc.pid, "VmHWM")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def start_app(checkpoint: str | Path | None, log_dir: Path, timeout: float = 300.0) -> AppProcess:
    """Start the real app on a free port and wait until it answers; raises RuntimeError with its log otherwise."""
    from tests.conftest import free_port

    port = free_port()
    log = log_dir / "app.log"
    cmd = [sys.executable, "app.py", "--port", str(port), "--device", "cpu"]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=5)
            return AppProcess(proc, url, log)
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the app did not answer within {timeout:.0f} s:\n{log.read_text()[-2000:]}")


@dataclass
class RoundResult:
    """One round: every request's latency (s) per endpoint, the answers, and the errors (repr)."""

    analyse: list[float] = field(default_factory=list)
    predict: list[float] = field(default_factory=list)
    # (clip, toggle, score, states, contributions)
    answers: list[tuple[str, tuple, float, dict, dict]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def all(self) -> list[float]:
        return self.analyse + self.predict


def one_user(url: str, clip: Path, transcript: str, requests: int, offset: int, client=None) -> RoundResult:
    """One session: /analyse once, then requests-1 toggles (/predict), starting at TOGGLES[offset].

    client: a gradio_client.Client to reuse (its session carries over); a new session when None.
    """
    from gradio_client import Client, handle_file

    out = RoundResult()
    try:
        client = client or Client(url, verbose=False)
        t0 = time.perf_counter()
        res = client.predict(handle_file(str(clip)), transcript, True, True, True, 0.0, 0, *CONTROLS_TAIL,
                             api_name="/analyse")[5]
        out.analyse.append(time.perf_counter() - t0)
        out.answers.append((clip.name, (True, True, True, 0.0), res["score"],
                            {m: s["state"] for m, s in res["availability"].items()}, res.get("contributions")))
        for i in range(requests - 1):
            toggle = TOGGLES[(offset + i) % len(TOGGLES)]
            t0 = time.perf_counter()
            res = client.predict(*toggle, 0, *CONTROLS_TAIL, api_name="/predict")[0]
            out.predict.append(time.perf_counter() - t0)
            out.answers.append((clip.name, toggle, res["score"],
                                {m: s["state"] for m, s in res["availability"].items()}, res.get("contributions")))
    except Exception as e:  # recorded, not raised: the round reports every failure
        out.errors.append(f"{type(e).__name__}: {e}")
    return out


def load_round(url: str, clips: list[Path], transcript: str, users: int = 8, requests: int = 5,
               clients: list | None = None) -> RoundResult:
    """`users` sessions at once, `requests` each, user u uploading clips[u % len(clips)]; merged results.

    clients: one gradio_client.Client per user to reuse (the same sessions every round); new ones when None.
    """
    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        parts = list(pool.map(lambda u: one_user(url, clips[u % len(clips)], transcript, requests, u,
                                                 clients[u] if clients else None), range(users)))
    merged = RoundResult(wall=time.perf_counter() - t0)
    for p in parts:
        merged.analyse += p.analyse
        merged.predict += p.predict
        merged.answers += p.answers
        merged.errors += p.errors
    return merged


def check_answers(answers: list[tuple], reference: dict | None = None) -> list[str]:
    """Problems with a round's answers: a non-finite score, a toggle whose states disagree with it, Shapley
    contributions that do not add up to the score, or a score that differs from another answer for the
    same clip and toggle (the model is deterministic).
    `reference` ((clip, toggle) -> score) is updated with first-seen scores, so it can carry over rounds."""
    reference = {} if reference is None else reference
    problems = []
    for clip, toggle, score, states, contributions in answers:
        if not (isinstance(score, float) and math.isfinite(score)):
            problems.append(f"{clip} {toggle}: score {score!r}")
            continue
        for m, on in zip(("text", "audio", "vision"), toggle[:3]):
            if not on and states[m] != "switched off":
                problems.append(f"{clip} {toggle}: {m} is {states[m]}, expected switched off")
            if on and states[m] not in ("present", "dropped"):
                problems.append(f"{clip} {toggle}: {m} is {states[m]}, expected present")
        c = contributions or {}
        if c and abs(c["baseline"] + sum(c["phi"].values()) - score) > 1e-4:
            problems.append(f"{clip} {toggle}: contributions {c} do not add up to the score {score}")
        ref = reference.setdefault((clip, toggle), score)
        if abs(ref - score) > 1e-5:
            problems.append(f"{clip} {toggle}: score {score} differs from {ref} for the same clip and controls")
    return problems


def user_clips(folder: Path, users: int) -> list[Path]:
    """The clip each user sends: one generated 3-s talking head, the same for every user."""
    from tests.demo_support import make_clip

    return [make_clip(folder / "talk.mp4", seconds=3.0)] * users


def run(repeats: int = 5, rounds: int | None = None, users: int = 8, requests: int = 5,
        checkpoint: str | None = None) -> list[dict]:
    """`rounds` rounds of `users` x `requests` (default: `repeats`, at least 4, so growth after round 2 shows)."""
    from tests.demo_support import TRANSCRIPT

    rounds = rounds or max(4, repeats)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = user_clips(tmp, users)
        app = start_app(checkpoint, tmp)
        try:
            from gradio_client import Client

            rss, walls, lat_a, lat_p, errors, reference = [app.rss_mb()], [], [], [], [], {}
            clients = [Client(app.url, verbose=False) for _ in range(users)]  # the same users every round
            for _ in range(rounds):
                r = load_round(app.url, clips, TRANSCRIPT, users, requests, clients)
                errors += r.errors + check_answers(r.answers, reference)
                lat_a += r.analyse
                lat_p += r.predict
                walls.append(r.wall)
                rss.append(app.rss_mb())
            # then one round of new users: gradio keeps every session's state (up to its
            # state_session_capacity, 10000), and an API session never says it has closed
            fresh = load_round(app.url, clips, TRANSCRIPT, users, requests)
            errors += fresh.errors + check_answers(fresh.answers, reference)
            per_session = (app.rss_mb() - rss[-1]) / users
            peak = app.peak_mb()
        finally:
            app.close()
    n = users * requests
    note = f"{users} users x {requests} requests, {rounds} rounds; all send the same 3-s clip, with transcript"
    rows += [
        dict(benchmark="load: any request", metric="p50", value=median(lat_a + lat_p), unit="s", note=note),
        dict(benchmark="load: any request", metric="p95", value=p95(lat_a + lat_p), unit="s"),
        dict(benchmark="load: /analyse (queued uploads)", metric="p50", value=median(lat_a), unit="s"),
        dict(benchmark="load: /analyse (queued uploads)", metric="p95", value=p95(lat_a), unit="s"),
        dict(benchmark="load: /predict (toggle)", metric="p50", value=median(lat_p) * 1e3, unit="ms"),
        dict(benchmark="load: /predict (toggle)", metric="p95", value=p95(lat_p) * 1e3, unit="ms"),
        dict(benchmark="load: one round", metric="median wall", value=median(walls), unit="s",
             note=f"{n} requests per round"),
        dict(benchmark="load: errors", metric="count", value=len(errors), unit="",
             note="; ".join(errors[:3]) if errors else "every answer finite and consistent"),
        dict(benchmark="load: app process", metric="peak RSS", value=peak, unit="MB"),
        dict(benchmark="load: app process", metric="RSS per round", value=rss[-1], unit="MB",
             note="at start, then after each round: " + ", ".join(f"{x:.0f}" for x in rss)),
        dict(benchmark="load: app process", metric="RSS growth, round 2 -> last", value=rss[-1] - rss[min(2, len(rss) - 1)], unit="MB",
             note="the same sessions every round"),
        dict(benchmark="load: app process", metric="RSS per new session", value=per_session, unit="MB",
             note="one more round with new users; kept until gradio's session limit"),
    ]
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped one)")
    args = ap.parse_args()
    rows = run(rounds=args.rounds, users=args.users, requests=args.requests, checkpoint=args.checkpoint)
    print(f"machine: {machine()}")
    print(format_table(rows))
