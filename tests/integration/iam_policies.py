"""What an IAM policy document allows, by IAM's own matching rules, for tests of the template's policies.

IAM's rules (IAM User Guide, "IAM JSON policy elements: Action / Resource" and "Condition operators"): in an
action or a resource ARN, `*` matches any run of characters, `/` included, and `?` any one character; actions
match case-insensitively, resources case-sensitively; an explicit Deny wins over any Allow. Conditions are
evaluated for `StringEquals` only (what the template's policies use besides the migration's); any other
operator raises, so a policy this module cannot judge is never judged wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _pattern(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(patterns: Any, value: str, *, ignore_case: bool = False) -> bool:
    """Whether `value` matches one of an Action's or Resource's patterns (a string or a list of them)."""
    return any(_pattern(p, ignore_case=ignore_case).fullmatch(value) for p in _as_list(patterns))


def _conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    for operator, tests in (condition or {}).items():
        if operator != "StringEquals":
            raise NotImplementedError(f"condition operator {operator} is not evaluated here")
        for key, wanted in tests.items():
            if context.get(key) not in _as_list(wanted):
                return False
    return True


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    return (
        matches(statement["Action"], action, ignore_case=True)
        and matches(statement.get("Resource", "*"), resource)
        and _conditions_hold(statement.get("Condition"), context)
    )


def allows(document: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
    """Whether the identity policy `document` allows `action` on `resource` in a request with `context` (its
    condition keys, e.g. `kms:ViaService`)."""
    statements: Iterable[Mapping[str, Any]] = _as_list(document["Statement"])
    applying = [s for s in statements if _applies(s, action, resource, context or {})]
    return any(s["Effect"] == "Allow" for s in applying) and not any(s["Effect"] == "Deny" for s in applying)
