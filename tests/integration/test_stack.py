"""template.yaml deployed as code: the SAM-translated template created as stacks by moto's CloudFormation (the
session's moto server, over HTTP), its resources, policies and outputs read back from the services themselves.

moto's CloudFormation creates the keys, table, queues, roles, managed policies, functions, event source mappings,
log groups, bus, archive and dashboard. What it cannot create (`MOTO_CANNOT_CREATE`: the alarms, the audit's
EventInvokeConfig, its schedule, the cross-account queue policy, the events metric filter, the webhook's connection
and destination) is checked on the translated JSON with every intrinsic resolved (`Stack`), here and in
test_template.py. `for_moto` lists the three places where moto reads valid CloudFormation differently.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import boto3
import pytest

from tests.integration.iam_policies import allows
from tests.integration.test_template import Stack, transformed_template

MOTO_CANNOT_CREATE = {
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Scheduler::Schedule",
    "AWS::SQS::QueuePolicy",
    "AWS::Logs::MetricFilter",
    "AWS::Events::Connection",
    "AWS::Events::ApiDestination",
}
PRODUCER_ACCOUNTS = ["111122223333", "444455556666"]
SQS = {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}
DYNAMODB = {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}


def for_moto(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The translated template as moto's CloudFormation can create it, for these parameters."""
    moto = copy.deepcopy(template)
    stack = Stack(template, placeholders=True, **parameters)
    dropped = {name for name, r in moto["Resources"].items() if r["Type"] in MOTO_CANNOT_CREATE}
    moto["Resources"] = {name: r for name, r in moto["Resources"].items() if name not in dropped}
    created = [r for r in moto["Resources"].values() if "Condition" not in r or stack.condition(r["Condition"])]
    assert not [n for n in dropped if json.dumps(n) in json.dumps([created, moto["Outputs"]])], "needs a dropped one"
    for parameter in moto["Parameters"].values():
        # CloudFormation passes a Number to Fn::FindInMap as text (the mapping's keys); moto passes an int.
        if parameter["Type"] == "Number":
            parameter["Type"] = "String"
            parameter["Default"] = str(parameter["Default"])
    for resource in moto["Resources"].values():
        properties = resource.get("Properties", {})
        if isinstance(properties.get("EventPattern"), dict):
            properties["EventPattern"] = json.dumps(properties["EventPattern"])  # moto parses only a string
    # moto keeps a list item that resolves to AWS::NoValue as a None item (an inline policy, a key policy's
    # statement): each Fn::If that is a list item is decided here, for these parameters.
    return dict(_decide_list_items(moto, stack))


def _decide_list_items(value: Any, stack: Stack) -> Any:
    if isinstance(value, dict):
        return {k: _decide_list_items(v, stack) for k, v in value.items()}
    if not isinstance(value, list):
        return value
    decided = []
    for item in value:
        chosen = item
        while isinstance(chosen, dict) and set(chosen) == {"Fn::If"}:
            condition, when_true, when_false = chosen["Fn::If"]
            chosen = when_true if stack.condition(condition) else when_false
        if chosen != {"Ref": "AWS::NoValue"}:
            decided.append(_decide_list_items(chosen, stack))
    return decided


def deploy(cloudformation: Any, name: str, **parameters: str) -> dict[str, str]:
    """Create the stack `name` from the translated template with `parameters`; its outputs."""
    body = for_moto(transformed_template(), **parameters)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (described,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


@pytest.fixture(scope="module")
def cloudformation(moto_url: str) -> Any:
    return boto3.client("cloudformation", endpoint_url=moto_url)


@pytest.fixture(scope="module")
def stacks(cloudformation: Any) -> dict[str, dict[str, str]]:
    """Two stacks of the template in one account with the same Environment (the default): `cross` lets two other
    accounts produce, `local` does not. Their outputs by stack name."""
    run = uuid.uuid4().hex[:6]
    return {
        f"oc-{run}-cross": deploy(cloudformation, f"oc-{run}-cross", ProducerAccountIds=",".join(PRODUCER_ACCOUNTS)),
        f"oc-{run}-local": deploy(cloudformation, f"oc-{run}-local"),
    }


def physical_ids(cloudformation: Any, name: str) -> dict[str, str]:
    """The stack's resources: logical id to physical id (moto lists a resource whose condition is false with empty
    ids, and gives the bus and the archive an empty physical id)."""
    resources = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"]}


def policy_document(arn: str) -> dict[str, Any]:
    iam = boto3.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return dict(json.loads(document) if isinstance(document, str) else document)


def queue_arn(url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def test_the_stack_creates_its_resources_and_its_outputs_name_them(stacks, cloudformation):
    # Given a stack of the template, created by moto's CloudFormation
    name, outputs = next(iter(stacks.items()))
    created = physical_ids(cloudformation, name)
    template = transformed_template()

    # Then every resource moto can create exists, and the outputs name the stack's own table, queues and functions
    wanted = Stack(template, ProducerAccountIds=PRODUCER_ACCOUNTS)
    expected = {n for n, r in template["Resources"].items() if r["Type"] not in MOTO_CANNOT_CREATE}
    assert set(created) == {n for n in expected if wanted.resources(template["Resources"][n]["Type"]).get(n)}
    assert set(outputs) == set(template["Outputs"]) - {"WebhookDeadLetterQueueUrl"}
    table = boto3.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]
    assert outputs["TableName"] == created["OrdersTable"] == f"{name}-orders"
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert queue_arn(outputs["QueueUrl"]) == outputs["QueueArn"]
    assert queue_arn(outputs["DeadLetterQueueUrl"]) == outputs["DeadLetterQueueArn"]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"] == outputs["DeadLetterQueueArn"]
    assert outputs["QueueKeyArn"].endswith(created["QueueKey"])
    functions = boto3.client("lambda")
    orders = functions.get_function_configuration(FunctionName=outputs["FunctionName"])["Environment"]["Variables"]
    assert orders["DYNAMODB_TABLE_NAME"] == outputs["TableName"]
    assert orders["DEAD_LETTER_QUEUE_URL"] == outputs["DeadLetterQueueUrl"]
    audit = functions.get_function_configuration(FunctionName=outputs["AuditFunctionName"])["Environment"]["Variables"]
    assert audit["DYNAMODB_TABLE_NAME"] == outputs["TableName"]
    assert queue_arn(outputs["AuditFailureQueueUrl"]).endswith(f":{name}-audit-failed")


def test_two_stacks_with_the_same_environment_share_no_name(stacks, cloudformation):
    # Given two stacks of the template in one account, both with Environment=dev
    first, second = (physical_ids(cloudformation, name) for name in stacks)

    # When their resources' physical ids (names, URLs, ARNs) are compared
    # Then none is shared: each stack names its own table, queues, functions, log groups, bus and policies
    shared = {logical for logical in first if first[logical] and first[logical] == second.get(logical)}
    assert shared == set()
    assert len({outputs["EventBusArn"] for outputs in stacks.values()}) == 2
    assert {first["OrdersTable"], second["OrdersTable"]} == {f"{name}-orders" for name in stacks}


def test_the_producer_policy_grants_sending_and_both_kms_actions(stacks):
    # Given the producer policy of a stack, as IAM holds it
    outputs = next(iter(stacks.values()))
    document = policy_document(outputs["ProducerPolicyArn"])
    key = outputs["QueueKeyArn"]

    # Then it allows SendMessage on the queue, and GenerateDataKey and Decrypt on its key through SQS (SQS's
    # "Configure KMS permissions for producers"); nothing on the dead-letter queue, nothing outside SQS
    assert allows(document, "sqs:SendMessage", outputs["QueueArn"])
    assert allows(document, "kms:GenerateDataKey", key, SQS)
    assert allows(document, "kms:Decrypt", key, SQS)
    assert not allows(document, "kms:Decrypt", key, DYNAMODB)
    assert not allows(document, "sqs:SendMessage", outputs["DeadLetterQueueArn"])
    assert not allows(document, "sqs:ReceiveMessage", outputs["QueueArn"])


def test_the_operator_policy_allows_the_cli_and_the_consoles_redrive(stacks):
    # Given the operator policy of a stack
    outputs = next(iter(stacks.values()))
    document = policy_document(outputs["OperatorPolicyArn"])
    dlq, queue, key = outputs["DeadLetterQueueArn"], outputs["QueueArn"], outputs["QueueKeyArn"]

    # Then it may read and delete dead letters, run and watch a message move task from the DLQ (the console's
    # DLQ redrive), and send to the queue, through the queue key
    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ListDeadLetterSourceQueues",
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
        "sqs:CancelMessageMoveTask",
    ):
        assert allows(document, action, dlq), action
    assert allows(document, "sqs:SendMessage", queue)
    assert allows(document, "kms:Decrypt", key, SQS)
    assert allows(document, "kms:GenerateDataKey", key, SQS)
    assert not allows(document, "sqs:StartMessageMoveTask", queue)


def test_the_events_operator_policy_reads_the_events_failure_queue(stacks):
    # Given the events operator's policy of a stack and its events failure queue
    outputs = next(iter(stacks.values()))
    document = policy_document(outputs["EventsOperatorPolicyArn"])
    failures = queue_arn(outputs["OrderEventsFailureQueueUrl"])

    # Then it may read what the publisher gave up on (the alarm's runbook), delete it once replayed, and publish
    assert allows(document, "sqs:ReceiveMessage", failures)
    assert allows(document, "sqs:DeleteMessage", failures)
    assert allows(document, "kms:Decrypt", outputs["QueueKeyArn"], SQS)
    assert allows(document, "events:PutEvents", outputs["EventBusArn"])
    assert not allows(document, "sqs:ReceiveMessage", outputs["DeadLetterQueueArn"])


def key_policy(key_arn: str) -> dict[str, Any]:
    policy = boto3.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    return dict(json.loads(policy) if isinstance(policy, str) else policy)  # moto answers the object as given


def test_producers_of_other_accounts_get_key_and_queue_statements_only_when_named(stacks):
    # Given the stack that names two producer accounts and the one that names none
    (_, with_accounts), (_, without) = stacks.items()

    # When the queue key's policies are read back from KMS
    def producer_statements(outputs: dict[str, str]) -> list[dict[str, Any]]:
        return [s for s in key_policy(outputs["QueueKeyArn"])["Statement"] if s["Sid"] != "AccountAdministers"]

    # Then only the first lets those accounts GenerateDataKey and Decrypt, through SQS only
    (statement,) = producer_statements(with_accounts)
    assert statement["Principal"] == {"AWS": PRODUCER_ACCOUNTS}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {"StringEquals": SQS}
    assert producer_statements(without) == []

    # And the queue policy (which moto's CloudFormation does not create) lets them send, in that stack only
    template = transformed_template()
    named = Stack(template, placeholders=True, ProducerAccountIds=PRODUCER_ACCOUNTS)
    assert "OrdersQueuePolicy" not in Stack(template, placeholders=True).resources("AWS::SQS::QueuePolicy")
    policy = named.properties("OrdersQueuePolicy")
    assert policy["Queues"] == ["<OrdersQueue>"]
    (send,) = policy["PolicyDocument"]["Statement"]
    assert (send["Principal"], send["Action"], send["Resource"]) == (
        {"AWS": PRODUCER_ACCOUNTS},
        "sqs:SendMessage",
        "<OrdersQueue.Arn>",
    )


def test_deleting_the_stack_keeps_the_table_the_queues_and_their_keys(cloudformation, stacks):
    # Given a stack of its own, with a message waiting in its dead-letter queue (moto's event source mapping
    # would hand one in the orders queue to a function it cannot run)
    name = f"oc-{uuid.uuid4().hex[:6]}-deleted"
    outputs = deploy(cloudformation, name)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=outputs["DeadLetterQueueUrl"], MessageBody="{}")

    # When the stack is deleted
    cloudformation.delete_stack(StackName=name)

    # Then the table, the queues (the message still in its queue) and the queue key are still there; the
    # functions are not
    assert boto3.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]["TableName"]
    waiting = sqs.get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert waiting["ApproximateNumberOfMessages"] == "1"
    for url in ("QueueUrl", "OrderEventsFailureQueueUrl", "AuditFailureQueueUrl"):
        assert queue_arn(outputs[url])
    # (moto's DescribeKey fails on a key CloudFormation made: its policy is read instead)
    assert key_policy(outputs["QueueKeyArn"])["Statement"][0]["Sid"] == "AccountAdministers"
    functions = boto3.client("lambda")
    with pytest.raises(functions.exceptions.ResourceNotFoundException):
        functions.get_function(FunctionName=outputs["FunctionName"])
