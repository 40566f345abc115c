"""template.yaml's Rules refuse exactly the function timeouts the handler refuses: those shorter than the Cart API's
worst case (CartApiTimeoutSeconds x (CartApiMaxRetries + 1) + the client's back-off) plus a write and the answer."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from order_creator.deadlines import batch_minimum_seconds, cart_worst_case_seconds
from tests.integration.test_template import transformed_template


def _holds(condition: Any, parameters: dict[str, str]) -> Any:
    """A Rules condition's value with these parameter values (Rules compare strings; they cannot compute)."""
    if isinstance(condition, str):
        return condition
    if isinstance(condition, list):
        return [_holds(item, parameters) for item in condition]
    ((function, argument),) = condition.items()
    if function == "Ref":
        return parameters[argument]
    values = [_holds(item, parameters) for item in argument]
    if function == "Fn::Equals":
        return values[0] == values[1]
    if function == "Fn::Contains":
        return values[1] in values[0]
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    if function == "Fn::Not":
        return not values[0]
    raise AssertionError(f"a Rules function this test does not know: {function}")


def _refused(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """The Rules whose assertions these parameters break."""
    broken = []
    for name, rule in template["Rules"].items():
        if "RuleCondition" in rule and not _holds(rule["RuleCondition"], parameters):
            continue
        if not all(_holds(a["Assert"], parameters) for a in rule["Assertions"]):
            broken.append(name)
    return broken


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return transformed_template()


def test_the_rules_refuse_exactly_the_timeouts_a_batch_cannot_fit(template):
    # Given every combination of function timeout, Cart API timeout and retries the parameters allow
    parameters = template["Parameters"]
    defaults = {name: str(p.get("Default", "")) for name, p in parameters.items()}
    combinations = product(
        parameters["FunctionTimeout"]["AllowedValues"],
        parameters["CartApiTimeoutSeconds"]["AllowedValues"],
        range(parameters["CartApiMaxRetries"]["MinValue"], parameters["CartApiMaxRetries"]["MaxValue"] + 1),
    )
    wrong = []
    refused = 0
    for timeout, cart_timeout, retries in combinations:
        chosen = {
            **defaults,
            "FunctionTimeout": str(timeout),
            "CartApiTimeoutSeconds": str(cart_timeout),
            "CartApiMaxRetries": str(retries),
        }
        # When the Rules are evaluated, Then they refuse it exactly when the handler's own figure does not fit
        fits = batch_minimum_seconds(cart_worst_case_seconds(cart_timeout, retries)) <= timeout
        broken = _refused(template, chosen)
        refused += bool(broken)
        if fits == bool(broken):
            wrong.append((timeout, cart_timeout, retries, fits, broken))
    assert wrong == []
    assert refused > 0  # the issue's case among them: 10 s x 3 attempts in a 30 s function


def test_the_defaults_and_the_issues_case(template):
    # The default parameters deploy; CartApiTimeoutSeconds=10, CartApiMaxRetries=2, FunctionTimeout=30 does not
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    assert _refused(template, defaults) == []
    issue = {**defaults, "CartApiTimeoutSeconds": "10", "CartApiMaxRetries": "2", "FunctionTimeout": "30"}
    assert _refused(template, issue) == ["FunctionTimeout30FitsTheCartApi"]
