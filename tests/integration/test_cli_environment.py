"""The `order-creator` command when the machine, the environment or the arguments are wrong: one line on stderr
naming what to fix, exit code 2 for the command line or the environment and 1 for the rest, never a traceback;
and the dead-letter redrive's promises about attributes and targets."""

from __future__ import annotations

import json
import os
import socket

import pytest

from order_creator.queues import enqueue, inspect_dead_letters
from tests.factories import new_tenant
from tests.integration import test_cli
from tests.integration.test_cli import order_creator, without_aws
from tests.integration.test_worker import new_queue, queue_counts

ORDER_ID = "3f0b6c1e-8d0a-4f6e-9f57-000000000000"  # a well-formed id no test creates
tenant_orders = test_cli.tenant_orders  # the fixture: seven orders of a new tenant, 30 and 31 December 2025


def a_closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_machine(**variables: str) -> dict[str, str]:
    """No AWS settings at all: no variables, no shared files, no instance metadata; plus `variables`."""
    nowhere = os.devnull
    return {
        **without_aws(dict(os.environ)),
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "AWS_EC2_METADATA_DISABLED": "true",
        **variables,
    }


@pytest.mark.parametrize(
    ("variables", "says", "exit_code"),
    [
        ({}, "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region)", 2),
        (
            {"AWS_REGION": "eu-west-1"},
            "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
            2,
        ),
    ],
    ids=["no-region", "no-credentials"],
)
def test_a_machine_without_aws_settings_gets_one_line_saying_what_to_set(moto_url, variables, says, exit_code):
    # Given a machine with no AWS region, or a region but no credentials
    env = fresh_machine(**variables)

    # When the installed command reads an order
    result = order_creator("orders", "get", ORDER_ID, "--table", "orders", "--endpoint-url", moto_url, env=env)

    # Then it says what to set, in one line, as an environment error
    assert result.stderr == f"order-creator: error: {says}\n"
    assert result.returncode == exit_code


def test_an_endpoint_nobody_answers_is_named_in_one_line(moto_url):
    # Given an endpoint URL where nothing listens
    endpoint = f"http://127.0.0.1:{a_closed_port()}"

    # When the installed command reads an order there
    result = order_creator("orders", "get", ORDER_ID, "--table", "orders", "--endpoint-url", endpoint)

    # Then it names the endpoint it could not reach, in one line, as an environment error
    assert result.returncode == 2
    assert result.stderr == f"order-creator: error: cannot reach {endpoint}/\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("worker", "--queue-url", "q", "--batch-size", "ten"), "argument --batch-size: 'ten' is not a whole number"),
        (("worker", "--queue-url", "q", "--wait-seconds", "21"), "argument --wait-seconds: 21 is not within 0-20"),
        (("local", "--timeout", "soon"), "argument --timeout: 'soon' is not a number"),
        (("local", "--timeout", "0"), "argument --timeout: '0' must be positive"),
    ],
)
def test_a_bad_number_is_refused_before_anything_runs(args, says, run):
    code, _, err = run(*args)
    assert code == 2
    assert says in err
    assert len(err.splitlines()) == 1, err


def test_the_worker_refuses_a_visibility_timeout_shorter_than_a_batch_needs(lambda_env, monkeypatch, sqs, run):
    # Given a Cart API budget of 2 s x (1 retry + 1) and a queue whose messages stay hidden for 5 s
    monkeypatch.setenv("CART_API_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("CART_API_MAX_RETRIES", "1")
    queue_url, _ = new_queue(sqs, visibility_timeout=5, max_receive_count=3)
    enqueue(sqs, queue_url, ["untouched"])

    # When the worker starts on it
    code, _, err = run("worker", "--queue-url", queue_url, "--wait-seconds", "0")

    # Then it refuses, saying what a batch needs (4 s + 1 s + the delete margin), and no message moved
    assert code == 2
    assert "visibility timeout 5 s is shorter than a batch needs (5.5 s" in err
    assert len(err.splitlines()) == 1, err
    assert queue_counts(sqs, queue_url) == (1, 0)


def test_listing_a_tenant_without_orders_says_so_and_succeeds(lambda_env, table_name, run):
    code, out, err = run("orders", "list", "--tenant", new_tenant(), "--table", table_name)
    assert code == 0
    assert out.splitlines()[1:] == []
    assert "no orders for tenant" in err


def test_a_date_range_open_at_one_end_lists_from_or_up_to_that_moment(tenant_orders, table_name, run):
    tenant, messages = tenant_orders
    base = ("orders", "list", "--tenant", tenant, "--table", table_name, "--json")

    def ids(*args: str) -> list[str]:
        code, out, err = run(*base, *args)
        assert code == 0, err
        return [json.loads(line)["id"] for line in out.splitlines()]

    # When listing from a time on, and up to a day (inclusive), each with no other end
    from_noon = ids("--from", "2025-12-30T12:00:00Z")
    up_to_first_day = ids("--to", "2025-12-30")

    # Then each holds exactly the orders on its side, in creation order (10:00..13:00 on the 30th, 4..6 on the 31st)
    assert from_noon == [m["orderId"] for m in messages[2:]]
    assert up_to_first_day == [m["orderId"] for m in messages[:4]]


def test_redrive_keeps_a_messages_own_attributes_and_drops_the_pipelines_reason(sqs, run):
    # Given a dead letter the pipeline sent with its reason, carrying an attribute of its producer's too
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=30, max_receive_count=1)
    string = {"DataType": "String"}
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody='{"orderId": "x"}',
        MessageAttributes={
            "traceparent": {**string, "StringValue": "00-abc-def-01"},
            "errorType": {**string, "StringValue": "CartNotFound"},
            "errorMessage": {**string, "StringValue": "cart c not found"},
            "sourceMessageId": {**string, "StringValue": "m-1"},
        },
    )

    # When it is redriven
    code, _, err = run("dlq", "redrive", "--queue-url", dlq_url, "--to-queue-url", queue_url)

    # Then the source queue has it, body byte for byte, with the producer's attribute and without the reason
    assert code == 0, err
    [moved] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert moved["Body"] == '{"orderId": "x"}'
    assert {name: a["StringValue"] for name, a in moved["MessageAttributes"].items()} == {
        "traceparent": "00-abc-def-01"
    }
    assert queue_counts(sqs, dlq_url) == (0, 0)


def test_redrive_needs_a_target_when_no_queue_names_the_dead_letter_queue(sqs, run):
    # Given a queue that no redrive policy names, holding a message
    lonely = sqs.create_queue(QueueName=f"lonely-{new_tenant()}")["QueueUrl"]
    enqueue(sqs, lonely, ["stay"])

    # When it is redriven without --to-queue-url, or onto itself
    no_source = run("dlq", "redrive", "--queue-url", lonely)
    onto_itself = run("dlq", "redrive", "--queue-url", lonely, "--to-queue-url", lonely)

    # Then each is one line saying what to do, and the message is still there
    assert no_source[0] == 2
    assert no_source[2] == (
        f"order-creator: error: no queue uses {lonely} as dead-letter queue; name the target with --to-queue-url\n"
    )
    assert onto_itself[0] == 2
    assert onto_itself[2].endswith("\norder-creator: error: the target queue is the dead-letter queue itself\n")
    assert [m.body for m in inspect_dead_letters(sqs, lonely)] == ["stay"]


def test_orders_get_of_an_order_that_does_not_exist_is_an_error(lambda_env, table_name, run):
    code, out, err = run("orders", "get", ORDER_ID, "--table", table_name)
    assert code == 1
    assert out == ""
    assert err == f"order-creator: no order {ORDER_ID} in table {table_name}\n"
