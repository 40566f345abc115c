"""One error taxonomy: a record fails permanently (it will never succeed) or transiently (retry it)."""

from __future__ import annotations


class OrderCreatorError(Exception):
    """Base of every error this package raises on purpose."""

    @property
    def error_type(self) -> str:
        """The short, stable name written to the dead-letter message's `errorType` attribute."""
        return type(self).__name__


class PermanentError(OrderCreatorError):
    """The record can never succeed as it is: dead-letter it with its reason."""


class TransientError(OrderCreatorError):
    """The record may succeed later: report it in `batchItemFailures` so SQS redelivers it."""


class InvalidMessage(PermanentError):
    """The SQS body is not JSON or does not match the message schema."""


class CartNotFound(PermanentError):
    """The Cart API answered 404 for the message's cart."""


class CartRejected(PermanentError):
    """The Cart API refused the request with a 4xx other than 404, 408 and 429."""


class InvalidCart(PermanentError):
    """The cart is malformed, its amounts do not add up, or it belongs to another tenant or cart id."""


class OrderConflict(PermanentError):
    """The order id is already taken by an order for another cart."""


class UnstorableOrder(PermanentError):
    """The table can never store the order: its item is over DynamoDB's 400 KB, or a number is out of its range."""


class CartUnavailable(TransientError):
    """The Cart API timed out, refused the connection, or answered 408, 429 or 5xx after retries."""


class StoreUnavailable(TransientError):
    """DynamoDB throttled or failed after the SDK's retries, or could not be read."""


class DeadlineExceeded(TransientError):
    """Too little Lambda time was left to finish the record safely; it was not started or not finished."""


class DeadLetterFailed(TransientError):
    """A permanent failure could not be sent to the dead-letter queue, so SQS must keep it."""


class ConfigurationError(Exception):
    """An environment variable is missing or malformed. Fails the whole invocation: no record is at fault."""
