"""`make bench`, part two: the current tree against a reference commit, side by side in one run, by one meter.

    .venv/bin/python bench/versus.py [--reference REV] [--quick] [--out docs/benchmarks.md]
    .venv/bin/python bench/versus.py --warm-only N [--reference HEAD]   # a change against a commit, in a minute

The reference is checked out with `git worktree add --detach` (removed at the end) and imported from there
(`bench/warm.py SRC_DIR` puts that tree first on `sys.path` and checks where `order_creator` came from); the
current tree is imported from `src/`. Both use this venv's packages and the same servers (`bench/servers.py`:
a single-threaded moto server behind a proxy that delays each DynamoDB request, a Cart API that delays each
answer). Measured:

1. warm CPU and time per batch (1, 10 and 100 orders of one tenant, 10 orders of ten), the two sides
   interleaved batch by batch, each batch on an empty table, each checked to be numbered 1..N;
2. the batch time against the physical limit (one Cart API round trip plus one transaction), moto's own time
   (timed by the proxy) taken out;
3. a profile (pyinstrument) of the current tree's warm batches of ten;
4. the cold start as Lambda pays it: a fresh `python -m awslambdaric order_creator.handler.lambda_handler`
   from a venv of `requirements.txt` and the runtime client only (`bench/requirements-lambda.txt`), timed to
   its first answer by a local Runtime API (`bench/lambda_runtime.py`), with the package's bytecode compiled
   beforehand (as the Dockerfile does) and without (what a read-only /var/task costs otherwise), against the
   same runtime client serving a handler that only imports boto3 and creates a DynamoDB client.

Writes its section of `docs/benchmarks.md`, between its markers, leaving the rest of the file as it is.
`--warm-only N` measures only 1 and 2 for batches of ten of one tenant, N a side, prints them and writes
nothing: the quick way to measure one step of a change against the commit before it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_runtime import ColdRun, RuntimeApi
from report import machine, ms, table, write_blocks
from run import QUIET, Servers, batch_event, check_gapless, counts_since, new_tenants, proxy_counts, reset_table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "scripts"))
from slim_botocore import IMAGE_SERVICES, slim  # noqa: E402  (the Dockerfile's own step)

REFERENCE = "440f0be"  # main's head before the work of issue 12
LAMBDA_VENV = ROOT / ".venv-lambda"
VCPU = {256: 256 / 1769, 512: 512 / 1769}  # Lambda: one vCPU at 1,769 MB, CPU in proportion to memory
SIDES = ("reference", "current")
med = statistics.median


@dataclass
class Plan:
    shapes: tuple[tuple[int, int, int], ...]  # (batch size, tenants, repetitions of each side)
    profile_batches: int
    cold_reps: int
    cost_rounds: int = 7
    cost_calls: int = 200


FULL = Plan(((1, 1, 30), (10, 1, 30), (10, 10, 12), (100, 1, 8)), profile_batches=30, cold_reps=12)
QUICK = Plan(((1, 1, 3), (10, 1, 3), (100, 1, 1)), profile_batches=3, cold_reps=1, cost_rounds=1, cost_calls=20)


@dataclass
class Shape:
    size: int
    tenants: int
    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    moto: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)


class Warm:
    """A `bench/warm.py` process: one side, warm."""

    def __init__(self, source: Path, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(BENCH / "warm.py"), str(source)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.file = self._ask(None)["file"]

    def _ask(self, command: dict[str, Any] | None) -> dict[str, Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        if command is not None:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("a warm worker died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._ask({"event": event})

    def profile(self, events: list[dict[str, Any]], out: Path) -> float:
        return float(self._ask({"profile": events, "out": str(out)})["wall_s"])

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


# 1, 2: warm, side by side -------------------------------------------------------------------------------------


def run_warm(plan: Plan, workers: dict[str, Warm], direct: Any, proxy: str) -> list[Shape]:
    shapes = []
    for size, tenant_count, reps in plan.shapes:
        shape = Shape(size, tenant_count)
        for rep in range(reps):
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:  # neither side always goes first
                tenants = new_tenants(tenant_count, f"{side[0]}{size}x{tenant_count}")
                event = batch_event(tenants, size)
                reset_table(direct)
                before = proxy_counts(proxy)
                answer = workers[side].handle(event)
                _, moto_seconds, _ = counts_since(before, proxy_counts(proxy))
                shape.wall[side].append(answer["wall_s"])
                shape.cpu[side].append(answer["cpu_s"])
                shape.moto[side].append(moto_seconds)
                if answer["failures"]:
                    shape.problems.append(f"{side}: {answer['failures']} failures in a batch")
                for tenant in tenants:
                    expected = sum(1 for r in event["Records"] if f'"{tenant}"' in r["body"])
                    if (problem := check_gapless(direct, tenant, expected, seed=False)) is not None:
                        shape.problems.append(f"{side}: {problem}")
        ref, cur = (med(shape.cpu[s]) / size * 1000 for s in SIDES)
        print(f"  batch {size:>3} x {tenant_count:>2}: CPU/order {ref:.2f} → {cur:.2f} ms", file=sys.stderr)
        shapes.append(shape)
    return shapes


def print_warm(shapes: list[Shape]) -> None:
    """`--warm-only`: each side's median CPU per order and batch time less moto, and their ratios."""
    for shape in shapes:
        cpu = {side: med(shape.cpu[side]) / shape.size * 1000 for side in SIDES}
        less = {side: (med(shape.wall[side]) - statistics.mean(shape.moto[side])) * 1000 for side in SIDES}
        print(f"batch {shape.size} x {shape.tenants}, n = {len(shape.cpu['current'])} a side", *shape.problems)
        for side in SIDES:
            print(f"  {side:9}  CPU per order {cpu[side]:.3f} ms   batch less moto {less[side]:.1f} ms")
        ratios = (cpu["current"] / cpu["reference"], less["current"] / less["reference"])
        print("  current ÷ reference: CPU {:.3f}, time {:.3f}".format(*ratios))


def stored_order_bytes(direct: Any) -> int:
    """The size of one stored order item (three cart lines) by DynamoDB's rules (`bench/meter.py`)."""
    from meter import item_size

    page = direct.scan(
        TableName=QUIET["DYNAMODB_TABLE_NAME"],
        FilterExpression="entityType = :o",
        ExpressionAttributeValues={":o": {"S": "ORDER"}},
    )
    return item_size(page["Items"][0]) if page["Items"] else 0


def run_cart_costs(cart_url: str, rounds: int, calls: int) -> dict[str, float]:
    """CPU microseconds per call, in this process, of what the Cart API path does per order: the current
    `CartService.get_cart` (urllib3 with the adapter's deadline, size and retry rules), the same GET through a bare
    urllib3 pool plus the same parsing, and
    the parsing alone (`load_json` + `parse_cart`); and `parse_message` for a message. Median of `rounds`."""
    import urllib3
    from tests.factories import message

    from order_creator.cart import CartService
    from order_creator.models import load_json, parse_cart, parse_message
    from order_creator.settings import Settings

    tenant = new_tenants(1, "costs")[0]
    service = CartService(Settings.from_env({"DYNAMODB_TABLE_NAME": "orders", "CART_LAMBDA_API_URL": cart_url}))
    pool = urllib3.PoolManager(maxsize=16)
    url = f"{cart_url}/carts/cart-1?tenantId={tenant}"
    body = pool.request("GET", url, headers={"Accept": "application/json"}).data
    text = json.dumps(message(tenant, "cart-1"))
    work = {
        "`CartService.get_cart` (its urllib3 pool, then parse)": lambda: service.get_cart(tenant, "cart-1"),
        "the same GET through a bare urllib3 pool, then the same parse": lambda: parse_cart(
            load_json(pool.request("GET", url, headers={"Accept": "application/json"}).data)
        ),
        "parse the cart alone (`load_json` + `parse_cart`)": lambda: parse_cart(load_json(body)),
        "parse a message (`parse_message`)": lambda: parse_message(text),
    }
    seconds: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, call in work.items():
            for _ in range(10):
                call()
            tick = time.process_time()
            for _ in range(calls):
                call()
            seconds[name].append((time.process_time() - tick) / calls)
    return {name: med(values) for name, values in seconds.items()}


# 3: the profile -------------------------------------------------------------------------------------------------

# Where a sample's time belongs: blocked in one of these built-ins, waiting; else the first package (from the
# leaf up) that names it.
_WAITING = "waiting (blocked on a socket or a lock: moto, the Cart API)"
_BLOCKING = {"recv_into", "recv", "select", "poll", "acquire", "wait", "sleep", "connect", "sendall", "send"}
_GROUPS = (
    ("botocore: build, serialise, sign, send, parse (with its HTTP)", ("botocore/",)),
    ("boto3 TypeSerializer / TypeDeserializer", ("boto3/dynamodb/types.py",)),
    ("the Cart API client (order_creator/cart.py on urllib3 + http.client)", ("order_creator/cart.py",)),
    ("pydantic (validation, construction, dumps)", ("pydantic/", "pydantic_core/")),
    ("json and Decimal", ("json/", "decimal.py", "_pydecimal.py")),
    ("Powertools (logger, metrics)", ("aws_lambda_powertools/",)),
    ("order_creator (own code)", ("order_creator/",)),
)
_HTTP = ("urllib3/", "http/client.py", "email/", "socket.py", "ssl.py", "selectors.py")  # belongs to its caller


def summarise_profile(path: Path, batches: int) -> tuple[list[tuple[str, float]], list[tuple[str, str, float]]]:
    """Self time per group (ms per batch), and the functions with the most self time."""
    from pyinstrument.session import Session

    session = Session.load(str(path))
    totals: dict[str, float] = defaultdict(float)
    root = session.root_frame()
    stack = [root] if root else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        own = frame.time - sum(child.time for child in frame.children)
        if own <= 0:
            continue
        totals[_group(frame)] += own
    per_batch = sorted(((name, seconds / batches) for name, seconds in totals.items()), key=lambda kv: -kv[1])
    return per_batch, _heaviest(root, batches)


def _heaviest(root: Any, batches: int, count: int = 15) -> list[tuple[str, str, float]]:
    """The functions with the most self time that is not waiting: (function, group, ms per batch)."""
    own: dict[tuple[str, str], float] = defaultdict(float)
    stack = [root] if root else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        seconds = frame.time - sum(child.time for child in frame.children)
        group = _group(frame)
        if seconds <= 0 or group == _WAITING:
            continue
        named = frame.parent if frame.function == "[self]" and frame.parent is not None else frame
        where = (named.file_path or "").replace("\\", "/").split("site-packages/")[-1].split("/src/")[-1]
        own[(f"`{named.function}` ({where.rsplit('/', 2)[-2:][0] if '/' in where else where})", group)] += seconds
    top = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [(name, group, seconds / batches) for (name, group), seconds in top]


def _group(frame: Any) -> str:
    if frame.function == "[self]" and frame.parent is not None:  # pyinstrument's synthetic frame of self time
        frame = frame.parent
    if (frame.function or "").rsplit(".", 1)[-1] in _BLOCKING and not (frame.file_path or "").endswith(".py"):
        return _WAITING
    node = frame
    while node is not None:
        path = (node.file_path or "").replace("\\", "/")
        if not any(marker in path for marker in _HTTP):
            for name, markers in _GROUPS:
                if any(marker in path for marker in markers):
                    return name
        node = node.parent
    return "other (interpreter, standard library)"


# 4: cold start ----------------------------------------------------------------------------------------------------

YARDSTICK = '''"""The yardstick every DynamoDB Lambda pays: import boto3 and create a DynamoDB client, at init."""
import boto3

client = boto3.session.Session().client("dynamodb")


def handler(event, context):
    return {"batchItemFailures": []}
'''


def botocore_package() -> str:
    """Where the Lambda venv's botocore is (the image's version: both install requirements.txt)."""
    code = "import botocore, os; print(os.path.dirname(botocore.__file__))"
    return subprocess.run(
        [str(LAMBDA_VENV / "bin/python"), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def task_root(scratch: Path, name: str, package: Path | None, compiled: bool) -> Path:
    """A stand-in for /var/task: the package as the Dockerfile copies it, its bytecode compiled or not."""
    root = scratch / name
    root.mkdir()
    if package is None:
        (root / "yardstick.py").write_text(YARDSTICK)
    else:
        shutil.copytree(package, root / "order_creator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if compiled:  # the Dockerfile's step, same command
        compileall = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(root)]
        subprocess.run([str(LAMBDA_VENV / "bin/python"), *compileall], check=True)
    return root


@dataclass
class Cold:
    runs: dict[str, list[ColdRun]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, str] = field(default_factory=dict)
    compile_s: float = 0.0  # CPU seconds to compile the current package's sources, what source-only pays
    steps: dict[str, float] = field(default_factory=dict)  # CPU seconds of each step of the init (medians)


# The current handler's init, step by step, in the order a cold start meets them (each step's CPU is what it adds to
# the steps before it): what the cold start is made of. boto3 comes last: the yardstick pays it, the handler does not.
_STEPS = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
clock = time.process_time
marks = [("Python itself (interpreter, site)", clock())]
def step(name):
    marks.append((name, clock()))
import awslambdaric.bootstrap
step("the runtime client (awslambdaric)")
import botocore.session
step("botocore")
from order_creator import clients
clients.dynamodb()
step("a DynamoDB client (botocore's service model and endpoint rules)")
from pydantic import BaseModel
step("pydantic: import")
class First(BaseModel):
    field: int
step("pydantic: its schema machinery, loaded by the first model")
from aws_lambda_powertools import Logger, Metrics
step("Powertools (Logger, Metrics)")
import order_creator.models
step("order_creator.models: its eight schemas")
import order_creator.cart, order_creator.store.orders, order_creator.dead_letters, order_creator.handler
step("the rest of order_creator (settings, batch, DAO, Cart API client, handler)")
import boto3
step("boto3 (the yardstick imports it; the handler does not)")
print(json.dumps({marks[0][0]: marks[0][1]} | {name: tick - marks[i][1] for i, (name, tick) in enumerate(marks[1:])}))
"""


def init_steps(root: Path, env: dict[str, str], reps: int) -> dict[str, float]:
    """Median CPU seconds of each of `_STEPS`, each rep a fresh process of the Lambda venv on the task root."""
    python = str(LAMBDA_VENV / "bin/python")
    runs = [
        json.loads(
            subprocess.run(
                [python, "-c", _STEPS, str(root)], env=env, cwd=root, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(reps)
    ]
    return {name: med([run[name] for run in runs]) for name in runs[0]}


_COMPILE = """
import pathlib, sys, time
tick = time.process_time()
for path in pathlib.Path(sys.argv[1]).rglob("*.py"):
    compile(path.read_bytes(), str(path), "exec")
print(time.process_time() - tick)
"""


def compile_seconds(package: Path, reps: int = 5) -> float:
    """CPU seconds the Lambda venv's interpreter takes to compile every module of `package` (median)."""
    python = str(LAMBDA_VENV / "bin/python")
    runs = [
        float(subprocess.run([python, "-c", _COMPILE, str(package)], check=True, capture_output=True, text=True).stdout)
        for _ in range(reps)
    ]
    return med(runs)


def run_cold(plan: Plan, sources: dict[str, Path], env: dict[str, str]) -> Cold:
    cold = Cold()
    python = str(LAMBDA_VENV / "bin/python")
    # No development venv, no editable install: the Lambda venv's interpreter, the task root as working directory
    # (as /var/task is), Lambda's own variables. Tracing off, as the template's default.
    lambda_env = {
        k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV")) and k not in ("PWD", "OLDPWD")
    }
    lambda_env.update(
        PYTHONDONTWRITEBYTECODE="1",  # /var/task is read-only: nothing compiled at run time is kept
        POWERTOOLS_TRACE_DISABLED="true",
        LAMBDA_TASK_ROOT="/var/task",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        # As template.yaml sets it: permanent failures go to the DLQ (none here; the queue is never called).
        DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/order-creator-bench-dlq",
    )
    api = RuntimeApi()
    with tempfile.TemporaryDirectory(prefix="cold-") as tmp:
        scratch = Path(tmp)
        variants: dict[str, tuple[Path, str]] = {
            "boto3+client": (task_root(scratch, "yardstick", None, True), "yardstick.handler"),
        }
        cold.labels["boto3+client"] = "`import boto3`, create a DynamoDB client (the yardstick), bytecode compiled"
        for side in SIDES:
            for compiled in (True, False):
                key = f"{side}, {'compiled' if compiled else 'source only'}"
                root = task_root(
                    scratch, key.replace(", ", "-").replace(" ", "-"), sources[side] / "order_creator", compiled
                )
                variants[key] = (root, "order_creator.handler.lambda_handler")
                cold.labels[key] = f"{side} handler, {'bytecode compiled at build' if compiled else 'source only'}"
        # The image as the Dockerfile builds it: bytecode compiled, botocore's data cut to the handlers' services.
        image = task_root(scratch, "current-image", sources["current"] / "order_creator", True)
        shutil.copytree(Path(botocore_package()), image / "botocore")  # first on sys.path: shadows the venv's
        slim(image, IMAGE_SERVICES)
        variants["current, image"] = (image, "order_creator.handler.lambda_handler")
        cold.labels["current, image"] = (
            "current handler, as the image is built (bytecode compiled, botocore's data slimmed)"
        )
        for rep in range(plan.cold_reps):
            order = list(variants) if rep % 2 == 0 else list(variants)[::-1]
            for key in order:
                root, handler = variants[key]
                events = [batch_event(new_tenants(1, "cold"), 1) for _ in range(2)]
                run = api.run([python, "-m", "awslambdaric", handler], lambda_env, root, events)
                if run.answers != [{"batchItemFailures": []}] * 2:
                    raise RuntimeError(f"cold start {key}: {run.answers}")
                cold.runs[key].append(run)
        cold.steps = init_steps(image, lambda_env, max(plan.cold_reps, 3))
    api.close()
    cold.compile_s = compile_seconds(sources["current"] / "order_creator")
    return cold


# the report ---------------------------------------------------------------------------------------------------------


def render(
    args: argparse.Namespace, info: dict[str, str], files: dict[str, str], shapes: list[Shape], **parts: Any
) -> list[str]:
    problems = [p for s in shapes for p in s.problems]
    checks = "all passed" if not problems else "PROBLEMS: " + "; ".join(problems)
    lines = [
        "## Reference against current, one run (`bench/versus.py`)",
        "",
        f"- Command: `{args.command}` ({parts['elapsed']:.0f} s for this part). Date: {info['date']}; load average"
        f" at the start: {info['load']}; {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}. The machine is"
        " shared with other sessions' work, so only figures of the same run, side by side, compare.",
        f"- **reference**: `{args.reference}` ({args.reference_subject}), checked out with `git worktree add"
        f" --detach` and imported from there; **current**: this tree. Both run in a warm process of their own"
        " (`bench/warm.py`, the same meter for both), interleaved batch by batch, each batch on an empty table and"
        " checked numbered 1..N afterwards"
        f" ({checks}).",
        f"- Network: {args.dynamodb_delay * 1000:.0f} ms per DynamoDB request, {args.cart_delay * 1000:.0f} ms per"
        " Cart API answer (the servers of part one, each in its own process). `LOG_LEVEL=WARNING`, metrics on.",
        "",
        *_targets(args, shapes, parts["cold"]),
        "### Warm CPU per order",
        "",
        "Median CPU time of the handler's process (every thread) per batch, divided by the batch size. *At 256 MB*:"
        " the same CPU stretched to Lambda's 0.145 vCPU.",
        "",
    ]
    rows = []
    for s in shapes:
        ref, cur = (med(s.cpu[side]) / s.size for side in SIDES)
        rows.append(
            [
                s.size,
                s.tenants,
                len(s.cpu["current"]),
                ms(ref),
                ms(cur),
                f"{cur / ref:.2f}",
                ms(cur * s.size / VCPU[256]),
            ]
        )
    header = ["batch", "tenants", "n", "reference CPU/order", "current CPU/order", "current ÷ reference"]
    lines += [*table([*header, "current CPU per batch at 256 MB"], rows, right=range(7)), ""]
    lines += [
        f"A stored order item (three cart lines, every key of its tree) is {parts['item_bytes']['reference']} bytes"
        f" by DynamoDB's size rules in the reference and {parts['item_bytes']['current']} bytes in the current"
        " tree, whose customer index (contract §4) adds its keys (`bench/meter.py`).",
        "",
    ]

    lines += [
        "### Batch time against the physical limit",
        "",
        f"The limit of a batch: one Cart API round trip ({args.cart_delay * 1000:.0f} ms; the carts are fetched"
        f" together, and the table is read while they are in flight) plus one transaction"
        f" ({args.dynamodb_delay * 1000:.0f} ms): {(args.cart_delay + args.dynamodb_delay) * 1000:.0f} ms."
        " *Less moto*: the median batch time less the mean of moto's own time per batch (timed by the proxy, which"
        " hands moto one request at a time), which DynamoDB does not spend.",
        "",
    ]
    limit = args.cart_delay + args.dynamodb_delay
    rows = []
    for s in shapes:
        for side in SIDES:
            less = med(s.wall[side]) - statistics.mean(s.moto[side])
            rows.append([s.size, s.tenants, side, ms(med(s.wall[side])), ms(statistics.mean(s.moto[side])), ms(less)])
            rows[-1].append(f"{less / limit:.2f}×")
    header = ["batch", "tenants", "side", "median", "moto (mean)", "less moto", "÷ limit"]
    lines += [*table(header, rows, right=(0, 1, 3, 4, 5, 6)), ""]

    per_batch, text = parts["profile"]
    busy = sum(v for k, v in per_batch if k != _WAITING)
    lines += [
        "### Where the current tree's CPU goes",
        "",
        f"pyinstrument, {parts['profile_batches']} warm batches of ten (one tenant) on the undelayed network, the"
        " processor's pool replaced by one that runs each task at once in the calling thread (pyinstrument samples"
        " one thread; the work is the same, only not overlapped). Self time per group, per batch; *waiting* is"
        " time blocked on loopback sockets (moto, the Cart API), not CPU.",
        "",
        *table(
            ["group", "per batch", "share of the busy time"],
            [[name, ms(v), f"{v / busy:.0%}" if name != _WAITING else ""] for name, v in per_batch],
            right=(1, 2),
        ),
        "",
        "The functions with the most self time (not waiting), per batch:",
        "",
        *table(["function (module)", "group", "per batch"], [[n, g, ms(v)] for n, g, v in text], right=(2,)),
        "",
    ]
    costs: dict[str, float] = parts["cart_costs"]
    lines += [
        "### What is left, per order, on the Cart API's path",
        "",
        "CPU per call in one process (the benchmark's), against the same undelayed Cart API, median of rounds of"
        " calls (`run_cart_costs`): what the current adapter spends per cart, what the same GET costs through"
        " a bare urllib3 pool (what the adapter is built on, and botocore too), and the parsing alone.",
        "",
        *table(["per call", "CPU"], [[name, f"{v * 1e6:.0f} µs"] for name, v in costs.items()], right=(1,)),
        "",
    ]
    cold: Cold = parts["cold"]
    base = med([r.cpu_s for r in cold.runs["boto3+client"]])
    base_wall = med([r.answer_s for r in cold.runs["boto3+client"]])
    lines += [
        "### Cold start as Lambda pays it",
        "",
        f"{parts['cold_reps']} fresh processes of each, interleaved: `python -m awslambdaric HANDLER` (awslambdaric"
        f" {parts['ric_version']}, the runtime client of AWS's Python images) from `.venv-lambda` (`requirements.txt`"
        " and the runtime client, nothing else: no development venv, no editable install), working directory a"
        " copy of the package as the Dockerfile lays it out (`/var/task`), `PYTHONDONTWRITEBYTECODE=1` because"
        " `/var/task` is read-only in Lambda. A local Runtime API (`bench/lambda_runtime.py`) hands each process"
        " one SQS event of one message (undelayed network) and times it: *to first poll* is the init phase, *to"
        " answer* the cold start's end; *CPU* is the process's user + system time read from `/proc` when the"
        " answer arrives (a Lambda is frozen after its answer: its exit and idle threads are not counted). A second"
        " event of the same shape then measures the same batch warm, in the same process; *less the warm batch*"
        " is what the cold start adds to the work itself. `DEAD_LETTER_QUEUE_URL` is set, as the template sets it."
        " The yardstick is the same runtime client serving a handler that imports boto3 and creates a DynamoDB"
        " client at init.",
        "",
    ]
    rows = []
    for key, runs in cold.runs.items():
        cpu, wall = med([r.cpu_s for r in runs]), med([r.answer_s for r in runs])
        beyond = med([r.cpu_s - r.warm_cpu_s for r in runs])
        rows.append(
            [
                cold.labels[key],
                ms(med([r.first_poll_s for r in runs])),
                ms(wall),
                ms(med([r.init_cpu_s for r in runs])),
                ms(cpu),
                ms(med([r.warm_cpu_s for r in runs])),
                f"{cpu / base:.2f}",
                f"{beyond / base:.2f}",
                f"{wall / base_wall:.2f}",
            ]
        )
    header = ["process", "to first poll", "to answer", "CPU at first poll", "CPU at the answer"]
    header.append("CPU of the same batch warm")
    header += ["CPU ÷ yardstick", "CPU less the warm batch ÷ yardstick", "wall ÷ yardstick"]
    lines += [
        *table(header, rows, right=range(1, 9)),
        "",
        f"What the source-only rows pay on top, measured alone: compiling every module of the current package takes"
        f" {ms(cold.compile_s)} of CPU in the same interpreter (median of 5; the handler's first answer imports"
        " most of them). That is within the noise of the rows above, and about"
        f" {ms(cold.compile_s / VCPU[256])} of a cold start at 256 MB.",
        "",
        f"Files timed: {files}.",
        "",
        *_cold_steps(cold, base),
    ]
    return lines


def _cold_steps(cold: Cold, base: float) -> list[str]:
    """Where the current handler's cold start goes, step by step, against the yardstick."""
    total = med([r.cpu_s - r.warm_cpu_s for r in cold.runs["current, image"]])
    names = list(cold.steps)
    paid = [name for name in names if not name.startswith("boto3")]
    rest = total - sum(cold.steps[name] for name in paid)
    floor = _pydantic_floor(cold, base)
    pydantic = sum(cold.steps[name] for name in paid if name.startswith("pydantic")) / base

    def row(name: str, seconds: float) -> list[str]:
        return [name, ms(seconds), f"{seconds / base:.2f}"]

    rows = [row(name, cold.steps[name]) for name in paid]
    rows.append(row("the rest: the first batch beyond the same batch warm (its lazy imports, first requests)", rest))
    rows.append(row("**the cold start less the warm batch (the table above)**", total))
    rows += [row(name, cold.steps[name]) for name in names if name not in paid]
    return [
        "### Where the current handler's cold start goes",
        "",
        "The handler's init split into steps, in the order a cold start meets them, each step's CPU being what it"
        " adds to those before it (`_STEPS` in `bench/versus.py`; median of"
        f" {max(len(cold.runs['current, image']), 3)} fresh processes of the Lambda venv on the image's task"
        " root); *the rest* is the cold start of the table above (CPU at the answer less the warm batch) less the"
        " steps, so it also carries the noise between separate processes. Each is set against the yardstick's CPU.",
        "",
        *table(["step", "CPU", "÷ yardstick"], rows, right=(1, 2)),
        "",
        f"Pydantic alone (its import and the schema machinery its first model loads) is {pydantic:.2f}× the"
        " yardstick, before any model of ours. Python, the runtime client, botocore, the DynamoDB client and"
        f" Pydantic come to {floor:.2f}× the yardstick: with Pydantic on the handler's path, the cold start cannot"
        " come under that, whatever the rest costs.",
        "",
    ]


def _pydantic_floor(cold: Cold, base: float) -> float:
    """The init's steps up to and including Pydantic's (Python, runtime client, botocore, client), ÷ the yardstick."""
    names = [name for name in cold.steps if not name.startswith("boto3")]
    last = max(i for i, name in enumerate(names) if name.startswith("pydantic"))
    return sum(cold.steps[name] for name in names[: last + 1]) / base


def _targets(args: argparse.Namespace, shapes: list[Shape], cold: Cold) -> list[str]:
    """Issue 12's targets, each with what this run measured and whether it holds."""
    rows = []
    by_shape = {(s.size, s.tenants): s for s in shapes}
    if (ten := by_shape.get((10, 1))) is not None:
        ratio = med(ten.cpu["current"]) / med(ten.cpu["reference"])
        rows.append(["warm CPU per order, batch of 10, one tenant: ≤ 0.60 of the reference", f"{ratio:.2f}"])
        rows[-1].append("met" if ratio <= 0.60 else "**missed**")
    held = [f"{s.size}×{s.tenants}" for s in shapes if med(s.cpu["current"]) > med(s.cpu["reference"])]
    rows.append(["batches of 1, 10 and 100 improve or hold", "all improve" if not held else f"worse: {held}"])
    rows[-1].append("met" if not held else "**missed**")
    base = med([r.cpu_s for r in cold.runs["boto3+client"]])
    compiled = med([r.cpu_s for r in cold.runs["current, image"]]) / base
    rows.append(["cold start (CPU to the first answer, the image as built) ≤ 1.3× the yardstick", f"{compiled:.2f}×"])
    floor = f" (Python, botocore, a client and Pydantic: {_pydantic_floor(cold, base):.2f}×)"
    rows[-1].append("met" if compiled <= 1.3 else f"**missed**{floor}")
    if ten is not None:
        limit = args.cart_delay + args.dynamodb_delay
        less = med(ten.wall["current"]) - statistics.mean(ten.moto["current"])
        rows.append(["batch of 10, less moto, ≤ 1.15× the limit", f"{less / limit:.2f}×"])
        rows[-1].append("met" if less <= 1.15 * limit else "**missed**")
    return ["### Targets (issue 12)", "", *table(["target", "measured", "verdict"], rows), ""]


# main ----------------------------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default=REFERENCE, help=f"the commit to compare with (default {REFERENCE})")
    parser.add_argument("--quick", action="store_true", help="a few repetitions (a smoke run)")
    parser.add_argument(
        "--out", type=Path, help="the Markdown file to write the section into (default docs/benchmarks.md)"
    )
    parser.add_argument(
        "--warm-only", type=int, metavar="N", help="only the warm batches of ten, N a side; print, write nothing"
    )
    parser.add_argument("--dynamodb-delay", type=float, default=0.010)
    parser.add_argument("--cart-delay", type=float, default=0.050)
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="versus-")) / "benchmarks.md" if args.quick else ROOT / "docs/benchmarks.md"
    )
    args.command = "bench/versus.py (part two of make bench)" if not args.quick else "bench/versus.py --quick"
    args.reference_subject = git("log", "-1", "--format=%h %s", args.reference)[:100]
    if not (LAMBDA_VENV / "bin/python").exists():
        raise SystemExit(f"{LAMBDA_VENV} is missing: `make bench` creates it from bench/requirements-lambda.txt")
    info = machine()
    started = time.perf_counter()
    worktree = Path(tempfile.mkdtemp(prefix="reference-"))
    git("worktree", "add", "--detach", str(worktree), args.reference)
    servers = Servers()
    workers: dict[str, Warm] = {}
    try:
        sources = {"reference": worktree / "src", "current": ROOT / "src"}
        moto = servers.start("moto")["moto"]
        delays = ["--dynamodb-delay", str(args.dynamodb_delay), "--cart-delay", str(args.cart_delay)]
        network = servers.start("network", "--moto-url", moto, *delays)
        bare = servers.start("network", "--moto-url", moto, "--dynamodb-delay", "0", "--cart-delay", "0")
        env = {**os.environ, **QUIET, "AWS_ENDPOINT_URL": network["dynamodb"], "CART_LAMBDA_API_URL": network["cart"]}
        bare_env = {**env, "AWS_ENDPOINT_URL": bare["dynamodb"], "CART_LAMBDA_API_URL": bare["cart"]}
        import boto3

        from order_creator.store.keys import table_definition

        direct = boto3.session.Session(region_name="us-east-1").client(
            "dynamodb", endpoint_url=moto, aws_access_key_id="bench", aws_secret_access_key="bench"
        )
        direct.create_table(**table_definition(QUIET["DYNAMODB_TABLE_NAME"]))
        workers = {side: Warm(sources[side], env) for side in SIDES}
        files = {side: w.file for side, w in workers.items()}
        for _ in range(3):  # connections, lazy imports, the first batch's own work
            for w in workers.values():
                reset_table(direct)
                w.handle(batch_event(new_tenants(1, "warm"), 10))
        print("1/3 warm, side by side", file=sys.stderr)
        if args.warm_only:
            print_warm(run_warm(Plan(((10, 1, args.warm_only),), 0, 0), workers, direct, network["dynamodb"]))
            return
        shapes = run_warm(plan, workers, direct, network["dynamodb"])
        item_bytes = {}
        for side in SIDES:  # each side's own item: the last batch of run_warm may have been either side's
            reset_table(direct)
            workers[side].handle(batch_event(new_tenants(1, "item"), 1))
            item_bytes[side] = stored_order_bytes(direct)
        print("2/3 profile", file=sys.stderr)
        profiler = Warm(sources["current"], bare_env)
        reset_table(direct)
        profiler.handle(batch_event(new_tenants(1, "warm"), 10))
        profile_path = Path(tempfile.mkdtemp(prefix="profile-")) / "current.pyisession"
        profiler.profile([batch_event(new_tenants(1, "prof"), 10) for _ in range(plan.profile_batches)], profile_path)
        profiler.close()
        profile = summarise_profile(profile_path, plan.profile_batches)
        cart_costs = run_cart_costs(bare["cart"], plan.cost_rounds, plan.cost_calls)
        print("3/3 cold start through the runtime client", file=sys.stderr)
        cold = run_cold(plan, sources, bare_env)
    finally:
        for w in workers.values():
            w.close()
        servers.stop()
        git("worktree", "remove", "--force", str(worktree))
    ric_version = subprocess.run(
        [str(LAMBDA_VENV / "bin/python"), "-c", "import awslambdaric; print(awslambdaric.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    section = render(
        args,
        info,
        files,
        shapes,
        profile=profile,
        cart_costs=cart_costs,
        item_bytes=item_bytes,
        profile_batches=plan.profile_batches,
        cold=cold,
        cold_reps=plan.cold_reps,
        ric_version=ric_version,
        elapsed=time.perf_counter() - started,
    )
    write_blocks(out, {"versus": section}, append=True)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
