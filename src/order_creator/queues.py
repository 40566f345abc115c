"""The pipeline's SQS queues as an operator uses them: set up a queue with its dead-letter queue, or a bus rule
delivering to a queue, feed a queue, look at what a queue holds without taking it (dead letters, delivered
events), and redrive the dead-letter queue. Used by `order-creator` (`order_creator.cli`) and `order-creator local`.

Every function takes its boto3 client; errors from AWS propagate (the CLI turns them into one line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from order_creator.tooling import OperationError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Message attributes the pipeline adds when it dead-letters a message (contract §5).
DEAD_LETTER_ATTRIBUTES = ("errorType", "errorMessage", "sourceMessageId")
# How long a listing hides what it has received: at least this, and 2 s per receive the listing will need
# (SQS's limit is 12 hours). A listing that outlasts it sees its oldest messages again, ahead of the rest.
_INSPECT_VISIBILITY_SECONDS = 30
_SECONDS_PER_RECEIVE = 2
_MAX_VISIBILITY_SECONDS = 12 * 3600


# queues ---------------------------------------------------------------------------------------------


def create_queue_with_dlq(
    sqs: SQSClient, name: str, *, visibility_timeout: int, max_receive_count: int
) -> tuple[str, str]:
    """A queue and its dead-letter queue `{name}-dlq`, joined by a redrive policy; returns both URLs."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = queue_arn(sqs, dlq_url)
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    return queue_url, dlq_url


def queue_arn(sqs: SQSClient, queue_url: str) -> str:
    """The queue's ARN (and proof that the URL names a queue)."""
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def visible_count(sqs: SQSClient, queue_url: str) -> int:
    """ApproximateNumberOfMessages: the messages waiting to be received."""
    names: Any = ["ApproximateNumberOfMessages"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", "0"))


def queue_depth(sqs: SQSClient, queue_url: str) -> int:
    """ApproximateNumberOfMessages plus NotVisible: every message the queue holds, waiting or in flight."""
    names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, "0")) for name in names)


def enqueue(sqs: SQSClient, queue_url: str, bodies: Sequence[str], sent: list[str] | None = None) -> list[str]:
    """Send the bodies in order, ten a request; return their message ids in the same order. `sent`, when given,
    is the list they are added to as SQS accepts each request (what an interruption leaves says how many went)."""
    ids: list[str] = sent if sent is not None else []
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
        )
        if response.get("Failed"):
            reason = response["Failed"][0].get("Message", "unknown reason")
            raise OperationError(f"SQS refused {len(response['Failed'])} message(s): {reason}")
        by_entry = {int(ok["Id"]): ok["MessageId"] for ok in response.get("Successful", [])}
        ids.extend(by_entry[i] for i in range(len(chunk)))
    return ids


# dead letters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterMessage:
    """A message in the dead-letter queue, with the reason the pipeline gave when it put it there.

    `source_message_id` is the id the message had in the source queue: the attribute the pipeline sets,
    or, for a message the redrive policy moved (which keeps its id and has no reason), its own id.
    """

    message_id: str
    body: str
    source_message_id: str
    error_type: str | None
    error_message: str | None
    receive_count: int
    sent_timestamp_ms: int | None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """`errorType: errorMessage`, or what a redrive-policy move means (or that it is no dead letter at all)."""
        if self.error_type:
            return f"{self.error_type}: {self.error_message or ''}".rstrip(": ")
        if self.is_event:
            return "not a dead letter: an EventBridge event (is this the dead-letter queue?)"
        return "moved by the redrive policy after maxReceiveCount receives"

    @property
    def is_event(self) -> bool:
        """True when the body is an EventBridge event's envelope (a rule's target queue holds those)."""
        if not self.body.lstrip().startswith("{") or '"detail-type"' not in self.body:
            return False
        try:
            envelope = json.loads(self.body)
        except ValueError:
            return False
        return isinstance(envelope, dict) and {"detail-type", "source", "detail"} <= set(envelope)


def inspect_dead_letters(
    sqs: SQSClient, dlq_url: str, *, limit: int | None = None, visibility_seconds: int | None = None
) -> list[DeadLetterMessage]:
    """The messages in the queue (a dead-letter queue, or any other), without deleting any.

    Each is received (hidden while the listing runs, so none is seen twice) and made visible again at once
    when the listing is done. They are hidden for long enough to list the whole queue (`visibility_seconds`,
    by default sized from its length): hidden for less, the first ones come back ahead of the rest, and a
    listing of a long queue stopped short at 30 s. The listing ends when nothing visible is left, or when a
    whole pass over the messages already seen brings nothing new.
    """
    if visibility_seconds is None:
        expected = visible_count(sqs, dlq_url) if limit is None else limit
        receives = expected // 10 + 1
        visibility_seconds = min(
            _MAX_VISIBILITY_SECONDS, max(_INSPECT_VISIBILITY_SECONDS, receives * _SECONDS_PER_RECEIVE)
        )
    seen: dict[str, DeadLetterMessage] = {}
    handles: list[str] = []
    stale = 0  # receives in a row that brought nothing new
    try:
        while limit is None or len(seen) < limit:
            count = 10 if limit is None else min(10, limit - len(seen))
            messages = _receive(sqs, dlq_url, count, visibility_seconds)
            if not messages:
                break
            handles.extend(m["ReceiptHandle"] for m in messages)
            fresh = [m for m in messages if m["MessageId"] not in seen]
            stale = 0 if fresh else stale + 1
            if stale > len(seen) // 10 + 1:
                break
            for message in fresh:
                seen[message["MessageId"]] = _dead_letter(message)
    finally:
        _release(sqs, dlq_url, handles)
    return list(seen.values())


def _release(sqs: SQSClient, queue_url: str, handles: list[str]) -> None:
    """Make received messages visible again now (a handle already deleted is simply refused)."""
    for start in range(0, len(handles), 10):
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def source_queue_of(sqs: SQSClient, dlq_url: str) -> str:
    """The one queue whose redrive policy targets this dead-letter queue (ListDeadLetterSourceQueues)."""
    urls = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(urls) != 1:
        found = "no queue uses" if not urls else f"{len(urls)} queues use"
        raise OperationError(f"{found} {dlq_url} as dead-letter queue; name the target with --to-queue-url")
    return urls[0]


def redrive(
    sqs: SQSClient,
    dlq_url: str,
    target_url: str,
    *,
    limit: int | None = None,
    progress: Callable[[int, DeadLetterMessage], None] | None = None,
) -> int:
    """Move messages from the dead-letter queue to `target_url`; return how many moved.

    Each message is sent (body byte for byte, its own attributes without the pipeline's reason) before
    it is deleted, so a crash in between loses nothing: at worst it is delivered twice, and the pipeline
    takes the second delivery as a duplicate. Without `limit`, moves as many as the queue held at the start.
    """
    # Only SendMessage on the target (the operator policy grants no more): a wrong URL fails the first send,
    # before anything is deleted.
    if target_url.rstrip("/") == dlq_url.rstrip("/"):
        raise OperationError("the target queue is the dead-letter queue itself")
    if limit is None:
        # What the queue holds now: messages that fail again and come back are not chased round and round.
        limit = visible_count(sqs, dlq_url)
    fifo = target_url.rstrip("/").endswith(".fifo")
    moved = 0
    while moved < limit:
        messages = _receive(sqs, dlq_url, min(10, limit - moved), _INSPECT_VISIBILITY_SECONDS)
        if not messages:
            break
        for message in messages:
            kwargs: dict[str, Any] = {"QueueUrl": target_url, "MessageBody": message["Body"]}
            attributes = {
                k: v for k, v in message.get("MessageAttributes", {}).items() if k not in DEAD_LETTER_ATTRIBUTES
            }
            if attributes:
                kwargs["MessageAttributes"] = attributes
            if fifo:
                kwargs["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
                kwargs["MessageDeduplicationId"] = message["MessageId"]
            try:
                sqs.send_message(**kwargs)
            except Exception:
                # Not sent: put it back in view at once rather than hidden for the visibility timeout
                # (best effort: the send's error is the one to report).
                with suppress(Exception):
                    _release(sqs, dlq_url, [m["ReceiptHandle"] for m in messages])
                raise
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            if progress is not None:
                progress(moved, _dead_letter(message))
    return moved


def _receive(sqs: SQSClient, queue_url: str, count: int, visibility: int) -> list[Any]:
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=count,
        WaitTimeSeconds=0,
        VisibilityTimeout=visibility,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def _dead_letter(message: Any) -> DeadLetterMessage:
    custom = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")
    return DeadLetterMessage(
        message_id=message["MessageId"],
        body=message["Body"],
        source_message_id=custom.get("sourceMessageId") or message["MessageId"],
        error_type=custom.get("errorType"),
        error_message=custom.get("errorMessage"),
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        sent_timestamp_ms=int(sent) if sent else None,
        attributes={k: v for k, v in custom.items() if k not in DEAD_LETTER_ATTRIBUTES},
    )


def message_summary(body: str) -> dict[str, str]:
    """The ids in a message body (orderId, tenantId, cartId) when it is JSON; never personal fields."""
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {k: str(document[k]) for k in ("orderId", "tenantId", "cartId") if isinstance(document.get(k), str)}


# event bus targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveredEvent:
    """An event as it reached a queue target: EventBridge's envelope, its detail, and the queue's message id."""

    message_id: str
    event_id: str
    time: str
    detail: dict[str, Any]

    @property
    def order_id(self) -> str:
        """The key consumers deduplicate on."""
        return str(self.detail.get("orderId", ""))


def create_bus_with_queue_target(events: Any, sqs: Any, name: str) -> tuple[str, str]:
    """A custom bus `name` and a rule on it delivering every OrderCreated event to a new queue `{name}-target`;
    returns (bus name, queue URL). A queue policy lets EventBridge send (moto delivers without one)."""
    from order_creator.publishing import DETAIL_TYPE, SOURCE

    # The rule's pattern: every OrderCreated event of this service (what a consumer's rule would match).
    pattern = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    target_arn = queue_arn(sqs, queue_url)
    rule_arn = events.put_rule(Name=f"{name}-order-created", EventBusName=name, EventPattern=json.dumps(pattern))[
        "RuleArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": target_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=f"{name}-order-created", EventBusName=name, Targets=[{"Id": "queue", "Arn": target_arn}])
    return name, queue_url


def delivered_events(sqs: Any, queue_url: str, *, limit: int | None = None) -> list[DeliveredEvent]:
    """The events waiting in a queue target, deleting none (each is received and made visible again).

    A message that is not an EventBridge event is listed with an empty detail rather than refused.
    """
    found = []
    for message in inspect_dead_letters(sqs, queue_url, limit=limit):  # a plain peek: nothing DLQ-specific
        try:
            envelope = json.loads(message.body)
        except ValueError:
            envelope = {}
        if not isinstance(envelope, dict):
            envelope = {}
        detail = envelope.get("detail")
        found.append(
            DeliveredEvent(
                message_id=message.message_id,
                event_id=str(envelope.get("id", "")),
                time=str(envelope.get("time", "")),
                detail=detail if isinstance(detail, dict) else {},
            )
        )
    return found
