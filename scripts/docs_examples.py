"""The command examples of the docs, taken from real runs: `make docs-examples` rewrites docs/examples/.

    .venv/bin/python scripts/docs_examples.py            # run every example, write docs/examples/*.txt
    .venv/bin/python scripts/docs_examples.py --check    # run them into a scratch folder and compare

Each example is a command line as a user types it, run as a real `order-creator` process against a moto
server on loopback (the route of docs/operating.md: `local`, the worker, orders, the audit, the dead-letter
queue, events, the table), and the file holds the line and what the process printed (stdout and stderr as a
terminal shows them). The pages include the files (pymdownx.snippets), so an example can only say what the
command prints. Port numbers are written as the route's own (5000 for the emulator, 8081 for the Cart API).

The README shows some of them too: a fenced block right after a line `<!-- docs/examples/NAME.txt -->` is
rewritten with that example.

`--check` (and tests/integration/test_docs_examples.py, part of `make test`) runs them all again and compares
with the committed files after `normalise`: what differs from run to run (ports, SQS message ids, random
names, timings, today's date) is blanked on both sides, everything else must be equal. After a change to
what a command prints, run `make docs-examples` and commit docs/examples/.
"""

# ruff: noqa: S603, S106 (it runs this repository's own commands, against an emulator taking any credentials)

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "examples"
BIN = Path(sys.executable).parent  # the venv's bin: order-creator and moto_server
SHOWN_MOTO_PORT, SHOWN_CART_PORT = 5000, 8081
EMAIL = " Jane@EXAMPLE.com "
ORDER = "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"  # jane's order in examples/messages.json
ABSENT_ORDER = "00000000-0000-4000-8000-000000000000"
COMMANDS = (  # every command and group whose --help the operating page shows
    (),
    ("local",),
    ("cart-api",),
    ("worker",),
    ("queue", "send"),
    ("orders",),
    ("orders", "get"),
    ("orders", "list"),
    ("orders", "audit"),
    ("dlq", "inspect"),
    ("dlq", "redrive"),
    ("table", "create"),
    ("table", "migrate"),
    ("events", "show"),
    ("events", "replay"),
)


@dataclass(frozen=True)
class Step:
    """One command line of an example, the exit code it must end with, and words its output must hold."""

    argv: tuple[str, ...]
    exit_code: int = 0
    says: str = ""

    def shown(self) -> str:
        """The line as the reader types it (the exit code printed when it is not 0)."""
        line = shlex.join(("order-creator", *self.argv))
        return f'{line}; echo "exit $?"' if self.exit_code else line


class Runner:
    """Runs steps as real processes in one environment and collects each example's text."""

    def __init__(self, env: dict[str, str], shown: dict[str, str], cwd: Path = ROOT) -> None:
        self.env = env
        self.cwd = cwd  # where the commands run (and leave files such as a migration's state)
        self.shown = shown  # what to write instead of what (the real ports as the route's)
        self.examples: dict[str, str] = {}

    def run(self, step: Step) -> str:
        """Run one step; its line and output as a terminal shows them. Raises when it ends otherwise."""
        done = subprocess.run(
            [str(BIN / "order-creator"), *step.argv],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream, in the order a terminal shows them (unbuffered)
            text=True,
            timeout=180,
            check=False,
        )
        output = done.stdout
        if done.returncode != step.exit_code or step.says not in output:
            raise RuntimeError(
                f"{step.shown()}: exit {done.returncode} (wanted {step.exit_code}), wanted {step.says!r} in:\n{output}"
            )
        text = f"$ {step.shown()}\n{output}" + (f"exit {done.returncode}\n" if step.exit_code else "")
        for real, shown in self.shown.items():
            text = text.replace(real, shown)
        return text

    def example(self, name: str, *steps: Step) -> None:
        """Run the steps one after the other; their text is the example `name`."""
        self.examples[name] = "\n".join(self.run(step) for step in steps)


def generate(out: Path) -> list[str]:
    """Run every example; write each to `out/NAME.txt`. Returns the names written."""
    out.mkdir(parents=True, exist_ok=True)
    base = _clean_environment()
    # The help texts and the embedded run need nothing of the route's: they run beside it, each in a thread.
    with ThreadPoolExecutor(max_workers=2) as pool:
        aside = [pool.submit(_help_examples, base), pool.submit(_local_example, base)]
        with _moto_server() as moto_port, tempfile.TemporaryDirectory() as scratch:
            examples = _route_examples(base, moto_port, Path(scratch))
        for future in aside:
            examples |= future.result()
    for name, text in examples.items():
        (out / f"{name}.txt").write_text(text)
    return sorted(examples)


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything AWS or the handler reads, and a fixed terminal width."""
    read = ("AWS_", "DYNAMODB_", "CART_", "DEAD_LETTER_", "EVENT_BUS", "ORDER_NUMBER", "LOG_LEVEL", "POWERTOOLS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(read)}
    return env | {"COLUMNS": "110", "PYTHONUNBUFFERED": "1"}


def _help_examples(env: dict[str, str]) -> dict[str, str]:
    runner = Runner(env, {})
    for command in COMMANDS:
        runner.example("help-" + ("-".join(command) or "order-creator"), Step((*command, "--help")))
    return runner.examples


def _local_example(env: dict[str, str]) -> dict[str, str]:
    runner = Runner(env, {str(ROOT): "/path/to/OrderCreatorRecord"})
    runner.example("local", Step(("local",), says="every message ended where expected"))
    return runner.examples


def _route_examples(base: dict[str, str], moto_port: int, cwd: Path) -> dict[str, str]:
    """The route of docs/operating.md on an emulator of one's own: the data stays between commands."""
    endpoint = f"http://127.0.0.1:{moto_port}"
    queue, dlq, target = (f"{endpoint}/123456789012/demo{suffix}" for suffix in ("", "-dlq", "-target"))
    env = base | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    shown = {str(ROOT): "/path/to/OrderCreatorRecord", f":{moto_port}": f":{SHOWN_MOTO_PORT}"}
    runner = Runner(env, shown, cwd)
    runner.example("route-local", Step(("local", "--name", "demo"), says="every message ended where expected"))
    with _cart_api() as (cart_port, cart_lines):
        runner.shown[f":{cart_port}"] = f":{SHOWN_CART_PORT}"
        runner.examples["route-cart-api"] = _shown_cart_api(runner, cart_lines)
        runner.env |= {
            "DYNAMODB_TABLE_NAME": "demo",
            "CART_LAMBDA_API_URL": f"http://127.0.0.1:{cart_port}/v1.0",
            "CART_API_TIMEOUT_SECONDS": "1",
            "CART_API_MAX_RETRIES": "1",
            "DEAD_LETTER_QUEUE_URL": dlq,
            "LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        _orders_examples(runner, queue)
        _dlq_examples(runner, queue)
        _events_examples(runner, target)
        _audit_examples(runner, endpoint)
        _nightly_audit_example(runner)
        _table_examples(runner, endpoint)
    return runner.examples


def _shown_cart_api(runner: Runner, lines: list[str]) -> str:
    text = "$ order-creator cart-api --port 8081 &\n" + "".join(lines)
    for real, shown in runner.shown.items():
        text = text.replace(real, shown)
    return text


def _orders_examples(runner: Runner, queue: str) -> None:
    runner.example("route-queue-send", Step(("queue", "send", "--queue-url", queue)))
    runner.example(
        "route-worker", Step(("worker", "--queue-url", queue, "--until-empty"), says="stopped (queue empty)")
    )
    runner.example("orders-list", Step(("orders", "list", "--tenant", "acme")))
    runner.example(
        "orders-list-page",
        Step(("orders", "list", "--tenant", "acme", "--from", "2025-12-30", "--to", "2025-12-30", "--limit", "2")),
    )
    first_page = runner.examples["orders-list-page"]
    cursor = re.search(r"--after (\S+)", first_page)
    if cursor is None:
        raise RuntimeError(f"no cursor in:\n{first_page}")
    runner.examples["orders-list-page"] += "\n" + runner.run(
        Step(("orders", "list", "--tenant", "acme", "--from", "2025-12-30", "--to", "2025-12-30", "--after", cursor[1]))
    )
    runner.example("orders-list-status", Step(("orders", "list", "--tenant", "acme", "--status", "PAID", "--json")))
    runner.example("orders-list-email", Step(("orders", "list", "--tenant", "acme", "--email", EMAIL)))
    runner.example("orders-get", Step(("orders", "get", ORDER.upper())))
    runner.example("orders-get-json", Step(("orders", "get", ORDER, "--json")))
    runner.example("orders-get-absent", Step(("orders", "get", ABSENT_ORDER), exit_code=1))
    runner.example("error-missing-table", Step(("orders", "list", "--tenant", "acme", "--table", "nope"), exit_code=2))


def _dlq_examples(runner: Runner, queue: str) -> None:
    runner.example("dlq-inspect", Step(("dlq", "inspect")))
    runner.example("dlq-inspect-json", Step(("dlq", "inspect", "--max", "1", "--json")))
    runner.example(
        "dlq-redrive",
        Step(("dlq", "redrive")),
        Step(("worker", "--queue-url", queue, "--until-empty"), says="stopped (queue empty)"),
    )


def _events_examples(runner: Runner, target: str) -> None:
    runner.example("events-show", Step(("events", "show", "--queue-url", target)))
    runner.example("events-show-json", Step(("events", "show", "--queue-url", target, "--max", "1", "--json")))
    runner.example(
        "events-replay",
        Step(("events", "replay", "--tenant", "globex", "--from", "2025-12-30", "--to", "2025-12-31", "--bus", "demo")),
    )


def _audit_examples(runner: Runner, endpoint: str) -> None:
    runner.example("audit-tenant", Step(("orders", "audit", "--tenant", "acme")))
    runner.example("audit-json", Step(("orders", "audit", "--from", "2025-12-30", "--to", "2025-12-31", "--json")))
    # Damage, as a bug or a hand would: acme's order number 2 gone, then globex's only counter gone.
    _delete(endpoint, "TENANT#acme", "ORDER#8c4e2a51-3b7d-4f0e-a1c9-5d6f7e8a9b01")
    runner.example(
        "audit-missing",
        Step(("orders", "audit", "--tenant", "acme", "--from", "2025-12-30", "--to", "2025-12-30"), exit_code=1),
    )
    _delete(endpoint, "COUNTER#globex", "ORDER_NUMBER#20251230")
    days = ("--from", "2025-12-30", "--to", "2025-12-30")
    runner.example(
        "audit-deep",
        Step(("orders", "audit", "--tenant", "globex", *days), exit_code=1),
        Step(("orders", "audit", *days), exit_code=1),
        Step(("orders", "audit", *days, "--deep"), exit_code=1),
    )


# The nightly audit's handler, invoked as Lambda would with a scheduled event naming the day (a Lambda
# context of its own: the function's name is the stack's).
NIGHTLY_AUDIT = """\
import json
from types import SimpleNamespace
from order_creator.audit import lambda_handler
context = SimpleNamespace(function_name="order-creator-dev-audit", memory_limit_in_mb=256, aws_request_id="5f1b...",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:order-creator-dev-audit")
print(json.dumps(lambda_handler({"day": "2025-12-30"}, context)))
"""


def _nightly_audit_example(runner: Runner) -> None:
    """What the nightly audit logs, emits and returns, run on the route's table as Lambda runs it."""
    env = {k: v for k, v in runner.env.items() if k not in ("LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED")}
    done = subprocess.run(
        [sys.executable, "-c", NIGHTLY_AUDIT],
        env=env,
        cwd=runner.cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 or '"failedTenants": ["acme"]' not in done.stdout:
        raise RuntimeError(f"the nightly audit: exit {done.returncode}:\n{done.stdout}\n{done.stderr}")
    runner.examples["nightly-audit"] = done.stdout + done.stderr


def _table_examples(runner: Runner, endpoint: str) -> None:
    runner.example("table-create", Step(("table", "create", "--table", "orders-dev")))
    # Orders written before the customer index existed: the same items without its keys.
    for order in ("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "b7c8d9e0-f1a2-4b3c-9d4e-5f6a7b8c9d0e"):
        _update(endpoint, "TENANT#globex", f"ORDER#{order}", "REMOVE GSI3_PK, GSI3_SK")
    email = ("orders", "list", "--tenant", "globex", "--email", "ops@globex.example")
    runner.example(
        "table-migrate",
        Step(email),
        Step(("table", "migrate", "--max-wcu", "50"), says="keyed 2 orders"),
        Step(("table", "migrate")),
        Step(email, says="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
    )


def _delete(endpoint: str, pk: str, sk: str) -> None:
    _dynamodb(endpoint).delete_item(TableName="demo", Key={"PK": {"S": pk}, "SK": {"S": sk}})


def _update(endpoint: str, pk: str, sk: str, expression: str) -> None:
    _dynamodb(endpoint).update_item(
        TableName="demo", Key={"PK": {"S": pk}, "SK": {"S": sk}}, UpdateExpression=expression
    )


def _dynamodb(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@contextmanager
def _moto_server() -> Iterator[int]:
    """A moto server of one's own (`moto_server -p PORT`), as the route starts it; yields its port."""
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def _cart_api() -> Iterator[tuple[int, list[str]]]:
    """`order-creator cart-api --port 0` in the background; yields its port and the lines it printed."""
    server = subprocess.Popen(
        [str(BIN / "order-creator"), "cart-api", "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_environment(),
    )
    try:
        assert server.stderr is not None
        lines = [server.stderr.readline() for _ in range(3)]
        found = re.search(r"127\.0\.0\.1:(\d+)", lines[0])
        if found is None:
            raise RuntimeError(f"cart-api printed: {lines}")
        # It was started on port 0; the page shows --port 8081, so the line says 8081 too.
        lines = [line.replace(str(ROOT), "/path/to/OrderCreatorRecord") for line in lines]
        yield int(found[1]), lines
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port} after {timeout:g} s")


# comparing ------------------------------------------------------------------------------------------

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)


def normalise(text: str, days: set[str]) -> str:
    """`text` with what differs between two runs of the same commands blanked: ports, random names, SQS
    message ids and receipt handles, durations, cursors, and any of `days` (the days the run was made on,
    `YYYY-MM-DD`), which the message without `dateCreated` takes as its own."""
    known = set(re.findall(_UUID, (ROOT / "examples" / "messages.json").read_text()))
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"orders-local-[0-9a-f]{8}", "orders-local-NAME", text)
    text = _UUID.sub(lambda m: m[0] if m[0].lower() in known else "UUID", text)
    text = re.sub(r"(?m)^[0-9a-f]{8}(?=  )", "MESSAGE", text)  # local's MESSAGE column: an SQS id's start
    text = re.sub(r"message [0-9a-f]{8}\b", "message MESSAGE", text)
    text = re.sub(r"\d+(\.\d+)? (s|ms)\b", r"N \2", text)
    text = re.sub(r"--after \S+", "--after CURSOR", text)
    text = re.sub(r'"sentTimestamp": \d+', '"sentTimestamp": N', text)
    text = re.sub(r'"(location|timestamp|Timestamp|cold_start|xray_trace_id)": ?("[^"]*"|\w+)', r'"\1": X', text)
    for day in days:
        text = re.sub(rf"{day}T[0-9:.]+(Z|[+-]\d\d:\d\d)?", "TODAYTIME", text)
        text = text.replace(day, "TODAY").replace(day.replace("-", ""), "TODAY")
    return text


def _days_around(moment: datetime) -> set[str]:
    return {(moment + timedelta(days=d)).date().isoformat() for d in (-1, 0, 1)}


def check(committed: Path) -> list[str]:
    """Run every example again; the differences from the committed files (a unified diff per file), if any."""
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        names = generate(fresh)
        days = _days_around(started) | _days_around(datetime.now(UTC)) | _generated_days(committed)
        problems = []
        for name in names:
            old = committed / f"{name}.txt"
            if not old.exists():
                problems.append(f"{old.relative_to(ROOT)} is missing")
                continue
            want = normalise(old.read_text(), days).splitlines(keepends=True)
            got = normalise((fresh / f"{name}.txt").read_text(), days).splitlines(keepends=True)
            if want != got:
                problems.append("".join(difflib.unified_diff(want, got, f"committed {name}", f"now {name}")))
        stale = sorted({p.stem for p in committed.glob("*.txt")} - set(names))
        problems += [f"{committed.relative_to(ROOT)}/{name}.txt is no example any more" for name in stale]
        return problems + _readme_problems(fresh, days)


_README_BLOCK = re.compile(r"(<!-- docs/examples/([\w-]+)\.txt -->\n```text\n)(.*?)(```)", re.DOTALL)


def fill_readme(readme: str, examples: Path) -> str:
    """`readme` with every block marked `<!-- docs/examples/NAME.txt -->` holding that example."""
    return _README_BLOCK.sub(lambda m: m[1] + (examples / f"{m[2]}.txt").read_text() + m[4], readme)


def _readme_problems(fresh: Path, days: set[str]) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    want = normalise(readme, days).splitlines(keepends=True)
    got = normalise(fill_readme(readme, fresh), days).splitlines(keepends=True)
    return [] if want == got else ["".join(difflib.unified_diff(want, got, "committed README.md", "now README.md"))]


def _generated_days(folder: Path) -> set[str]:
    """The days the committed examples were made on (their own file says when)."""
    stamp = folder / "generated.json"
    if not stamp.exists():
        return set()
    return _days_around(datetime.fromisoformat(json.loads(stamp.read_text())["at"]))


def main() -> int:
    """Write docs/examples/ (or, with --check, compare a fresh run with it): exit 1 when they differ."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with docs/examples/ instead of writing it")
    args = parser.parse_args()
    if args.check:
        problems = check(OUT)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("the docs' examples are stale: run `make docs-examples` and commit docs/examples/", file=sys.stderr)
        return 1 if problems else 0
    started = datetime.now(UTC)
    names = generate(OUT)
    readme = ROOT / "README.md"
    readme.write_text(fill_readme(readme.read_text(), OUT))
    (OUT / "generated.json").write_text(json.dumps({"at": started.isoformat(timespec="seconds")}) + "\n")
    print(f"wrote {len(names)} examples to {OUT.relative_to(ROOT)}/ and README.md's", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
