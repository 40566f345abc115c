"""The pictures of `make bench`, drawn from the figures of its last run (docs/benchmarks.json) into docs/.

    .venv/bin/python bench/charts.py

benchmarks.png (batch latency against batch size, the headline), bench-cpu.png, bench-capacity.png,
bench-cost.png and bench-contention.png. matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import json
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from common import FIGURES, LAMBDA_GB_S, LAMBDA_REQUEST, ROOT, RRU, SQS_REQUEST, WRU, say

DOCS = ROOT / "docs"
COLOURS = {"project": "#1f77b4", "seed": "#d62728"}
VCPU_256 = 256 / 1769  # Lambda: one vCPU at 1,769 MB, CPU in proportion to memory


def figure(title: str, size: tuple[float, float] = (7.0, 4.2)) -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=size, dpi=110)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    return fig, ax


def finish(fig: Any, name: str, note: str, run: dict[str, Any]) -> None:
    fig.text(0.01, 0.01, f"{note}make bench, {run['when']}.", fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(DOCS / name)
    plt.close(fig)
    say(f"wrote docs/{name}")


def against_size(run: dict[str, Any], key: str, title: str, ylabel: str) -> Any:
    """A figure of `key` of the race's rows against batch size, a line a side; returns its axes."""
    fig, ax = figure(title)
    for side, colour in COLOURS.items():
        rows = [r for r in run["race"] if r["side"] == side]
        ax.plot([r["size"] for r in rows], [r[key] for r in rows], "o-", color=colour, label=side)
    ax.set(xscale="log", xlabel="orders in the batch", ylabel=ylabel)
    ax.set_xticks([1, 5, 10, 25, 50, 100], labels=["1", "5", "10", "25", "50", "100"])
    return fig, ax


def latency(run: dict[str, Any]) -> None:
    fig, ax = against_size(run, "less_moto_ms", "Batch latency against batch size (one tenant)", "batch time, ms")
    ax.set(yscale="log", ylim=(None, 3 * max(r["less_moto_ms"] for r in run["race"])))
    for line in ax.get_lines():
        x, y = line.get_xdata()[-1], line.get_ydata()[-1]
        ax.annotate(f"{y:,.0f} ms", (x, y), textcoords="offset points", xytext=(-10, 8), ha="right", fontsize=8)
    ax.legend(title="moto's own time taken out", fontsize=9)
    finish(fig, "benchmarks.png", "Network: 50 ms per Cart API answer, 10 ms per DynamoDB request. ", run)


def cpu(run: dict[str, Any]) -> None:
    fig, ax = against_size(run, "cpu_ms_per_order", "CPU per order against batch size", "CPU per order, ms (here)")
    ax.set_ylim(0, None)
    right = ax.secondary_yaxis("right", functions=(lambda ms: ms / VCPU_256, lambda ms: ms * VCPU_256))
    right.set_ylabel("the same at 256 MB (0.145 vCPU), ms")
    ax.legend()
    finish(fig, "bench-cpu.png", "CPU of the process handling the batch, every thread. ", run)


def capacity(run: dict[str, Any]) -> None:
    fig, ax = figure("DynamoDB write units per order (ConsumedCapacity)")
    names = {"busy": "busy tenant\n(3 batches of 10)", "ten": "ten tenants\n(1 batch of 10)", "mix": "the mix\n(both)"}
    for i, name in enumerate(names):
        for j, side in enumerate(COLOURS):
            units, x = run["capacity"][side][name], i + (j - 0.5) * 0.36
            ax.bar(x, units["write_table"], 0.34, color=COLOURS[side], label=f"{side}: table" if i == 0 else None)
            ax.bar(x, units["write_index"], 0.34, bottom=units["write_table"], color=COLOURS[side], alpha=0.45,
                   label=f"{side}: indexes" if i == 0 else None)  # fmt: skip
            ax.annotate(f"{units['wru']:.2f}", (x, units["wru"]), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(names)), labels=list(names.values()), fontsize=8)
    ax.set_ylim(0, 1.3 * max(run["capacity"][side][name]["wru"] for side in COLOURS for name in names))
    ax.set_ylabel("write request units per order")
    ax.legend(fontsize=8, ncols=2)
    finish(fig, "bench-capacity.png", "Three-line orders; project table from template.yaml. ", run)


def cost_per_order(run: dict[str, Any], side: str) -> dict[str, float]:
    """$ per order: DynamoDB on demand (the mix), Lambda at 256 MB in batches of ten, SQS (1.2 requests)."""
    units = run["capacity"][side]["mix"]
    ten = next(r for r in run["race"] if r["side"] == side and r["size"] == 10)
    batch_cpu_s = ten["cpu_ms_per_order"] * 10 / 1000
    seconds = ten["less_moto_ms"] / 1000 + batch_cpu_s * (1 / VCPU_256 - 1)  # the CPU part stretched to 256 MB
    lambda_usd = (0.25 * seconds * LAMBDA_GB_S + LAMBDA_REQUEST) / 10
    return {"DynamoDB": units["wru"] * WRU + units["rru"] * RRU, "Lambda": lambda_usd, "SQS": 1.2 * SQS_REQUEST}


def cost(run: dict[str, Any]) -> None:
    fig, ax = figure("Cost per day against orders per day (us-east-1, on demand)")
    volumes = [1e4, 1e5, 1e6, 1e7, 1e8]
    for side, colour in COLOURS.items():
        parts = cost_per_order(run, side)
        total = sum(parts.values())
        ax.plot(volumes, [v * total for v in volumes], "o-", color=colour, label=f"{side}: total")
        above = side == "project"  # the dearer line: its label above it, the other's below
        ax.annotate(f"${1e6 * total:,.2f} a day\nper million orders", (1e6, 1e6 * total), textcoords="offset points",
                    xytext=(-8, 8) if above else (8, -24), ha="right" if above else "left", fontsize=8,
                    color=colour)  # fmt: skip
        for part, style in (("DynamoDB", "--"), ("Lambda", ":")) if side == "project" else ():
            ax.plot(
                volumes, [v * parts[part] for v in volumes], style, color=colour, alpha=0.7, label=f"{side}: {part}"
            )
    ax.set(xscale="log", yscale="log", xlabel="orders a day", ylabel="$ a day")
    ax.legend(fontsize=8)
    note = "DynamoDB: the mix's units; Lambda: 256 MB, batches of 10; SQS: 1.2 requests an order. "
    finish(fig, "bench-cost.png", note, run)


def contention(run: dict[str, Any]) -> None:
    rows = run["contention"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.6), dpi=110)
    fig.suptitle("A hot tenant: consumers on one tenant and day", fontsize=11)
    consumers = [r["consumers"] for r in rows]
    left.plot(consumers, [r["orders_per_s"] for r in rows], "o-", color=COLOURS["project"])
    left.set(xlabel="consumers", ylabel="orders a second", ylim=(0, None))
    right.bar(consumers, [r["refused"] / r["orders"] for r in rows], 0.5, color="#ff7f0e")
    right.set(xlabel="consumers", ylabel="refused transactions per order")
    for ax in (left, right):
        ax.set_xticks(consumers)
        ax.grid(True, alpha=0.3)
    held = "1..N exactly in every run" if all(r["numbering"] == "1..N exactly" for r in rows) else "BROKEN"
    note = f"Numbering {held}; batches of 10; 5 ms per DynamoDB request. "
    finish(fig, "bench-contention.png", note, run)


def main() -> None:
    run = json.loads(FIGURES.read_text())["run"]
    for draw in (latency, cpu, capacity, cost, contention):
        draw(run)


if __name__ == "__main__":
    main()
