"""A cold start as Lambda pays it: a fresh `python -m awslambdaric HANDLER` against a local Lambda Runtime API.

`measure_cold` times the handler as the image is built (the Dockerfile's layout: botocore's data slimmed, bytecode
compiled) against one yardstick: the same runtime client serving a handler that only imports boto3 and creates a
DynamoDB client at init, what every Python Lambda that talks to DynamoDB pays before its first answer.

`RuntimeApi` serves what the runtime client uses of Lambda's Runtime API: the next event (then a held poll, as
between invocations), the answer. The process's CPU time is read from /proc when each answer arrives: a Lambda is
frozen after its answer, so its exit is not counted. The second event measures the same work warm.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

YARDSTICK = '''"""The yardstick: import boto3 and create a DynamoDB client, at init."""
import boto3

client = boto3.session.Session().client("dynamodb")


def handler(event, context):
    return {"batchItemFailures": []}
'''


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, every thread: their run time in /proc/PID/task/*/schedstat, unless
    /proc/PID/stat (in clock ticks, but counting the threads that ended too) says more by over two ticks."""
    running = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            running += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    fields, tick = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split(), 1 / os.sysconf("SC_CLK_TCK")
    ticks = (int(fields[11]) + int(fields[12])) * tick
    return ticks if ticks > running / 1e9 + 2 * tick else running / 1e9


class RuntimeApi(ThreadingHTTPServer):
    """Hands `events` to one process in turn; `answers` gets (seconds since start, CPU seconds, answer) for each."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[bytes] = []
        self.answers: list[tuple[float, float, Any]] = []
        self.pid, self.started, self.handed_out = 0, 0.0, 0
        self.answered = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the killed process's held poll resets its connection: expected

    def run(self, command: list[str], env: dict[str, str], cwd: Path, events: list[Any]) -> list[tuple[float, float]]:
        """Start `command`, hand it `events` in turn, end it after the last answer: (seconds, CPU) at each."""
        host, port = self.server_address[:2]
        self.events, self.answers, self.handed_out = [json.dumps(e).encode() for e in events], [], 0
        self.answered.clear()
        self.started = time.perf_counter()
        env = {**env, "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}"}
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = process.pid
        try:
            if not self.answered.wait(120):
                raise RuntimeError("the runtime client did not answer within 120 s")
        finally:
            process.kill()  # a frozen Lambda: what it would do next is not part of the cold start
            stderr = process.communicate()[1].decode(errors="replace")
        if any(answer != {"batchItemFailures": []} for _, _, answer in self.answers):
            raise RuntimeError(f"a run failed: {self.answers}\n{stderr[-2000:]}")
        return [(seconds, cpu) for seconds, cpu, _ in self.answers]


class _Handler(BaseHTTPRequestHandler):
    server: RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        api = self.server
        number, api.handed_out = api.handed_out, api.handed_out + 1
        if number >= len(api.events):  # no next invocation: hold the poll, as for a frozen Lambda
            time.sleep(120)
            return
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"cold-start-{number + 1}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:b")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(api.events[number])))
        self.end_headers()
        self.wfile.write(api.events[number])

    def do_POST(self) -> None:
        api = self.server
        seconds, cpu = time.perf_counter() - api.started, process_cpu_seconds(api.pid)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = json.loads(body or b"null") if self.path.endswith("/response") else {"error": body.decode()[:2000]}
        api.answers.append((seconds, cpu, answer))
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        if len(api.answers) == len(api.events) or "error" in answer:
            api.answered.set()


def _task_root(scratch: Path, python: str, package: Path | None) -> Path:
    """A stand-in for /var/task as the Dockerfile lays it out (the yardstick's module instead of the package)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from slim_botocore import IMAGE_SERVICES, slim  # the Dockerfile's own step

    root = scratch / ("image" if package else "yardstick")
    root.mkdir()
    if package is None:
        (root / "yardstick.py").write_text(YARDSTICK)
    else:
        shutil.copytree(package, root / "order_creator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        find = "import botocore, os; print(os.path.dirname(botocore.__file__))"
        botocore = subprocess.run([python, "-c", find], check=True, capture_output=True, text=True).stdout.strip()
        shutil.copytree(botocore, root / "botocore")  # first on sys.path: shadows the venv's, as in the image
        slim(root, IMAGE_SERVICES)
    compileall = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(root)]
    subprocess.run([python, *compileall], check=True)
    return root


def measure_cold(python: str, package: Path, env: dict[str, str], reps: int, event: Any) -> dict[str, Any]:
    """Median milliseconds (CPU and wall, to the first answer; CPU of the same batch warm) of `reps` fresh
    processes of each, interleaved. `python`: a venv of requirements.txt and awslambdaric only; `event()` makes an
    SQS event of one message."""
    lambda_env = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    lambda_env.update(
        PYTHONDONTWRITEBYTECODE="1",  # /var/task is read-only: nothing compiled at run time is kept
        POWERTOOLS_TRACE_DISABLED="true",
        LAMBDA_TASK_ROOT="/var/task",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/order-creator-bench-dlq",
    )
    api, runs = RuntimeApi(), {"image": [], "yardstick": []}
    with tempfile.TemporaryDirectory(prefix="cold-") as scratch:
        roots = {
            "image": (_task_root(Path(scratch), python, package), "order_creator.handler.lambda_handler"),
            "yardstick": (_task_root(Path(scratch), python, None), "yardstick.handler"),
        }
        for rep in range(reps):
            for name in list(roots) if rep % 2 == 0 else list(roots)[::-1]:
                root, command = roots[name][0], [python, "-m", "awslambdaric", roots[name][1]]
                runs[name].append(api.run(command, lambda_env, root, [event(), event()]))
    api.shutdown()
    figures: dict[str, Any] = {"reps": reps}
    for name, done in runs.items():
        figures[name] = {
            "cpu_ms": 1000 * statistics.median(cold[1] for cold, _ in done),
            "wall_ms": 1000 * statistics.median(cold[0] for cold, _ in done),
            "warm_cpu_ms": 1000 * statistics.median(warm[1] - cold[1] for cold, warm in done),
        }
    figures["cpu_ratio"] = figures["image"]["cpu_ms"] / figures["yardstick"]["cpu_ms"]
    figures["wall_ratio"] = figures["image"]["wall_ms"] / figures["yardstick"]["wall_ms"]
    return figures
