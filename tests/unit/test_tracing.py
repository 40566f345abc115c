"""X-Ray tracing is switched on by the environment, and costs nothing (no import) when it is off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import sys
from order_creator import handler
handler._start_tracing()
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
