"""DeadLetterQueue: sends permanent failures to DEAD_LETTER_QUEUE_URL with their reason (contract §5).

Letters are packed into `SendMessageBatch` requests by bytes, against SQS's limits (docs/design.md): the body
goes byte for byte, our attributes take the room left (`errorMessage` shortened to fit), and a body at the
exact limit goes alone, without them. No body is ever refused for our attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong
from typing import TYPE_CHECKING, Any

from order_creator.ports import DeadLetter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_MESSAGE_BYTES = 1_048_576  # one message: body and attributes
MAX_REQUEST_BYTES = 1_048_576  # the messages of one SendMessageBatch together
MAX_ENTRIES = 10
_MAX_REASON_BYTES = 1024  # errorMessage at most, even with room to spare
_STRING = "String"


class DeadLetterQueue:
    """Implements `ports.DeadLetterSink` with SendMessageBatch. `client` is the SQS client, or what makes it on the
    first send (most batches send nothing)."""

    def __init__(self, queue_url: str, client: SQSClient | Callable[[], SQSClient]) -> None:
        self._url = queue_url
        self._client_or_factory = client
        self._fifo = queue_url.endswith(".fifo")
        self._sender: ThreadPoolExecutor | None = None

    @property
    def _client(self) -> SQSClient:
        if callable(self._client_or_factory):  # a boto3 client is not callable: this is the factory
            self._client_or_factory = self._client_or_factory()
        return self._client_or_factory

    def send(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> set[str]:
        """Send every letter; return the message ids SQS did not accept (they stay in the source queue).

        Each request is waited for only `time_left()` seconds, and none is started once they are spent: its
        letters come back unsent. SQS may still take a request after the wait: that message is then dead-lettered
        and also redelivered (dead letters are at least once, never lost).
        """
        unsent: set[str] = set()
        for request in self._requests(letters):
            seconds = time_left()
            if seconds > 0:
                unsent |= self._send_within(request, seconds)
            else:
                unsent.update(letter.message_id for letter, _ in request)
        return unsent

    def _send_within(self, request: list[tuple[DeadLetter, dict[str, Any]]], seconds: float) -> set[str]:
        """`_send` on a worker thread, waited for `seconds` at most. A call still running then keeps its thread
        (the SDK's own timeouts end it) and the next request gets a new one."""
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dead-letters")
        future = self._sender.submit(self._send, request)
        try:
            return future.result(timeout=seconds)
        except WaitedTooLong:
            self._sender.shutdown(wait=False, cancel_futures=True)
            self._sender = None
            return {letter.message_id for letter, _ in request}

    def _send(self, request: list[tuple[DeadLetter, dict[str, Any]]]) -> set[str]:
        """One SendMessageBatch; the message ids of its letters SQS did not accept."""
        from botocore.exceptions import BotoCoreError, ClientError

        entries = [{"Id": str(i), **entry} for i, (_, entry) in enumerate(request)]
        try:
            response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)  # type: ignore[arg-type]
        except (BotoCoreError, ClientError):
            return {letter.message_id for letter, _ in request}
        return {request[int(failed["Id"])][0].message_id for failed in response.get("Failed", [])}

    def _requests(self, letters: Sequence[DeadLetter]) -> Iterator[list[tuple[DeadLetter, dict[str, Any]]]]:
        """The letters with their entries, in order, packed into requests within SQS's limits."""
        request: list[tuple[DeadLetter, dict[str, Any]]] = []
        size = 0
        for letter in letters:
            entry, entry_size = self._entry(letter)
            if request and (len(request) == MAX_ENTRIES or size + entry_size > MAX_REQUEST_BYTES):
                yield request
                request, size = [], 0
            request.append((letter, entry))
            size += entry_size
        if request:
            yield request

    def _entry(self, letter: DeadLetter) -> tuple[dict[str, Any], int]:
        """The letter's entry (without its Id) and its size as SQS counts it: at most the message limit."""
        size = len(letter.body.encode("utf-8", "surrogatepass"))
        attributes: dict[str, Any] = {}
        reason = letter.error_message or letter.error_type
        for name, value, whole in (
            ("sourceMessageId", letter.message_id, True),
            ("errorType", letter.error_type, True),
            ("errorMessage", reason, False),
        ):
            room = MAX_MESSAGE_BYTES - size - len(name) - len(_STRING)
            encoded = value.encode("utf-8", "replace")
            if not whole:
                # at most that many bytes, cut before a character, never inside one
                encoded = encoded[: max(0, min(room, _MAX_REASON_BYTES))].decode("utf-8", "ignore").encode("utf-8")
            if encoded and len(encoded) <= room:  # SQS refuses an empty attribute value
                attributes[name] = {"DataType": _STRING, "StringValue": encoded.decode("utf-8")}
                size += len(name) + len(_STRING) + len(encoded)
        entry: dict[str, Any] = {"MessageBody": letter.body, "MessageAttributes": attributes}
        if self._fifo:
            entry["MessageGroupId"] = "dead-letters"
            entry["MessageDeduplicationId"] = letter.message_id[:128]
        return entry, size
