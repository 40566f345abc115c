"""DeadLetterQueue: sends permanent failures to DEAD_LETTER_QUEUE_URL with their reason (contract §5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from order_creator.ports import DeadLetter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_MAX_REASON = 1024


class DeadLetterQueue:
    """Implements `ports.DeadLetterSink` with SendMessageBatch (ten a call); the body goes byte for byte.

    `client` is the SQS client, or what makes it on the first send: most batches send nothing, and creating
    an SQS client costs a cold start 60-100 ms of CPU (`docs/benchmarks.md`).
    """

    def __init__(self, queue_url: str, client: SQSClient | Callable[[], SQSClient]) -> None:
        self._url = queue_url
        self._client_or_factory = client
        self._fifo = queue_url.endswith(".fifo")

    @property
    def _client(self) -> SQSClient:
        if callable(self._client_or_factory):  # a boto3 client is not callable: this is the factory
            self._client_or_factory = self._client_or_factory()
        return self._client_or_factory

    def send(
        self,
        letters: Sequence[DeadLetter],
        *,
        time_left: Callable[[], float] | None = None,  # the port's bound: honoured by the byte packing (issue 21)
    ) -> set[str]:
        """Send every letter; return the message ids SQS did not accept (they stay in the source queue)."""
        from botocore.exceptions import BotoCoreError, ClientError

        unsent: set[str] = set()
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._url, Entries=[self._entry(str(i), letter) for i, letter in enumerate(chunk)]
                )
            except (BotoCoreError, ClientError):
                unsent.update(letter.message_id for letter in chunk)
                continue
            unsent.update(chunk[int(failed["Id"])].message_id for failed in response.get("Failed", []))
        return unsent

    def _entry(self, entry_id: str, letter: DeadLetter) -> Any:
        entry: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": letter.body,
            "MessageAttributes": {
                "errorType": _string(letter.error_type),
                "errorMessage": _string(letter.error_message[:_MAX_REASON] or letter.error_type),
                "sourceMessageId": _string(letter.message_id),
            },
        }
        if self._fifo:
            entry["MessageGroupId"] = "dead-letters"
            entry["MessageDeduplicationId"] = letter.message_id[:128]
        return entry


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}
