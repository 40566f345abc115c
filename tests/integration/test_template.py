"""template.yaml and the code agree: the table, queues and function environment the template deploys, created in
the moto server, run the real handler, and the orders come back through every key and index the template declares.

The template is turned into plain CloudFormation by AWS SAM's own translator (offline), which lives in the tools
environment `.venv-tools` (`make tools`; `make test` builds it first through `check-deploy`).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from order_creator.settings import Settings, TableSettings
from order_creator.store.keys import table_definition
from tests.factories import cart, invoke, message, new_tenant, orders_of, record, serve_cart, unmarshal

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "order-creator-dev",
}
NO_VALUE = object()


def transformed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform, as CloudFormation JSON (fails, never skips, without the tools); a copy
    of its own for each caller."""
    return copy.deepcopy(_transformed(ROOT / "template.yaml", (ROOT / "template.yaml").stat().st_mtime_ns))


@functools.cache
def _transformed(path: Path, modified: int) -> dict[str, Any]:
    """One SAM transform per version of the file in a session (the translator takes seconds)."""
    if not TOOLS_PYTHON.exists():
        pytest.fail(f"{TOOLS_PYTHON} is missing: run `make tools` (the SAM translator lives there)")
    result = subprocess.run(
        [str(TOOLS_PYTHON), "scripts/sam_transform.py", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"the SAM transform failed:\n{result.stderr}"
    return dict(json.loads(result.stdout))


class Stack:
    """Resolves CloudFormation intrinsics as a deployment with these parameters would, given the physical ids
    (`Ref`) and attributes (`GetAtt`) of the resources created so far; with `placeholders`, a resource not
    created resolves to `<LogicalId>` (or `<LogicalId.Attribute>`), for checks of the template alone."""

    def __init__(self, template: dict[str, Any], *, placeholders: bool = False, **overrides: Any) -> None:
        self.template = template
        self.placeholders = placeholders
        self.parameters = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
        self.parameters.update(overrides)
        for name, parameter in template.get("Parameters", {}).items():
            if parameter["Type"] == "CommaDelimitedList" and isinstance(self.parameters[name], str):
                self.parameters[name] = self.parameters[name].split(",")
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The resources of one CloudFormation type that these parameters create, by logical id."""
        return {
            name: r
            for name, r in self.template["Resources"].items()
            if r["Type"] == kind and ("Condition" not in r or self.condition(r["Condition"]))
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, resolved."""
        return dict(self.resolve(self.template["Resources"][logical_id].get("Properties", {})))

    def property(self, logical_id: str, name: str) -> Any:
        """One property of a resource, resolved."""
        return self.resolve(self.template["Resources"][logical_id]["Properties"][name])

    def condition(self, name: str) -> bool:
        """A condition of the template, evaluated."""
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by what CloudFormation would put there."""
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self._attribute(argument[0], argument[1])
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::FindInMap":
                table, first, second = (str(self.resolve(part)) for part in argument)
                return self.template["Mappings"][table][first][second]
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (str(self.resolve(part)) for part in argument)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            if key == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(part) for part in self.resolve(parts))
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} is not resolved by this test; teach Stack.resolve")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.refs and self.placeholders:
            return f"<{name}>"
        return self.refs[name]

    def _attribute(self, name: str, attribute: str) -> Any:
        if (name, attribute) not in self.attributes and self.placeholders:
            return f"<{name}.{attribute}>"
        return self.attributes[(name, attribute)]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                return str(self._attribute(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def _create_keys(stack: Stack, kms: Any) -> None:
    for name in stack.resources("AWS::KMS::Key"):
        metadata = kms.create_key(Description=stack.properties(name)["Description"])["KeyMetadata"]
        stack.refs[name] = metadata["KeyId"]
        stack.attributes[(name, "Arn")] = metadata["Arn"]


def _create_table(stack: Stack, dynamodb: Any, name: str) -> None:
    properties = stack.properties(name)
    arguments = {
        key: properties.pop(key)
        for key in (
            "TableName",
            "BillingMode",
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "DeletionProtectionEnabled",
            "Tags",
        )
        if key in properties
    }
    sse = properties.pop("SSESpecification")
    arguments["SSESpecification"] = {
        "Enabled": sse["SSEEnabled"],
        "SSEType": sse["SSEType"],
        "KMSMasterKeyId": sse["KMSMasterKeyId"],
    }
    recovery = properties.pop("PointInTimeRecoverySpecification")
    arguments["StreamSpecification"] = {"StreamEnabled": True, **properties.pop("StreamSpecification")}
    assert not properties, f"table properties this test does not create: {sorted(properties)}"
    table = dynamodb.create_table(**arguments)["TableDescription"]
    dynamodb.update_continuous_backups(TableName=table["TableName"], PointInTimeRecoverySpecification=recovery)
    stack.refs[name] = table["TableName"]
    stack.attributes[(name, "Arn")] = table["TableArn"]
    stack.attributes[(name, "StreamArn")] = table["LatestStreamArn"]


def _create_queues(stack: Stack, sqs: Any) -> None:
    queues = stack.resources("AWS::SQS::Queue")
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for name in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
        properties = stack.properties(name)
        queue_name = properties.pop("QueueName")
        attributes = {key: str(value) for key, value in properties.items() if key != "RedrivePolicy"}
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        stack.refs[name] = url
        stack.attributes[(name, "Arn")] = arn
        stack.attributes[(name, "QueueName")] = queue_name


def orders_function(stack: Stack) -> str:
    """The orders function: the one whose image runs its default command (the image's CMD)."""
    (name,) = [
        name
        for name, r in stack.resources("AWS::Lambda::Function").items()
        if "Command" not in r["Properties"].get("ImageConfig", {})
    ]
    return name


@pytest.fixture(scope="module")
def deployed(moto_url: str, dynamodb: Any, sqs: Any) -> Stack:
    """The template's keys, table and queues, created in the moto server with the default parameters."""
    stack = Stack(transformed_template())
    _create_keys(stack, boto3.client("kms", endpoint_url=moto_url))
    (table,) = stack.resources("AWS::DynamoDB::Table")
    _create_table(stack, dynamodb, table)
    _create_queues(stack, sqs)
    return stack


@pytest.fixture
def function_env(deployed: Stack, lambda_env: dict[str, str], httpserver: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's environment exactly as the template sets it, with the local Cart API as CartApiUrl."""
    deployed.parameters["CartApiUrl"] = httpserver.url_for("/v1.0")
    variables = deployed.property(orders_function(deployed), "Environment")["Variables"]
    for name, value in variables.items():
        monkeypatch.setenv(name, str(value))
    return variables


def test_the_template_declares_the_schema_the_code_defines(deployed):
    # Given the template's table
    (table,) = deployed.resources("AWS::DynamoDB::Table")
    properties = deployed.properties(table)

    # When it is compared with the schema the DAO creates
    expected = table_definition(properties["TableName"])

    # Then keys, attribute types, index names, index keys and projections are the same
    def indexes(definition):
        return {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in definition["GlobalSecondaryIndexes"]}

    assert properties["KeySchema"] == expected["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert indexes(properties) == indexes(expected)
    assert properties["BillingMode"] == expected["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"]["SSEType"] == "KMS"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_deletion_protection_is_on_in_prod_only():
    # Given the template deployed to each environment
    template = transformed_template()
    (table,) = Stack(template, placeholders=True).resources("AWS::DynamoDB::Table")

    # When the table's properties are resolved per environment
    protection = {
        env: Stack(template, placeholders=True, Environment=env).properties(table)["DeletionProtectionEnabled"]
        for env in ("dev", "sit", "prod")
    }

    # Then only prod protects the table
    assert protection == {"dev": False, "sit": False, "prod": True}


def test_names_derive_from_the_stack_name_alone():
    # Given the template
    template = transformed_template()

    def names(**parameters: str) -> set[str]:
        stack = Stack(template, placeholders=True, **parameters)
        return {
            stack.property("OrdersTable", "TableName"),
            stack.property("OrdersQueue", "QueueName"),
            stack.property("OrdersDeadLetterQueue", "QueueName"),
        }

    # When the orders table, queue and dead-letter queue are named with the defaults and in prod
    # Then they are the stack's name and a suffix, whatever the environment
    expected = {"order-creator-dev-orders", "order-creator-dev-orders-dlq"}
    assert names() == names(Environment="prod") == expected


def test_the_function_environment_is_the_contract(deployed, function_env):
    # Given the function's environment from the template
    # When the handler's settings read it
    settings = Settings.from_env()

    # Then it names the template's own table and dead-letter queue, and every contract variable is valid
    assert settings.table_name == deployed.refs["OrdersTable"]
    assert settings.dead_letter_queue_url == deployed.refs["OrdersDeadLetterQueue"]
    contract = {field.alias for field in Settings.model_fields.values()}
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_TRACE_DISABLED"}
    assert set(function_env) == contract | powertools
    assert function_env["POWERTOOLS_TRACE_DISABLED"] == "true"  # TracingEnabled defaults to false


def test_the_handler_writes_orders_the_template_indexes_find(deployed, function_env, httpserver, dynamodb, sqs):
    # Given two carts and a batch of two good messages and one that is not JSON
    tenant = new_tenant()
    for cart_id in ("cart-a", "cart-b"):
        serve_cart(httpserver, cart(tenant, cart_id))
    good = [record(message(tenant, cart_id)) for cart_id in ("cart-a", "cart-b")]
    bad = record("{not json")

    # When the real handler runs against the template's table and queues
    failures = invoke(*good, bad)

    # Then the good ones are numbered and the bad one went to the template's dead-letter queue
    assert failures == []
    table = deployed.refs["OrdersTable"]
    orders = orders_of(dynamodb, table, tenant)
    assert sorted(o["orderNumber"] for o in orders) == ["ORD-20251230-00001", "ORD-20251230-00002"]
    letters = sqs.receive_message(
        QueueUrl=deployed.refs["OrdersDeadLetterQueue"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert [(m["Body"], m["MessageAttributes"]["sourceMessageId"]["StringValue"]) for m in letters] == [
        ("{not json", bad["messageId"])
    ]

    # And every order is found through the table key and through each index of the template, by its key values
    properties = deployed.properties("OrdersTable")
    for order in orders:
        key = {k["AttributeName"]: {"S": order[k["AttributeName"]]} for k in properties["KeySchema"]}
        assert unmarshal(dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])["id"] == order["id"]
        for index in properties["GlobalSecondaryIndexes"]:
            names = [k["AttributeName"] for k in index["KeySchema"]]
            found = dynamodb.query(
                TableName=table,
                IndexName=index["IndexName"],
                KeyConditionExpression="#h = :h AND #r = :r",
                ExpressionAttributeNames={"#h": names[0], "#r": names[1]},
                ExpressionAttributeValues={":h": {"S": order[names[0]]}, ":r": {"S": order[names[1]]}},
            )["Items"]
            assert [unmarshal(item)["SK"] for item in found] == [f"ORDER#{order['id']}"], index["IndexName"]


def test_the_queue_redrives_after_five_receives_and_outlasts_six_function_timeouts(deployed, sqs):
    # Given the orders queue as created from the template, and the function and event source that read it
    attributes = sqs.get_queue_attributes(QueueUrl=deployed.refs["OrdersQueue"], AttributeNames=["All"])["Attributes"]
    function = orders_function(deployed)
    (mapping,) = [
        name
        for name, r in deployed.resources("AWS::Lambda::EventSourceMapping").items()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    wanted = ("EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig")
    events = {name: deployed.property(mapping, name) for name in wanted}

    # When its redrive policy and visibility timeout are read back
    redrive = json.loads(attributes["RedrivePolicy"])
    visibility = int(attributes["VisibilityTimeout"])

    # Then failures move to the template's DLQ after 5 receives, and the visibility timeout follows AWS's rule
    assert redrive == {
        "deadLetterTargetArn": deployed.attributes[("OrdersDeadLetterQueue", "Arn")],
        "maxReceiveCount": 5,
    }
    timeout = int(deployed.property(function, "Timeout"))
    assert visibility >= 6 * timeout + int(events["MaximumBatchingWindowInSeconds"])
    assert events["EventSourceArn"] == deployed.attributes[("OrdersQueue", "Arn")]
    assert deployed.template["Resources"][mapping]["Properties"]["FunctionName"] == {"Ref": function}
    assert events["BatchSize"] == 10
    assert events["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 2 <= int(events["ScalingConfig"]["MaximumConcurrency"]) <= 1000


def test_every_allowed_timeout_keeps_the_visibility_rule():
    # Given every function timeout the template allows and the longest batching window it allows
    template = transformed_template()
    longest_window = int(template["Parameters"]["BatchingWindowSeconds"]["MaxValue"])

    # When the queue is resolved for each timeout
    for timeout in template["Parameters"]["FunctionTimeout"]["AllowedValues"]:
        stack = Stack(template, placeholders=True, FunctionTimeout=timeout)

        # Then its visibility timeout is at least six function timeouts plus the batching window
        assert int(stack.properties("OrdersQueue")["VisibilityTimeout"]) >= 6 * int(timeout) + longest_window, timeout


def test_every_checkov_suppression_says_why():
    # Given the resources of the template
    resources = transformed_template()["Resources"].values()

    # When their checkov suppressions are collected
    skips = [skip for r in resources for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])]

    # Then each one has a reason
    assert skips
    assert all(len(skip.get("comment", "")) > 20 for skip in skips), skips


# order events (contract §7) ---------------------------------------------------------------------------


def _events_function(stack: Stack) -> str:
    (name,) = [
        name
        for name, r in stack.resources("AWS::Lambda::Function").items()
        if r["Properties"].get("ImageConfig", {}).get("Command") == ["order_creator.events.lambda_handler"]
    ]
    return name


def _events_mapping(stack: Stack) -> dict[str, Any]:
    function = _events_function(stack)
    (mapping,) = [
        r
        for r in stack.resources("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return dict(stack.resolve({k: v for k, v in mapping["Properties"].items() if k != "FunctionName"}))


def _view(deployed: Stack) -> Stack:
    """The deployed stack, with what the test did not create resolving to placeholders."""
    view = Stack(deployed.template, placeholders=True)
    view.refs.update(deployed.refs)
    view.attributes.update(deployed.attributes)
    return view


def test_the_publisher_reads_the_tables_stream_and_publishes_to_the_templates_bus(
    deployed, function_env, httpserver, dynamodb, sqs, moto_url, monkeypatch
):
    from order_creator import events, publishing
    from order_creator.local.stream import StreamWorker, dynamodb_streams
    from order_creator.queues import delivered_events

    # Given the template's bus (with a consumer's rule to a queue) and the publisher's environment from the template
    events_client = boto3.client("events", endpoint_url=moto_url)
    (bus,) = deployed.resources("AWS::Events::EventBus")
    bus_name = deployed.properties(bus)["Name"]
    events_client.create_event_bus(Name=bus_name)
    deployed.refs[bus] = bus_name
    target = sqs.create_queue(QueueName=f"consumer-{new_tenant()}")["QueueUrl"]
    target_arn = sqs.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events_client.put_rule(Name="consumer", EventBusName=bus_name, EventPattern='{"detail-type": ["OrderCreated"]}')
    events_client.put_targets(Rule="consumer", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": target_arn}])
    publisher_env = deployed.property(_events_function(deployed), "Environment")["Variables"]
    assert set(publisher_env) == {"EVENT_BUS_NAME", "LOG_LEVEL", "POWERTOOLS_SERVICE_NAME"}
    for name, value in publisher_env.items():
        monkeypatch.setenv(name, str(value))
    events._publisher.cache_clear()
    publishing.eventbridge.cache_clear()

    # When the orders handler creates two orders and the publisher reads the table's stream
    tenant = new_tenant()
    for cart_id in ("cart-a", "cart-b"):
        serve_cart(httpserver, cart(tenant, cart_id))
    assert invoke(*(record(message(tenant, c)) for c in ("cart-a", "cart-b"))) == []
    worker = StreamWorker.for_table(dynamodb, dynamodb_streams(), deployed.refs["OrdersTable"], events.lambda_handler)
    worker.drain(idle_polls=1, timeout=30)
    events._publisher.cache_clear()

    # Then the consumer's queue got one OrderCreated event per order
    stored = sorted(o["id"] for o in orders_of(dynamodb, deployed.refs["OrdersTable"], tenant))
    delivered = [e.order_id for e in delivered_events(sqs, target) if e.detail.get("tenantId") == tenant]
    assert sorted(delivered) == stored


def test_the_stream_filter_lets_only_order_inserts_invoke_the_publisher(deployed, function_env, httpserver, dynamodb):
    # Given the records of the template's table stream after orders were created (counters' records too)
    tenant = new_tenant()
    serve_cart(httpserver, cart(tenant, "cart-f"))
    assert invoke(record(message(tenant, "cart-f"))) == []
    streams = boto3.client("dynamodbstreams")
    arn = deployed.attributes[("OrdersTable", "StreamArn")]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    modify = {**records[-1], "eventName": "MODIFY"}

    # When the event source mapping's filter pattern is tested on each (Lambda filters use EventBridge's pattern
    # syntax; moto implements no TestEventPattern call, so its rule matcher is used directly)
    from moto.events.models import EventPattern

    (pattern,) = [f["Pattern"] for f in _events_mapping(_view(deployed))["FilterCriteria"]["Filters"]]
    matcher = EventPattern.load(pattern)

    def passes(stream_record: dict[str, Any]) -> bool:
        dynamodb = {k: v for k, v in stream_record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
        return bool(matcher.matches_event({**stream_record, "dynamodb": dynamodb}))

    # Then exactly the order INSERTs pass: not the counters', not a MODIFY
    from order_creator.local.stream import is_order_insert

    assert [passes(r) for r in records] == [is_order_insert(r) for r in records]
    assert sum(passes(r) for r in records) >= 1
    assert any(not passes(r) for r in records)
    assert not passes(modify)


def test_the_publisher_retries_from_the_first_failure_and_ends_on_an_encrypted_alarmed_queue(deployed):
    # Given the publisher's event source mapping as the template declares it
    deployed = _view(deployed)
    mapping = _events_mapping(deployed)
    function = _events_function(deployed)

    # Then it reads the table's stream, reports partial failures, bisects, retries a bounded number of times and
    # then describes the batch on the failure queue, which is encrypted and alarmed on its depth
    assert mapping["EventSourceArn"] == deployed.attributes[("OrdersTable", "StreamArn")]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 1 <= int(mapping["MaximumRetryAttempts"]) <= 10
    assert int(mapping["BatchSize"]) == 100
    failure_queue = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    (queue,) = [n for n in deployed.resources("AWS::SQS::Queue") if deployed.attributes[(n, "Arn")] == failure_queue]
    assert deployed.properties(queue)["KmsMasterKeyId"]
    dimension = [{"Name": "QueueName", "Value": deployed.attributes[(queue, "QueueName")]}]
    alarmed = [
        deployed.properties(a)
        for a in deployed.resources("AWS::CloudWatch::Alarm")
        if deployed.properties(a).get("Dimensions") == dimension
    ]
    assert [a["MetricName"] for a in alarmed] == ["ApproximateNumberOfMessagesVisible"]
    assert deployed.properties(function)["ImageConfig"] == {"Command": ["order_creator.events.lambda_handler"]}

    # And its role may publish to the bus and read the stream, and nothing else on the table or any other bus
    role = deployed.template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for p in deployed.properties(role)["Policies"] for s in p["PolicyDocument"]["Statement"]]
    actions = {
        a: s["Resource"] for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions["events:PutEvents"] == "<OrderEventBus.Arn>"
    assert actions["dynamodb:GetRecords"] == deployed.attributes[("OrdersTable", "StreamArn")]
    assert not {a for a in actions if a.startswith("dynamodb:")} - {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    assert not any("*" in a for a in actions)


def test_the_webhook_exists_only_with_a_url_and_retries_into_a_dead_letter_queue():
    # Given the template with and without a WebhookUrl
    template = transformed_template()
    without = Stack(template, placeholders=True)
    with_url = Stack(template, placeholders=True, WebhookUrl="https://hooks.example.com/orders")

    # Then without one there is no webhook at all; with one, a rule sends OrderCreated events to an API
    # destination with a retry policy and an encrypted dead-letter queue
    assert not without.resources("AWS::Events::ApiDestination")
    assert not without.resources("AWS::Events::Connection")
    (destination,) = with_url.resources("AWS::Events::ApiDestination")
    assert with_url.properties(destination)["InvocationEndpoint"] == "https://hooks.example.com/orders"
    rules = with_url.resources("AWS::Events::Rule")
    (rule,) = [n for n in rules if with_url.properties(n)["Targets"][0]["Arn"] == f"<{destination}.Arn>"]
    properties = with_url.properties(rule)
    assert properties["EventPattern"] == {"source": ["order-creator"], "detail-type": ["OrderCreated"]}
    (target,) = properties["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    dead_letters = target["DeadLetterConfig"]["Arn"].strip("<>").removesuffix(".Arn")
    assert with_url.properties(dead_letters)["KmsMasterKeyId"]
    (archive,) = with_url.resources("AWS::Events::Archive")
    assert with_url.properties(archive)["SourceArn"] == "<OrderEventBus.Arn>"


def test_the_nightly_audit_runs_the_audit_handler_after_midnight_in_the_numbering_zone():
    # Given the template deployed with a business day in Johannesburg
    stack = Stack(transformed_template(), placeholders=True, OrderNumberTimezone="Africa/Johannesburg")

    # When the audit function, its schedule, its role and its alarm are read
    function = stack.properties("AuditFunction")
    (schedule,) = stack.resources("AWS::Scheduler::Schedule")
    timing = stack.properties(schedule)
    settings = TableSettings.from_env({k: str(v) for k, v in function["Environment"]["Variables"].items()})
    statements = [s for p in stack.properties("AuditRole")["Policies"] for s in p["PolicyDocument"]["Statement"]]
    alarm = stack.properties("NumberingViolationsAlarm")

    # Then it is the contract's handler in the same image, started a little after midnight in that zone, with
    # read access only, and its alarm watches the metric the handler emits
    assert function["PackageType"] == "Image"
    assert function["ImageConfig"]["Command"] == ["order_creator.audit.lambda_handler"]
    assert settings.table_name == "<OrdersTable>"
    assert settings.order_number_timezone == "Africa/Johannesburg"
    assert timing["ScheduleExpressionTimezone"] == "Africa/Johannesburg"
    minute, hour = timing["ScheduleExpression"].removeprefix("cron(").split()[:2]
    assert (int(hour), 0 < int(minute) <= 30) == (0, True)
    assert timing["Target"]["Arn"] == "<AuditFunction.Arn>"
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:Query"}
    namespace = function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (namespace, "NumberingViolations", 0)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "order-creator"}]


def test_the_dashboard_shows_the_metrics_the_code_emits():
    # Given the dashboard's body as deployed
    stack = Stack(transformed_template(), placeholders=True)
    body = json.loads(stack.properties("OperationsDashboard")["DashboardBody"])

    # When its metrics of the handlers' namespace (with their service dimension) are listed
    namespace = stack.properties("OrderCreatorFunction")["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    names = {m[1] for m in metrics if m[0] == namespace and m[2:4] == ["service", "order-creator"]}

    # Then each is one a handler emits (by its name in the source; the orders handler's metrics are in
    # observability.py), and the list is covered
    source = "".join((ROOT / "src" / "order_creator" / f).read_text() for f in ("observability.py", "audit.py"))
    emitted = {name for name in names if f'"{name}"' in source}
    assert names == emitted
    assert {"OrdersCreated", "DuplicateOrders", "PermanentFailures", "CartApiLatency", "NumberingViolations"} <= names
    queues = {m[3] for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "AWS/SQS"}
    failures = ("OrdersDeadLetterQueue", "OrderEventsFailureQueue", "AuditFailureQueue")
    assert queues == {f"<{q}.QueueName>" for q in ("OrdersQueue", *failures)}

    # And the events publisher's stream lag is on it (an IteratorAge alarm without a graph is half a runbook)
    lag = [m for w in body["widgets"] for m in w["properties"]["metrics"] if m[:2] == ["AWS/Lambda", "IteratorAge"]]
    assert [m[3] for m in lag] == ["<OrderEventsFunction>"]
