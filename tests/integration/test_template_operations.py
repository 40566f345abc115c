"""What linters do not see in template.yaml: alarms that hear silence (the audit that never runs or fails after
its retries, the events publisher that falls behind or keeps failing part of its batches), each alarm's runbook
line in docs/deploying.md, and that no parameter renames or re-keys what holds data (with the stack policy that
refuses a replacement). Checked on the SAM-translated JSON with every intrinsic resolved (`Stack`): moto's
CloudFormation creates none of the alarms, the EventInvokeConfig or the metric filter (test_stack.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.integration.iam_policies import allows
from tests.integration.test_template import ROOT, Stack, transformed_template

SQS_KEY = {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return transformed_template()


@pytest.fixture(scope="module")
def stack(template: dict[str, Any]) -> Stack:
    return Stack(template, placeholders=True)


def alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """The alarms these parameters create, resolved, by logical id."""
    return {name: stack.properties(name) for name in stack.resources("AWS::CloudWatch::Alarm")}


def alarm_on(stack: Stack, metric: tuple[str, str, str], **dimensions: str) -> dict[str, Any]:
    """The one alarm on this (namespace, metric name, statistic), with exactly these dimensions."""
    wanted = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    (alarm,) = [
        a
        for a in alarms(stack).values()
        if (a.get("Namespace"), a.get("MetricName"), a.get("Statistic")) == metric and a.get("Dimensions", []) == wanted
    ]
    return alarm


def role_statements(stack: Stack, role: str) -> dict[str, Any]:
    """A role's inline policies as one policy document."""
    policies = stack.properties(role)["Policies"]
    return {"Statement": [s for p in policies for s in p["PolicyDocument"]["Statement"]]}


def test_a_failed_audit_run_ends_on_an_alarmed_queue_its_role_may_send_to(stack):
    # Given the audit function's asynchronous invocation settings (Scheduler invokes it asynchronously)
    (config,) = [
        stack.properties(n)
        for n in stack.resources("AWS::Lambda::EventInvokeConfig")
        if stack.property(n, "FunctionName") == "<AuditFunction>"
    ]

    # Then Lambda retries a failed run a bounded number of times and then describes it on a queue
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    queue = destination.strip("<>").removesuffix(".Arn")
    assert stack.resources("AWS::SQS::Queue")[queue]
    assert stack.properties(queue)["KmsMasterKeyId"] == "<QueueKey>"

    # And that queue's depth is alarmed, and the audit's role may send to it through the queue's key
    depth = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    alarm = alarm_on(stack, depth, QueueName=f"<{queue}.QueueName>")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    role = role_statements(stack, "AuditRole")
    assert allows(role, "sqs:SendMessage", destination)
    assert allows(role, "kms:GenerateDataKey", "<QueueKey.Arn>", SQS_KEY)
    assert allows(role, "kms:Decrypt", "<QueueKey.Arn>", SQS_KEY)


def test_a_day_without_a_completed_audit_is_an_alarm(stack):
    # Given the alarm that reads how many values of NumberingViolations arrived (one per completed audit run)
    source = (ROOT / "src" / "order_creator" / "audit.py").read_text()
    namespace = stack.properties("AuditFunction")["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    heartbeat = alarm_on(stack, (namespace, "NumberingViolations", "SampleCount"), service="order-creator")

    # Then an hour without a value counts as breaching, and more than a day of such hours (the run's own length
    # and a daylight-saving hour within it) raises it; CloudWatch allows at most 7 days of periods of an hour
    assert '"NumberingViolations"' in source
    assert heartbeat["TreatMissingData"] == "breaching"
    assert (heartbeat["ComparisonOperator"], heartbeat["Threshold"]) == ("LessThanThreshold", 1)
    assert heartbeat["Period"] >= 3600
    assert heartbeat["DatapointsToAlarm"] == heartbeat["EvaluationPeriods"]
    assert 86400 + 3600 < heartbeat["Period"] * heartbeat["EvaluationPeriods"] <= min(86400 + 3 * 3600, 7 * 86400)

    # And the alarm on the violations themselves stays quiet on a night without a run (the heartbeat speaks then)
    violations = alarm_on(stack, (namespace, "NumberingViolations", "Maximum"), service="order-creator")
    assert violations["TreatMissingData"] == "notBreaching"


def test_every_custom_metric_alarm_and_graph_reads_the_stacks_own_namespace_the_functions_emit_to(stack):
    # Given the functions that emit metrics (Powertools' POWERTOOLS_METRICS_NAMESPACE), the alarms and the dashboard
    functions = {name: stack.properties(name) for name in stack.resources("AWS::Lambda::Function")}
    emitting = {
        name: function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        for name, function in functions.items()
        if "POWERTOOLS_METRICS_NAMESPACE" in function.get("Environment", {}).get("Variables", {})
    }
    read = [  # each alarm's namespaces: its metric's, or those of its metric math's metrics
        {m["MetricStat"]["Metric"]["Namespace"] for m in a.get("Metrics", []) if "MetricStat" in m}
        | ({a["Namespace"]} if "Namespace" in a else set())
        for a in alarms(stack).values()
    ]
    custom = [namespace for namespaces in read for namespace in namespaces if not namespace.startswith("AWS/")]
    body = json.loads(stack.properties("OperationsDashboard")["DashboardBody"])
    graphed = {m[0] for w in body["widgets"] for m in w["properties"]["metrics"] if not m[0].startswith("AWS/")}

    # Then the orders and audit functions emit to the stack's own namespace (two stacks never mix their counts),
    # and every alarm and graph of a custom metric reads that namespace
    assert {"OrderCreatorFunction", "AuditFunction"} <= set(emitting)
    assert set(emitting.values()) == {"OrderCreator/order-creator-dev"}
    assert len(custom) >= 3
    assert set(custom) == set(emitting.values())
    assert graphed == set(emitting.values())


def test_the_events_publishers_stream_lag_is_alarmed(stack):
    # Given the alarm on the events function's IteratorAge
    alarm = alarm_on(stack, ("AWS/Lambda", "IteratorAge", "Maximum"), FunctionName="<OrderEventsFunction>")

    # Then it fires when the publisher is minutes behind the stream, well before records age out (a day)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert 60_000 <= alarm["Threshold"] <= 3_600_000


def _filter_matches(pattern: str, log_line: dict[str, Any]) -> bool:
    """A CloudWatch Logs JSON filter pattern of the form `{ $.field = "text" }` (the only form used here)."""
    match = re.fullmatch(r'\{ \$\.(\w+) = "([^"*]*)" \}', pattern)
    assert match, f"not a pattern this test evaluates: {pattern}"
    return log_line.get(match.group(1)) == match.group(2)


def test_the_publishers_partial_failures_are_counted_from_its_own_log_line_and_alarmed(
    stack, moto_url, monkeypatch, caplog
):
    from order_creator import events, publishing
    from tests.unit.test_events import order_image, stream_record

    # Given the metric filter on the events function's log group, and its alarm
    (name,) = stack.resources("AWS::Logs::MetricFilter")
    metric_filter = stack.properties(name)
    (transformation,) = metric_filter["MetricTransformations"]
    alarm = [
        a
        for a in alarms(stack).values()
        if (a.get("Namespace"), a.get("MetricName"))
        == (transformation["MetricNamespace"], transformation["MetricName"])
    ]

    # When the real publisher cannot publish (its bus does not exist) and answers a partial batch failure
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    events._publisher.cache_clear()
    publishing.eventbridge.cache_clear()

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    with caplog.at_level("INFO", logger=events.logger.name):
        answer = events.lambda_handler({"Records": [stream_record(order_image(), sequence="7")]}, Context())
    events._publisher.cache_clear()
    # Each line as the function's log group gets it: its record through the logger's own (JSON) formatter.
    formatter = events.logger.registered_formatter
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == events.logger.name]

    # Then exactly its log line of that answer matches the filter, with the metric's value as a number in it
    assert answer == {"batchItemFailures": [{"itemIdentifier": "7"}]}
    assert metric_filter["LogGroupName"] == "<OrderEventsLogGroup>"
    (counted,) = [line for line in lines if _filter_matches(metric_filter["FilterPattern"], line)]
    assert counted[transformation["MetricValue"].removeprefix("$.")] == 1

    # And the alarm on that metric fires on several periods running, its namespace the stack's own
    (alarm_properties,) = alarm
    assert transformation["MetricNamespace"] == "OrderCreator/order-creator-dev"
    assert alarm_properties["EvaluationPeriods"] >= 2
    assert alarm_properties["DatapointsToAlarm"] == alarm_properties["EvaluationPeriods"]


def _runbook_rows() -> dict[str, str]:
    text = (ROOT / "docs" / "deploying.md").read_text()
    section = text.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9-]+)` \| (.+) \|$", section, re.MULTILINE)}


def test_every_alarm_has_a_runbook_line_and_the_docs_count_them(template):
    # Given the alarms with the default parameters and with a webhook, and the docs' alarm table
    default = Stack(template, placeholders=True)
    webhook = Stack(template, placeholders=True, WebhookUrl="https://hooks.example.com/orders")
    prefix = "order-creator-dev-"

    def names(stack: Stack) -> set[str]:
        return {a["AlarmName"].removeprefix(prefix) for a in alarms(stack).values()}

    rows = _runbook_rows()
    text = (ROOT / "docs" / "deploying.md").read_text()

    # Then each alarm has a row that says what to do, and the count the docs give is the template's
    assert set(rows) == names(webhook)
    assert all(len(line) > 60 for line in rows.values()), rows
    assert f"{len(names(default))} alarms" in text
    assert f"{len(names(webhook))} with a `WebhookUrl`" in text


def test_the_stack_policy_refuses_to_replace_whatever_holds_data(template):
    # Given the stack policy the docs install, and the resources the template retains (data lives there)
    policy = json.loads((ROOT / "deploy" / "stack-policy.json").read_text())
    retained = {n for n, r in template["Resources"].items() if r.get("DeletionPolicy") == "Retain"}

    # Then every update is allowed except replacing one of those, and each also survives its own replacement
    allow, deny = policy["Statement"]
    assert (allow["Effect"], allow["Action"], allow["Resource"]) == ("Allow", "Update:*", "*")
    assert (deny["Effect"], deny["Action"]) == ("Deny", "Update:Replace")
    assert {r.removeprefix("LogicalResourceId/") for r in deny["Resource"]} == retained
    assert {"OrdersTable", "OrdersQueue", "OrdersDeadLetterQueue", "QueueKey", "TableKey"} <= retained
    assert all(template["Resources"][n].get("UpdateReplacePolicy") == "Retain" for n in retained)


# What, changed, makes CloudFormation replace a resource (AWS resource reference, "Update requires: Replacement").
REPLACED_BY = {
    "AWS::DynamoDB::Table": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::KMS::Key": ("KeySpec", "KeyUsage", "MultiRegion"),
}


def _other_values(parameter: dict[str, Any]) -> list[Any]:
    if "AllowedValues" in parameter:
        return list(parameter["AllowedValues"])
    if parameter["Type"] == "Number":
        return [parameter.get("MinValue", 1), parameter.get("MaxValue", 100)]
    if parameter["Type"] == "CommaDelimitedList":
        return [["111122223333"]]
    return ["https://changed.example.com/v2" if "Url" in str(parameter.get("AllowedPattern", "")) else "changed"]


def test_no_parameter_renames_or_rekeys_what_holds_data(template):
    # Given what would replace each retained resource, resolved with the default parameters
    def replacing(**parameters: Any) -> dict[str, Any]:
        stack = Stack(template, placeholders=True, **parameters)
        found = {}
        for kind, names in REPLACED_BY.items():
            for name in stack.resources(kind):
                if template["Resources"][name].get("DeletionPolicy") == "Retain":
                    properties = stack.properties(name)
                    found[name] = {p: properties.get(p) for p in names}
        return found

    defaults = replacing()

    # When each parameter in turn takes every other value it may take
    # Then nothing that would replace the table, a queue or a key changes (a resource a parameter creates or
    # removes, such as the webhook's queue, keeps its own values when it exists)
    for name, parameter in template["Parameters"].items():
        if name in ("CartApiUrl", "WebhookUrl"):
            values = ["https://changed.example.com/v2"]
        else:
            values = _other_values(parameter)
        for value in values:
            changed = replacing(**{name: value})
            assert {k: v for k, v in changed.items() if k in defaults} == defaults, (name, value)
    assert defaults["OrdersTable"]["TableName"] == "order-creator-dev-orders"
