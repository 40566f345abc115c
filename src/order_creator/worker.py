"""The SQS worker: runs the Lambda handler outside Lambda, the way Lambda's event source mapping would.

It long-polls the queue, hands each batch to the very same handler as Lambda does (`order_creator.handler`'s
`run_batch`, which is `lambda_handler` with the batch's report, for what became of each message) as a
real SQS event, with a context whose remaining time is what is left of the visibility timeout, deletes
the messages that succeeded and leaves the ones in `batchItemFailures` to become visible again (the
queue's redrive policy eventually moves them to its dead-letter queue). If the handler raises, the
whole batch is left, as Lambda does. `stop()` lets the batch in hand finish, deletes what succeeded, and
ends the loop: nothing is lost and nothing is done twice. Under the command's signal scheme
(`order_creator.interrupts`), a first SIGINT/SIGTERM during a batch is such a stop; one while the worker
waits on the queue ends the wait at once (a message received in that instant comes back after its
visibility timeout).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from order_creator.errors import ConfigurationError
from order_creator.interrupts import Interrupted, batch_in_hand, say

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

logger = logging.getLogger(__name__)

# Time kept back from the visibility timeout so the successes are deleted before SQS redelivers them.
DELETE_MARGIN_SECONDS = 0.5
MAX_BATCH_SIZE = 10  # SQS's ReceiveMessage limit


def polling_client(wait_seconds: int = 20) -> SQSClient:
    """An SQS client whose read timeout outlasts a long poll (the handler's clients give up after 5 s)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2, read_timeout=wait_seconds + 10, retries={"mode": "standard", "total_max_attempts": 3}
    )
    return boto3.session.Session().client("sqs", config=config)


def check_table(table_name: str) -> None:
    """Refuse a table the handler cannot work with, before any message moves: a missing one raises the SDK's
    ResourceNotFoundException (as the `orders` commands meet it), one without this project's indexes (a table of
    another schema) a ConfigurationError naming them. Otherwise every message would be taken and failed."""
    from order_creator import clients
    from order_creator.store.keys import missing_indexes

    missing = missing_indexes(clients.dynamodb().describe_table(TableName=table_name)["Table"])
    if missing:
        raise ConfigurationError(
            f"table {table_name} has no {', '.join(missing)}: it was not created with this project's schema "
            "(order-creator table create)"
        )


class WorkerContext(LambdaContext):
    """A Lambda context for one batch: its remaining time counts down to `deadline` (time.monotonic)."""

    def __init__(self, deadline: float, function_name: str = "order-creator-worker") -> None:
        self._deadline = deadline
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"local:worker:{function_name}"
        self._memory_limit_in_mb = 0
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = "order-creator-worker"
        self._log_stream_name = "order-creator-worker"

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # an instance's clock, not static
        """Milliseconds until the batch's messages become visible again, less the delete margin."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Tally:
    """What became of a number of received messages."""

    received: int = 0
    created: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    done: int = 0  # deleted with no outcome reported (a handler that does not say)
    left: int = 0

    def add(self, other: Tally) -> None:
        """Count `other` in."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def describe(self) -> str:
        """`5 messages: 1 created, 1 duplicate, 3 dead-lettered, 0 left to SQS` (only the counts that apply)."""
        parts = [
            plural(n, word)
            for n, word in (
                (self.created, "created"),
                (self.duplicates, "duplicate"),
                (self.dead_lettered, "dead-lettered"),
                (self.done, "done"),
            )
            if n
        ]
        parts.append(f"{self.left} left to SQS")
        return f"{plural(self.received, 'message')}: {', '.join(parts)}"


@dataclass
class BatchResult:
    """What became of one received batch. `outcomes` is what the handler reported per message, if it did."""

    received: list[str]
    deleted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    error: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)

    def tally(self) -> Tally:
        """The batch in counts: a deleted message the handler called permanent went to the dead-letter queue."""
        tally = Tally(received=len(self.received), left=len(self.left))
        for message_id in self.deleted:
            outcome = self.outcomes.get(message_id)
            if outcome == "created":
                tally.created += 1
            elif outcome == "duplicate":
                tally.duplicates += 1
            elif outcome == "permanent":
                tally.dead_lettered += 1
            else:
                tally.done += 1
        return tally


@dataclass
class WorkerTotals:
    """Counts over a worker's run, and why it ended: `queue empty`, a signal's name, or the reason given to stop()."""

    batches: int = 0
    tally: Tally = field(default_factory=Tally)
    ended: str = ""

    def describe(self) -> str:
        """`stopped (queue empty) after 2 batches: 15 messages: ...`."""
        if not self.batches:
            return f"stopped ({self.ended}): no message received"
        return f"stopped ({self.ended}) after {plural(self.batches, 'batch')}: {self.tally.describe()}"


def plural(count: int, word: str) -> str:
    """`1 batch`, `2 batches`, `3 messages`; words that do not inflect (created, done) stay as they are."""
    if count == 1 or word in ("created", "dead-lettered", "done"):
        return f"{count} {word}"
    return f"{count} {word}es" if word.endswith(("ch", "s", "sh", "x")) else f"{count} {word}s"


class SqsWorker:
    """Long-polls one queue and runs the handler on each batch. Call `run()`; `stop()` from anywhere."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        *,
        handler: Handler | None = None,
        batch_size: int = MAX_BATCH_SIZE,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
    ) -> None:
        """Read the queue's ARN and visibility timeout (a wrong URL fails here, before any message moves)."""
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be 1-{MAX_BATCH_SIZE}, got {batch_size}")
        if not 0 <= wait_seconds <= 20:
            raise ValueError(f"wait seconds must be 0-20, got {wait_seconds}")
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"])[
            "Attributes"
        ]
        self._sqs = sqs
        self._url = queue_url
        self._arn = attributes["QueueArn"]
        self._region = self._arn.split(":")[3] if self._arn.count(":") >= 5 else sqs.meta.region_name
        self._visibility = (
            visibility_timeout if visibility_timeout is not None else int(attributes["VisibilityTimeout"])
        )
        self._explicit_visibility = visibility_timeout is not None
        self._handler = handler
        self._batch_size = batch_size
        self._wait = wait_seconds
        # A plain value, not a threading.Event: setting it from a signal handler can never block on a lock.
        self._stop_reason: str | None = None

    @property
    def visibility_timeout(self) -> int:
        """Seconds a received batch stays invisible: the handler's time budget."""
        return self._visibility

    def stop(self, reason: str = "stop requested") -> None:
        """Finish the batch in hand (if any), then leave `run()`. Safe from a signal handler or another thread."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stop_reason is not None

    def run(
        self, *, until_drained: bool = False, on_batch: Callable[[BatchResult], None] | None = None
    ) -> WorkerTotals:
        """Poll and process until `stop()`, or, with `until_drained`, until the queue holds no message at all.

        With `until_drained` the queue is asked before every poll, so an empty queue ends the run at once
        rather than after a long poll. A signal (`order_creator.interrupts`) while waiting ends the run
        at once; during a batch, once the batch is done.
        """
        totals = WorkerTotals()
        failures = 0
        try:
            while not self.stopping:
                try:
                    if until_drained and self.drained():
                        totals.ended = "queue empty"
                        break
                    result = self.poll_once()
                except (BotoCoreError, ClientError) as error:
                    # SQS unreachable or refusing for a while: what is received and not deleted comes back by
                    # itself, so wait (bounded, stoppable) and poll again, as the event source mapping would.
                    failures += 1
                    delay = min(20.0, 0.5 * 2**failures)
                    logger.warning("SQS call failed (%s); polling again in %.1f s", _describe(error), delay)
                    self._pause(delay)
                    continue
                failures = 0
                if result is None:
                    continue
                totals.batches += 1
                totals.tally.add(result.tally())
                if on_batch is not None:
                    on_batch(result)
        except Interrupted as interrupt:  # between batches: nothing in hand
            self.stop(interrupt.name)
        totals.ended = totals.ended or self._stop_reason or ""
        return totals

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def poll_once(self) -> BatchResult | None:
        """Receive one batch (long polling) and process it; None when no message came."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self._url,
            "MaxNumberOfMessages": self._batch_size,
            "WaitTimeSeconds": self._wait,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self._explicit_visibility:
            kwargs["VisibilityTimeout"] = self._visibility
        messages = self._sqs.receive_message(**kwargs).get("Messages", [])
        received = time.monotonic()
        if not messages:
            return None
        # SQS hides a message from the moment it hands it out, not from when the long poll began (which may have
        # waited up to 20 s for it): the batch's time starts at the receipt, its answer's trip being within the
        # delete margin.
        return self.process(messages, deadline=received + self._visibility - DELETE_MARGIN_SECONDS)

    def process(self, messages: list[Any], *, deadline: float) -> BatchResult:
        """Run the handler on these received messages; delete the successes, leave the failures."""
        result = BatchResult(received=[m["MessageId"] for m in messages])
        with batch_in_hand(self._stop_after_batch(len(messages))):
            return self._process(messages, result, deadline)

    def _stop_after_batch(self, size: int) -> Callable[[str], None]:
        def on_signal(name: str) -> None:
            say(
                f"worker: {name}: finishing the batch in hand ({plural(size, 'message')}), then stopping;"
                f" a second {name} ends at once"
            )
            self.stop(name)

        return on_signal

    def _process(self, messages: list[Any], result: BatchResult, deadline: float) -> BatchResult:
        event = {"Records": [self._record(m) for m in messages]}
        try:
            response, result.outcomes = self._run(event, WorkerContext(deadline))
            failed = {str(f.get("itemIdentifier") or "") for f in response.get("batchItemFailures", [])}
        except Exception as error:  # the handler's own failure: Lambda would retry the whole batch
            logger.exception("handler failed; leaving the whole batch to SQS")
            result.left = list(result.received)
            result.error = f"{type(error).__name__}: {error}"
            return result
        if not failed <= set(result.received):
            # As Lambda: an unknown or empty itemIdentifier fails the whole batch.
            result.left = list(result.received)
            result.error = "batchItemFailures named a message outside the batch"
            return result
        done = [m for m in messages if m["MessageId"] not in failed]
        result.left = [m for m in result.received if m in failed]
        result.deleted = self._delete(done)
        return result

    def drained(self) -> bool:
        """True when the queue has no visible, in-flight or delayed message."""
        names: Any = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        response: Any = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)
        return all(int(response["Attributes"].get(name, "0")) == 0 for name in names)

    def _run(self, event: dict[str, Any], context: LambdaContext) -> tuple[dict[str, Any], dict[str, str]]:
        """The handler's answer, and what became of each message (message id -> created, duplicate, permanent...)
        when the handler is the product's own (a handler given to the worker does not say)."""
        if self._handler is not None:
            return self._handler(event, context), {}
        from order_creator.handler import run_batch

        answer, report = run_batch(event, context)
        return answer, {o.record.message_id: o.status.value for o in report.outcomes}

    def _record(self, message: Any) -> dict[str, Any]:
        """The record as Lambda's event source mapping delivers it."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self._region,
        }

    def _delete(self, messages: list[Any]) -> list[str]:
        if not messages:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        response = self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)  # type: ignore[arg-type]
        failed = {int(f["Id"]) for f in response.get("Failed", [])}
        for index in sorted(failed):
            # Not lost: the message comes back and the handler finds its order (a duplicate).
            logger.warning("could not delete message %s: it will be redelivered", messages[index]["MessageId"])
        return [m["MessageId"] for i, m in enumerate(messages) if i not in failed]


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


def _lambda_attribute(value: Any) -> dict[str, Any]:
    """An SQS message attribute in the event's camelCase shape."""
    shaped: dict[str, Any] = {
        "dataType": value.get("DataType", "String"),
        "stringListValues": [],
        "binaryListValues": [],
    }
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return shaped
