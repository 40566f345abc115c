"""The docs show what the commands print today: scripts/docs_examples.py runs them again and compares."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).parents[2]


def docs_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_examples", REPO / "scripts" / "docs_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_every_example_of_the_docs_is_what_its_command_prints_today():
    # Given the committed examples: docs/examples/*.txt, and the README's block of make run
    script = docs_examples()

    # When every command runs again, as a real process, on a moto server and a Cart API of its own
    problems = script.check(script.OUT)

    # Then each prints what its example shows, ids, ports, timings and today's date aside
    assert problems == [], "\n".join(problems) + "\nrun `make docs-examples` and commit docs/examples/"


def test_every_example_is_shown_somewhere_and_every_page_example_exists():
    # Given the example files and the pages (and the README) that include them
    examples = {path.stem for path in (REPO / "docs" / "examples").glob("*.txt")}
    pages = "\n".join(path.read_text() for path in (REPO / "docs").glob("*.md"))
    readme = (REPO / "README.md").read_text()

    # When the names they include are collected
    included = set(re.findall(r'--8<-- "([\w-]+)\.txt"', pages)) | set(
        re.findall(r"<!-- docs/examples/([\w-]+)\.txt -->", readme)
    )

    # Then every example is shown, and every one shown exists
    assert examples - included == set()
    assert included - examples == set()


def test_the_comparison_blanks_what_differs_between_runs_and_nothing_else():
    # Given two runs' lines that differ only in what changes from run to run
    script = docs_examples()
    days = {"2026-12-07"}
    first = (
        "a1b2c3d4  3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10  acme  ORD-20261207-00001  created\n"
        "the order of message a1b2c3d4; queue http://127.0.0.1:41547/123456789012/orders-local-d2c0958c\n"
        'sourceMessageId 859e0256-c5ed-4a01-929b-dabf6693c590 "sentTimestamp": 1796612582236 after 0.9 s\n'
        "dateLastUpdated 2026-12-07T03:03:02.050Z"
    )
    second = (
        "ffee0011  3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10  acme  ORD-20261208-00001  created\n"
        "the order of message ffee0011; queue http://127.0.0.1:5000/123456789012/orders-local-0badcafe\n"
        'sourceMessageId 00000000-c5ed-4a01-929b-dabf6693c590 "sentTimestamp": 1 after 12.5 s\n'
        "dateLastUpdated 2026-12-08T23:59:59.999Z"
    )

    # When both are normalised
    # Then they are equal; an order id of the examples, a tenant or a number are kept
    assert script.normalise(first, days | {"2026-12-08"}) == script.normalise(second, days | {"2026-12-08"})
    assert "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10" in script.normalise(first, days)
    assert script.normalise(first, days) != script.normalise(first.replace("acme", "globex"), days)
    assert script.normalise(first, days) != script.normalise(first.replace("00001", "00002"), days)
