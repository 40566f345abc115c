"""Observability: X-Ray tracing switched on by the environment (no import when off), and per-batch metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

PROBE = """
import sys
sys.modules["requests"] = None  # as in the image, where requests is not installed
from order_creator import observability

class Carts:
    def get_cart(self, tenant_id, cart_id):
        return f"cart {cart_id} of {tenant_id}"

carts = observability.start_tracing(Carts())
answer = carts.get_cart("t1", "c1")
patched = set()
if "aws_xray_sdk" in sys.modules:
    from aws_xray_sdk.core import patcher
    patched = set(patcher._PATCHED_MODULES)
print(answer, sorted(patched), "aws_xray_sdk" in sys.modules)
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
    assert run_probe(**env) == "cart c1 of t1 [] False"


def test_with_tracing_on_in_lambda_botocore_is_patched_and_each_cart_fetch_is_a_subsegment():
    # Given an X-Ray daemon on loopback (a UDP socket) and a sampled trace, in a process without `requests`
    # (as in the image: patching it raised on every invocation once tracing was on)
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    address = f"127.0.0.1:{daemon.getsockname()[1]}"

    # When tracing starts and a cart is fetched
    answer = run_probe(
        LAMBDA_TASK_ROOT="/var/task",
        POWERTOOLS_TRACE_DISABLED="false",
        _X_AMZN_TRACE_ID=trace,
        AWS_XRAY_DAEMON_ADDRESS=address,
    )

    # Then the fetch answered, botocore is patched, and the fetch was sent to the daemon as a subsegment
    assert answer == "cart c1 of t1 ['botocore'] True"
    with daemon:
        header, document = daemon.recv(65536).decode().split("\n", 1)
    assert json.loads(header) == {"format": "json", "version": 1}
    subsegment = json.loads(document)
    assert (subsegment["type"], subsegment["name"]) == ("subsegment", "## __main__.Carts.get_cart")
    assert subsegment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert "metadata" not in subsegment  # the cart itself is never recorded


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


NAMESPACE_PROBE = """
from order_creator import audit, observability
print(observability.metrics.namespace, audit.metrics.namespace)
"""


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [("OrderCreator/order-creator-dev", "OrderCreator/order-creator-dev"), (None, "OrderCreator")],
)
def test_the_orders_and_audit_metrics_go_to_powertools_own_namespace_variable(namespace, expected):
    # Given POWERTOOLS_METRICS_NAMESPACE set as the template sets it for a stack, or unset (outside a stack)
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_METRICS_NAMESPACE"}
    if namespace is not None:
        env["POWERTOOLS_METRICS_NAMESPACE"] = namespace

    # When the two handlers' metrics are created
    result = subprocess.run(
        [sys.executable, "-c", NAMESPACE_PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )

    # Then both emit to it, and to "OrderCreator" without it
    assert result.stdout.split() == [expected, expected]
