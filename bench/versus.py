"""A quick A/B of warm batches: this tree's handler against a commit's, side by side, by one meter.

    .venv/bin/python bench/versus.py --warm-only N [--reference REV]   # N batches of ten a side (default 20)

The reference is checked out with `git worktree add --detach` and imported from there (`bench/warm.py`); each side
runs warm in a process of its own on the bench's network (`bench/servers.py`), interleaved batch by batch, each
batch of ten orders of one tenant on an empty table and checked numbered 1..10. Prints each side's median CPU per
order and batch time less moto's own time, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

REFERENCE = "440f0be"  # main's head before the work of issue 12
SIDES = ("reference", "current")


class Warm:
    """A `bench/warm.py` process: one side, warm."""

    def __init__(self, source: Path, env: dict[str, str], *flags: str) -> None:
        command = [sys.executable, str(Path(__file__).with_name("warm.py")), str(source), *flags]
        self._process: Any = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )
        self.file = self.handle(None)["file"]

    def handle(self, event: dict[str, Any] | None) -> dict[str, Any]:
        """The answer to `event` (None: the first answer, once the handler is imported)."""
        if event is not None:
            self._process.stdin.write(json.dumps(event) + "\n")
            self._process.stdin.flush()
        if not (line := self._process.stdout.readline()):
            raise RuntimeError("a warm worker died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=30)


def race(workers: dict[str, Warm], direct: Any, proxy: str, reps: int) -> dict[str, dict[str, list[float]]]:
    """CPU and time less moto of `reps` batches of ten a side; the sides take turns going first."""
    figures: dict[str, dict[str, list[float]]] = {side: {"cpu": [], "less_moto": []} for side in SIDES}
    for rep in range(reps):
        for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
            tenant = common.new_tenants(1, side)
            common.reset_table(direct, common.project_table(common.TABLE))
            moto_before = common.moto_seconds(proxy)
            answer = workers[side].handle(common.batch_event(tenant, 10))
            figures[side]["cpu"].append(answer["cpu_s"] / 10)
            figures[side]["less_moto"].append(answer["wall_s"] - (common.moto_seconds(proxy) - moto_before))
            problem = answer["failed"] or common.numbering_problem(direct, common.TABLE, tenant[0], 10, seed=False)
            if problem:
                raise RuntimeError(f"{side}: {problem}")
    return figures


def report(figures: dict[str, dict[str, list[float]]], reps: int) -> None:
    cpu = {side: common.med(figures[side]["cpu"]) * 1000 for side in SIDES}
    less = {side: common.med(figures[side]["less_moto"]) * 1000 for side in SIDES}
    print(f"batch 10 x 1, n = {reps} a side")
    for side in SIDES:
        print(f"  {side:9}  CPU per order {cpu[side]:.3f} ms   batch less moto {less[side]:.1f} ms")
    ratios = (cpu["current"] / cpu["reference"], less["current"] / less["reference"])
    print("  current ÷ reference: CPU {:.3f}, time {:.3f}".format(*ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default=REFERENCE, help=f"the commit to compare with (default {REFERENCE})")
    parser.add_argument("--warm-only", type=int, default=20, metavar="N", help="batches of ten a side")
    args = parser.parse_args()
    worktree = Path(tempfile.mkdtemp(prefix="reference-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.reference], cwd=common.ROOT, check=True)
    servers, workers = common.Servers(), {}
    try:
        moto = servers.start("moto")["moto"]
        network = servers.network(moto, 0.010, 0.050)
        os.environ.update(common.QUIET)
        env = {**os.environ, "AWS_ENDPOINT_URL": network["dynamodb"], "CART_LAMBDA_API_URL": network["cart"]}
        import boto3

        direct = boto3.client("dynamodb", endpoint_url=moto)
        sources = {"reference": worktree / "src", "current": common.ROOT / "src"}
        workers = {side: Warm(sources[side], env) for side in SIDES}
        for _ in range(3):  # connections, lazy imports, the first batch's own work
            for worker in workers.values():
                common.reset_table(direct, common.project_table(common.TABLE))
                worker.handle(common.batch_event(common.new_tenants(1, "warm"), 10))
        common.say(
            f"{args.warm_only} warm batches a side: {workers['reference'].file} against {workers['current'].file}"
        )
        report(race(workers, direct, network["dynamodb"], args.warm_only), args.warm_only)
    finally:
        for worker in workers.values():
            worker.close()
        servers.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=common.ROOT, check=True)


if __name__ == "__main__":
    main()
