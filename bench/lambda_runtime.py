"""A cold start as Lambda pays it: a fresh `python -m awslambdaric HANDLER` against a local Lambda Runtime API.

`RuntimeApi` serves the part of the Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
that the runtime interface client uses: `GET /2018-06-01/runtime/invocation/next` hands out the events one by
one (then holds the poll open, as Lambda does between invocations), `POST .../invocation/{id}/response` and
`.../error` take the answer, `POST .../init/error` a failed init. It records when the process first polled (init
done) and when it answered, and reads the process's CPU time from `/proc/PID/stat` at the moment each answer
arrives, so neither the process's exit nor its idle threads are counted: a Lambda is frozen after its answer,
not ended. A second event, handed out after the first answer, measures the same work warm in the same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ColdRun:
    """One fresh process: seconds from exec to its first poll and to its first answer, CPU seconds at that answer,
    and the CPU seconds of the second (warm) invocation."""

    first_poll_s: float
    answer_s: float
    init_cpu_s: float  # CPU seconds at the first poll: the init phase
    cpu_s: float
    warm_cpu_s: float
    answers: list[Any]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (every thread).

    The sum of its threads' run time in `/proc/PID/task/*/schedstat` (nanoseconds), unless `/proc/PID/stat`
    (clock ticks, but counting threads that have ended too) says more by over two ticks.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    running = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            running += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    precise = running / 1e9
    return ticks if ticks > precise + 2 / _CLOCK_TICKS else precise


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the killed process's held poll resets its connection: expected


class RuntimeApi:
    """One invocation per process; `run` starts the process, waits for its answer, then ends it."""

    def __init__(self) -> None:
        self._events: list[bytes] = []
        self._pid = 0
        self._first_poll: float | None = None
        self._init_cpu = 0.0
        self._answered = threading.Event()
        self._answers: list[tuple[float, float, Any]] = []
        self._handed_out = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    self._reply(404, b"{}")
                    return
                if api._first_poll is None:
                    api._first_poll = time.perf_counter()
                    api._init_cpu = process_cpu_seconds(api._pid) if api._pid else 0.0
                with api._lock:
                    number, api._handed_out = api._handed_out, api._handed_out + 1
                if number >= len(api._events):  # no next invocation: hold the poll, as for a frozen Lambda
                    time.sleep(120)
                    return
                event = api._events[number]
                self.send_response(200)
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": f"cold-start-{number + 1}",
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                    "Content-Type": "application/json",
                    "Content-Length": str(len(event)),
                }
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self) -> None:
                now = time.perf_counter()
                cpu = process_cpu_seconds(api._pid) if api._pid else 0.0
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/response"):
                    answer: Any = json.loads(body or b"null")
                else:  # an invocation or init error
                    answer = {"error": body.decode(errors="replace")[:2000]}
                with api._lock:
                    api._answers.append((now, cpu, answer))
                    done = len(api._answers) == len(api._events) or "error" in answer
                self._reply(202, b'{"status":"OK"}')
                if done:
                    api._answered.set()

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def run(self, command: list[str], env: dict[str, str], cwd: Path, events: list[dict[str, Any]]) -> ColdRun:
        """Start `command` (the runtime client), hand it the two `events` in turn, and time it to each answer."""
        self._events = [json.dumps(event).encode() for event in events]
        self._first_poll, self._answers, self._handed_out = None, [], 0
        self._answered.clear()
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env={**env, "AWS_LAMBDA_RUNTIME_API": self.address},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._pid = process.pid
        try:
            if not self._answered.wait(120):
                raise RuntimeError("the runtime client did not answer within 120 s")
        finally:
            process.kill()  # a frozen Lambda: what it would do next is not part of the cold start
            _, stderr = process.communicate()
            self._pid = 0
        for _, _, answer in self._answers:
            if isinstance(answer, dict) and "error" in answer:
                raise RuntimeError(f"a run failed: {answer['error']}\n{stderr.decode(errors='replace')[-2000:]}")
        (answered, cpu, _), (_, cpu_again, _) = self._answers[0], self._answers[-1]
        first_poll = (self._first_poll or answered) - started
        answers = [a for _, _, a in self._answers]
        return ColdRun(first_poll, answered - started, self._init_cpu, cpu, cpu_again - cpu, answers)

    def close(self) -> None:
        self._server.shutdown()
