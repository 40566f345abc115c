"""Observability: X-Ray tracing switched on by the environment (no import when off), and per-batch metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import sys
from order_creator import observability
observability.start_tracing()
patched = set()
if "aws_xray_sdk" in sys.modules:
    from aws_xray_sdk.core import patcher
    patched = set(patcher._PATCHED_MODULES)
print(sorted(patched), "aws_xray_sdk" in sys.modules)
"""


def run_probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "env",
    [{}, {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}],
)
def test_with_tracing_off_the_xray_sdk_is_not_even_imported(env):
    assert run_probe(**env) == "[] False"


def test_with_tracing_on_in_lambda_botocore_and_requests_are_patched():
    assert run_probe(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="false") == "['botocore', 'requests'] True"


METRICS_PROBE = """
import json, uuid
from order_creator import observability
from order_creator.batch import BatchReport, Outcome, Record
created = [Outcome(Record(str(i), "{}"), order_number=f"ORD-20251230-{i:05d}") for i in range(1, 4)]
report = BatchReport(created, 0, [0.05, 0.2, 0.1])
observability.observe(report)
print(json.dumps({k: v["Value"] for k, v in observability.metrics.metric_set.items()}))
"""


def test_metrics_are_counted_per_batch_with_the_slowest_cart_fetch():
    result = subprocess.run(
        [sys.executable, "-c", METRICS_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["OrdersCreated"] == [3.0]
    assert values["CartApiLatency"] == [200.0]


def test_with_metrics_disabled_nothing_accumulates():
    env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"}
    result = subprocess.run(
        [sys.executable, "-c", METRICS_PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "{}"
