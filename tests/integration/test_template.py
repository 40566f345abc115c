"""template.yaml and the code agree: the table, queues and function environment the template deploys, created in
the moto server, run the real handler, and the orders come back through every key and index the template declares.

The template is turned into plain CloudFormation by AWS SAM's own translator (offline), which lives in the tools
environment `.venv-tools` (`make tools`; `make test` builds it first through `check-deploy`).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from order_creator.dao import table_definition
from order_creator.settings import Settings
from tests.factories import cart, message, new_tenant, record
from tests.integration.support import invoke, orders_of, serve_cart, unmarshal

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
NO_VALUE = object()


def transformed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform, as CloudFormation JSON (fails, never skips, without the tools)."""
    if not TOOLS_PYTHON.exists():
        pytest.fail(f"{TOOLS_PYTHON} is missing: run `make tools` (the SAM translator lives there)")
    result = subprocess.run(
        [str(TOOLS_PYTHON), "scripts/sam_transform.py", "template.yaml"],
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
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The resources of one CloudFormation type, by logical id."""
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}

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
    assert not properties, f"table properties this test does not create: {sorted(properties)}"
    table = dynamodb.create_table(**arguments)["TableDescription"]
    dynamodb.update_continuous_backups(TableName=table["TableName"], PointInTimeRecoverySpecification=recovery)
    stack.refs[name] = table["TableName"]
    stack.attributes[(name, "Arn")] = table["TableArn"]


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
    (function,) = deployed.resources("AWS::Lambda::Function")
    variables = deployed.property(function, "Environment")["Variables"]
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

    # Then only prod protects the table, and every name carries the environment
    assert protection == {"dev": False, "sit": False, "prod": True}
    assert "-sit-" in Stack(template, placeholders=True, Environment="sit").properties(table)["TableName"]


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
            assert [unmarshal(item)["id"] for item in found] == [order["id"]], index["IndexName"]


def test_the_queue_redrives_after_five_receives_and_outlasts_six_function_timeouts(deployed, sqs):
    # Given the orders queue as created from the template, and the function and event source that read it
    attributes = sqs.get_queue_attributes(QueueUrl=deployed.refs["OrdersQueue"], AttributeNames=["All"])["Attributes"]
    (function,) = deployed.resources("AWS::Lambda::Function")
    (mapping,) = deployed.resources("AWS::Lambda::EventSourceMapping")
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
