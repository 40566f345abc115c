"""`make soak`: the mixed-fault scenario at 20,000 messages, with crashes; its figures go to docs/reliability.md.

Deselected in `make test` (see conftest.py). SOAK_MESSAGES changes the size; SOAK_REPORT names the file
whose "last soak" block the result replaces.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reliability import faults as f
from tests.reliability.child import ROOT, carts_fetched_by, run_in_child
from tests.reliability.scenario import build_workload, drain_by_table, verify

DYNAMODB_RATES = {f.THROTTLE: 0.02, f.THROTTLING: 0.02, f.CONFLICT: 0.03, f.DYNAMODB_500: 0.02, f.COMMIT_THEN_500: 0.02}
CART_RATES = {f.CART_500: 0.02, f.CART_429: 0.02, f.CART_TIMEOUT: 0.005, f.CART_SLOW: 0.02}
SEED = 20260101
BLOCK = re.compile(r"<!-- soak:begin -->.*<!-- soak:end -->", re.DOTALL)


@pytest.mark.soak
def test_soak(rig, capsys):
    # Given 20,000 messages (10% repeats, 5% invalid in every way) over 800 tenants, every fault kind
    messages = int(os.environ.get("SOAK_MESSAGES", "20000"))
    tenants = max(2, messages // 25)  # two a table: moto copies a whole table per transaction item
    started = time.monotonic()
    workload = build_workload(rig.carts, messages, seed=SEED, tenants=tenants, new_table=rig.new_table)
    rig.proxy.faults = f.Faults({**DYNAMODB_RATES, f.SQS_500: 0.1}, seed=SEED)
    rig.carts.faults = f.Faults(CART_RATES, seed=SEED + 1)
    steps = iter(f.CRASH_STEPS * messages)

    def crash(batch, _number):
        expected = carts_fetched_by(batch)
        return run_in_child(batch, proxy=rig.proxy, carts=rig.carts, step=next(steps), carts_expected=expected)

    # When the queue is drained, every 100th batch run in a process killed at the next crash step
    every = 100 if messages >= 10_000 else 10
    report = drain_by_table(
        workload, rig.configure, [rig.proxy.faults, rig.carts.faults], seed=SEED, crash_runner=crash, crash_every=every
    )
    verdict = verify(rig.dynamodb, rig.sqs, rig.dead_letter_queue, workload)
    seconds = time.monotonic() - started
    injected = rig.proxy.faults.injected + rig.carts.faults.injected
    summary = _summary(workload, report, verdict, injected, seconds)
    with capsys.disabled():
        print("\n" + summary)
    if os.environ.get("SOAK_REPORT"):
        path = Path(os.environ["SOAK_REPORT"])
        path.write_text(BLOCK.sub(lambda _: f"<!-- soak:begin -->\n{summary}\n<!-- soak:end -->", path.read_text()))

    # Then nothing was lost, duplicated or renumbered, and every fault kind and crash step happened
    assert report.left == []
    assert verdict.problems == []
    assert (verdict.lost, verdict.duplicated, verdict.gaps) == (0, 0, 0)
    assert set(injected) == {*f.DYNAMODB_FAULTS, f.SQS_500, *f.CART_FAULTS, f.CART_MALFORMED, f.CART_WRONG_TYPE}
    assert report.crashes >= len(f.CRASH_STEPS)


def _summary(workload, report, verdict, injected, seconds):
    kinds = workload.kinds
    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=False).stdout
    rows = [
        ("run", f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit.strip() or '?'}, seed {SEED}"),
        ("messages delivered", f"{verdict.messages:,}"),
        ("of them repeats", ", ".join(f"{kind} {n:,}" for kind, n in sorted(workload.repeats.items()))),
        ("valid orders expected / stored", f"{verdict.valid_orders:,} / {verdict.stored_orders:,}"),
        ("invalid messages, by kind", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k != "valid")),
        ("dead letters", f"{verdict.dead_letters:,}"),
        ("tenants / tables", f"{len(workload.tenants)} / {len(set(workload.tables.values()))}"),
        ("faults injected, by kind", ", ".join(f"{k} {n}" for k, n in sorted(injected.items()))),
        ("crashes (SIGKILL mid-batch)", f"{report.crashes}"),
        ("invocations / redeliveries / rounds", f"{report.invocations:,} / {report.redeliveries:,} / {report.rounds}"),
        ("**lost**", f"**{verdict.lost}**"),
        ("**duplicated**", f"**{verdict.duplicated}**"),
        ("**gaps**", f"**{verdict.gaps}**"),
        ("other violations", f"{len(verdict.problems)}"),
        ("time", f"{seconds:,.0f} s"),
    ]
    return "\n".join(["| figure | value |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)])
