"""The benchmark's results, and where they go: the figures and tables between the markers of
`docs/benchmarks.md` (`<!-- NAME:begin -->` ... `<!-- NAME:end -->`; `bench/run.py`'s blocks are named
`bench:...`, the other scripts' after themselves). The text around the markers, what the figures mean, is
written by a person."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meter import Tally

LAMBDA_VCPU_AT_256_MB = 256 / 1769  # Lambda: one vCPU at 1,769 MB, CPU in proportion to memory
TARGETS = {"ratio": 5.0, "requests_per_order": 0.25, "cold_ratio": 1.6, "rss_mb": 120.0}
med = statistics.median


@dataclass
class Case:
    side: str  # "project" or "seed"
    size: int
    tenants: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the handler's own CPU time per batch
    orders: int = 0
    tally: Tally = field(default_factory=Tally)  # DynamoDB requests and units, summed over the repetitions
    proxied: int = 0  # requests the proxy forwarded: a check on the botocore count
    moto_seconds: float = 0.0  # the emulator's own time, included in the batch time
    problems: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)  # nearest rank
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def per_order(self, value: float) -> float:
        return value / self.orders if self.orders else float("nan")


@dataclass
class Redelivery:
    side: str
    tally: Tally  # of the second delivery
    orders: tuple[int, int]  # before and after it
    counter: tuple[int, int]
    failures: int


@dataclass
class ColdStart:
    """Seconds per repetition of each process (`boto3`, `client`: `import boto3` and a client; `delayed`, `bare`: the
    handler with and without network delays), by "wall", "cpu", "inner" and "import"."""

    boto3: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    client: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    delayed: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    bare: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Memory:
    project_kib: int
    seed_kib: int
    boto3_kib: int
    batch: int


@dataclass
class Contention:
    workers: int
    orders: int
    seconds: float
    transactions: int
    cancelled: int
    failures: int  # records reported failed (each then redelivered)
    failed_by_type: dict[str, int]  # the handler's error type of each failure, from its log lines
    slowest_batch: float  # seconds, of a deadline of 60
    check: str | None
    proxied: int  # requests, as the proxy counted them
    moto_seconds: float  # moto's own processing time, summed
    abandoned: int  # answers the client had stopped waiting for (its read timeout)


@dataclass
class Results:
    """Everything one run measured, and how it was run."""

    command: str
    sizes: tuple[int, ...]
    delays: tuple[float, float]  # DynamoDB, Cart API (seconds)
    machine: dict[str, str]
    cases: list[Case]
    redeliveries: list[Redelivery]
    cold: ColdStart
    memory: Memory
    contention: Contention
    order_item_bytes: int
    elapsed: float = 0.0

    def case(self, side: str, size: int, tenants: int) -> Case | None:
        return next((c for c in self.cases if (c.side, c.size, c.tenants) == (side, size, tenants)), None)


def machine() -> dict[str, str]:
    """The machine and the moment: CPUs, model, Python, date, load."""
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": models[0] if models else "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write(path: Path, r: Results) -> None:
    """Replace every generated block of the page; a block missing from the page is an error."""
    write_blocks(path, {f"bench:{name}": lines for name, lines in blocks(r).items()})


def write_blocks(path: Path, named: dict[str, list[str]], *, append: bool = False) -> None:
    """Put each block's lines between its markers in the page at `path`, in place of what stood there; the rest
    of the page stays as it is. A block the page lacks is added at its end with `append`, else a ValueError
    (and nothing is written). A page that does not exist yet starts as `# Benchmarks`."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    for name, lines in named.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        block = "\n".join([begin, *lines, end])
        head, _, rest = text.partition(begin)
        if end in rest:
            text = head + block + rest.split(end, 1)[1]
        elif append:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        else:
            raise ValueError(f"{path} has no {begin} ... {end} block")
    path.write_text(text)


def blocks(r: Results) -> dict[str, list[str]]:
    """Every generated block of docs/benchmarks.md, by name."""
    return {
        "run": _run(r),
        "targets": _targets(r),
        "latency": _latency(r),
        "cpu": _cpu(r),
        "requests": _requests(r),
        "redelivery": _redelivery(r),
        "cold": _cold(r.cold),
        "memory": _memory(r),
        "contention": _contention(r),
        "problems": [f"- {c.side} batch {c.size} × {c.tenants}: {p}" for c in r.cases for p in c.problems] or ["None."],
    }


def table(header: list[str], rows: list[list[Any]], right: Iterable[int] = ()) -> list[str]:
    """A Markdown table; the columns whose indexes are in `right` are right-aligned (numbers)."""
    right = set(right)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(align)} |"] + [
        f"| {' | '.join(str(cell) for cell in row)} |" for row in rows
    ]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds * 1000:.0f} ms"


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def without_moto(case: Case) -> float:
    """The median batch time less the emulator's mean own time per batch: an estimate, not a measurement."""
    return case.median - case.moto_seconds / len(case.seconds)


def _operations(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(counts.items()))


def _run(r: Results) -> list[str]:
    m, (dynamodb, cart) = r.machine, r.delays
    checked = "all passed" if not any(c.problems for c in r.cases) else "**some failed** (see the end)"
    return [
        f"- Command: `{r.command}` ({r.elapsed:.0f} s in all).",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['platform']}.",
        f"- Date: {m['date']}. Load average at the start: {m['load']}.",
        f"- Network: {dynamodb * 1000:.0f} ms per DynamoDB request, {cart * 1000:.0f} ms per Cart API answer"
        " (5 ms per DynamoDB request in the contention run).",
        f"- Each tenant's orders numbered exactly 1..N with the counter at N, after every batch: {checked}.",
    ]


def _targets(r: Results) -> list[str]:
    rows = []
    p10, s10 = r.case("project", 10, 1), r.case("seed", 10, 1)
    if p10 and s10:
        ratio, per_order = s10.median / p10.median, p10.per_order(p10.tally.requests)
        rows.append([f"(b)/(a) batch time, batch 10, one tenant: ≥ {TARGETS['ratio']:.0f}×", f"{ratio:.1f}×"])
        rows[-1].append(mark(ratio >= TARGETS["ratio"]))
        rows.append([f"DynamoDB requests per order, batch 10, one tenant: ≤ {TARGETS['requests_per_order']}"])
        rows[-1] += [f"{per_order:.2f} (seed: {s10.per_order(s10.tally.requests):.2f})"]
        rows[-1].append(mark(per_order <= TARGETS["requests_per_order"]))
    again = next(x for x in r.redeliveries if x.side == "project")
    writes, units = again.tally.writes, again.tally.write_units
    rows.append(["redelivered batch: 0 writes", f"{writes} write requests, {units:.0f} write units", mark(not writes)])
    cold = r.cold
    wall, cpu = med(cold.delayed["wall"]) / med(cold.boto3["wall"]), med(cold.bare["cpu"]) / med(cold.boto3["cpu"])
    rows.append([f"cold start to first batch: ≤ {TARGETS['cold_ratio']}× bare `import boto3`"])
    rows[-1] += [f"{wall:.2f}× wall time; without the network delays {cpu:.2f}× CPU time"]
    rows[-1].append(mark(max(wall, cpu) <= TARGETS["cold_ratio"]))  # wall time alone swings with the machine's load
    rss = r.memory.project_kib / 1024
    rows.append(
        [f"peak RSS, batch of {r.memory.batch}: ≤ {TARGETS['rss_mb']:.0f} MB", f"{rss:.0f} MB", mark(rss <= 120)]
    )
    c = r.contention
    rows.append([f"contention: numbers exactly 1..{c.orders}", c.check or "yes", mark(c.check is None)])
    rows.append([f"hot tenant ({c.workers} consumers): records reported failed 0", c.failures, mark(c.failures == 0)])
    return table(["target", "measured", "verdict"], rows)


def _latency(r: Results) -> list[str]:
    rows = []
    for p in (c for c in r.cases if c.side == "project"):
        s = r.case("seed", p.size, p.tenants)
        if s is None:
            continue
        rows.append([p.size, p.tenants, len(p.seconds)])
        for c in (p, s):
            rows[-1] += [ms(c.median), ms(c.p95), f"{c.size / c.median:.1f}", ms(c.moto_seconds / len(c.seconds))]
        rows[-1] += [f"{s.median / p.median:.1f}×", f"{without_moto(s) / without_moto(p):.1f}×"]
    header = ["batch", "tenants", "n", "(a) median", "(a) p95", "(a) orders/s", "(a) moto"]
    header += ["(b) median", "(b) p95", "(b) orders/s", "(b) moto", "(b)/(a)", "(b)/(a) less moto"]
    return table(header, rows, right=range(13))


def _cpu(r: Results) -> list[str]:
    rows = []
    for p in (c for c in r.cases if c.side == "project"):
        s, cpu = r.case("seed", p.size, p.tenants), med(p.cpu_seconds)
        rows.append([p.size, p.tenants, ms(cpu), ms(cpu / p.size), ms(cpu / LAMBDA_VCPU_AT_256_MB)])
        rows[-1] += [ms(med(s.cpu_seconds)), ms(med(s.cpu_seconds) / s.size)] if s else ["", ""]
    header = ["batch", "tenants", "(a) CPU per batch", "(a) per order", "(a) CPU at 256 MB", "(b) CPU per batch"]
    return table([*header, "(b) per order"], rows, right=range(7))


def _requests(r: Results) -> list[str]:
    per_order = [
        (
            c,
            [
                f"{c.per_order(x):.2f}"
                for x in (c.tally.requests, c.tally.http_attempts, c.tally.write_units, c.tally.read_units)
            ],
        )
        for c in r.cases
    ]
    rows = [[c.size, c.tenants, c.side, *figures, _operations(c.tally.operations)] for c, figures in per_order]
    units = max(1, math.ceil(r.order_item_bytes / 1024))
    header = ["batch", "tenants", "side", "requests/order", "HTTP attempts/order", "write units/order"]
    return [
        *table([*header, "read units/order", "requests (all repetitions)"], rows, right=(0, 1, 3, 4, 5, 6)),
        "",
        f"An order item here (three cart lines) is {r.order_item_bytes} bytes by those rules: {units} write unit(s)"
        f" written plainly, {2 * units} in a transaction; a counter item, 1 and 2.",
    ]


def _redelivery(r: Results) -> list[str]:
    rows = [
        [
            x.side,
            f"{x.tally.requests} ({_operations(x.tally.operations)})",
            x.tally.writes,
            f"{x.tally.write_units:.0f}",
            "{} → {}".format(*x.orders),
            "{} → {}".format(*x.counter),
            x.failures,
        ]
        for x in r.redeliveries
    ]
    header = ["side", "requests", "write requests", "write units", "orders", "counter", "failures reported"]
    return table(header, rows, right=(1, 2, 3, 6))


def _cold(cold: ColdStart) -> list[str]:
    floor, cpu_floor, client_floor = med(cold.boto3["wall"]), med(cold.boto3["cpu"]), med(cold.client["wall"])
    processes = {
        '`python -c "import boto3"`': cold.boto3,
        "`import boto3`, create a DynamoDB client": cold.client,
        "import the handler, serve one message": cold.delayed,
        "the same, no network delays": cold.bare,
    }
    rows = []
    for label, v in processes.items():
        wall, cpu, imported = med(v["wall"]), med(v["cpu"]), ms(med(v["import"])) if v.get("import") else ""
        rows.append([label, ms(wall), ms(cpu), ms(med(v["inner"])), imported, f"{wall / floor:.2f}"])
        rows[-1] += [f"{cpu / cpu_floor:.2f}", f"{wall / client_floor:.2f}"]
    header = ["process", "wall", "CPU", "inside", "handler import", "wall ÷ boto3", "CPU ÷ boto3"]
    header.append("wall ÷ boto3+client")
    handler_cpu, client_cpu = med(cold.bare["cpu"]), med(cold.client["cpu"])
    return [
        f"Fresh processes, {len(cold.boto3['wall'])} repetitions of each, interleaved; medians.",
        "",
        *table(header, rows, right=range(1, 8)),
        "",
        f"- The handler's cold start: {ms(handler_cpu)} of CPU here; at 256 MB ({LAMBDA_VCPU_AT_256_MB:.3f} vCPU)"
        f" about {handler_cpu / LAMBDA_VCPU_AT_256_MB:.1f} s; `import boto3` alone about"
        f" {cpu_floor / LAMBDA_VCPU_AT_256_MB:.1f} s.",
        f"- Creating the DynamoDB client: {ms(client_cpu - cpu_floor)} of CPU on top of `import boto3`; against"
        f" `import boto3` plus the client the handler stands at {handler_cpu / client_cpu:.2f}× (CPU).",
    ]


def _memory(r: Results) -> list[str]:
    m = r.memory
    rows = [
        ['`python -c "import boto3"`', f"{m.boto3_kib / 1024:.0f} MB"],
        [f"project: import the handler, one batch of {m.batch}", f"{m.project_kib / 1024:.0f} MB"],
        [f"seed baseline: one batch of {m.batch}", f"{m.seed_kib / 1024:.0f} MB"],
    ]
    return table(["process", "peak RSS"], rows, right=(1,))


def _contention(r: Results) -> list[str]:
    c = r.contention
    row = [c.workers, c.orders, f"{c.seconds:.1f} s", f"{c.orders / c.seconds:.1f}", c.transactions, c.cancelled]
    row += [c.failures, ms(c.slowest_batch), f"{c.moto_seconds:.1f} s ({c.moto_seconds / c.seconds:.0%})"]
    row += [c.proxied, c.abandoned, c.check or "yes"]
    header = ["consumers", "orders", "time", "orders/s", "transactions", "cancelled", "records reported failed"]
    header += ["slowest batch", "moto busy", "requests", "abandoned", "numbers exactly 1..N"]
    by_type = ", ".join(f"{name} {n}" for name, n in sorted(c.failed_by_type.items())) or "none"
    return [*table(header, [row], right=range(11)), "", f"Records reported failed, by error type: {by_type}."]
