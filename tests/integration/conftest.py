"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Any

import pytest

from order_creator import cli


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], moto_url: str) -> Any:
    """`order-creator ARGS` in this process (against the session's moto); returns (exit code, stdout, stderr)."""
    for name in cli._ENDPOINT_VARIABLES:
        monkeypatch.setenv(name, moto_url)  # restored afterwards, whatever --endpoint-url sets

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main([*args])
        except SystemExit as exit_:  # argparse's way out
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
