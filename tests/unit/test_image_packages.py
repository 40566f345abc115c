"""The handlers need nothing the image does not hold: the image installs `requirements.txt` and nothing else, while
the tests run in a venv with every development package too, where a stray import works. (With tracing on, the
orders handler once patched `requests`, which only the development venv held: every invocation raised.)"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.abc, json, sys, types
refused = set(json.loads(sys.argv[1]))


class ImageOnly(importlib.abc.MetaPathFinder):
    # Refuse every top-level package of a distribution the image does not install.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in refused:
            raise ModuleNotFoundError(f"{name} is not in the image", name=name)
        return None


sys.meta_path.insert(0, ImageOnly())
from order_creator import audit, events, handler
from order_creator.settings import Settings

creator, _ = handler._wiring(Settings.from_env())  # tracing on: the Tracer and its patches are made here
context = types.SimpleNamespace(
    function_name="order-creator", memory_limit_in_mb=256, aws_request_id="r-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:order-creator",
    get_remaining_time_in_millis=lambda: 30_000,
)
print(json.dumps(handler.lambda_handler({"Records": []}, context)), type(events._publisher("bus")).__name__)
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _image_distributions() -> set[str]:
    """requirements.txt's distributions and everything they require, as installed here."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    todo = [Requirement(line).name for line in lines if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if _canonical(name) in seen:
            continue
        seen.add(_canonical(name))
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_the_handlers_import_and_wire_with_the_images_packages_only_tracing_on():
    # Given a process that cannot import what the development venv holds beyond the image's distributions
    image = _image_distributions() | {"order-creator"}
    installed = importlib.metadata.packages_distributions()
    refused = sorted(top for top, dists in installed.items() if not any(_canonical(d) in image for d in dists))
    assert {"requests", "pytest", "hypothesis", "moto"} <= set(refused)
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": "/var/task",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "DYNAMODB_TABLE_NAME": "orders",
        "CART_LAMBDA_API_URL": "http://127.0.0.1:9/v1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    # When the three handlers of the image are imported, the orders handler wired with tracing on and invoked
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(refused)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then nothing outside the image was needed
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == '{"batchItemFailures": []} EventPublisher'
