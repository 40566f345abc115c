"""Misbehaving servers on loopback: a proxy in front of the moto server and a Cart API, both injecting faults.

Nothing in the code under test is patched. The handler reaches the proxy through `AWS_ENDPOINT_URL` and
the Cart API through `CART_LAMBDA_API_URL`, exactly as it reaches AWS and the real Cart API; the faults
are answers on the wire (throttling, cancelled transactions, 5xx, timeouts, malformed bodies) and, for
the crash tests, a SIGKILL of the process under test sent by the server that sees the chosen step happen.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import os
import random
import select
import signal
import socket
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from order_creator.local.loopback import LoopbackServer, reply

# Fault kinds, by where they happen. Each is one answer on the wire.
THROTTLE = "dynamodb_throughput_exceeded"  # 400 ProvisionedThroughputExceededException
THROTTLING = "dynamodb_throttling"  # 400 ThrottlingException
CONFLICT = "dynamodb_transaction_conflict"  # 400 TransactionCanceledException [TransactionConflict, None...]
DYNAMODB_500 = "dynamodb_500"  # 500 before the request reaches the table
COMMIT_THEN_500 = "dynamodb_commit_then_500"  # the transaction commits, the client sees a 500
SQS_500 = "sqs_500"  # the dead-letter send fails
CART_500 = "cart_500"
CART_429 = "cart_429"
CART_TIMEOUT = "cart_timeout"  # no answer within CART_API_TIMEOUT_SECONDS
CART_SLOW = "cart_slow"  # a late but good answer
CART_MALFORMED = "cart_malformed_json"  # 200 with a body that is not JSON (per cart, permanent)
CART_WRONG_TYPE = "cart_wrong_content_type"  # 200 text/html (per cart, permanent)
EVENTS_500 = "eventbridge_500"  # PutEvents answers 500 InternalException; nothing published
EVENTS_THROTTLED = "eventbridge_throttled"  # PutEvents answers 400 ThrottlingException; nothing published
EVENTS_PARTIAL = "eventbridge_partial"  # every second entry refused (InternalFailure), the others published
EVENTS_FAULTS = (EVENTS_500, EVENTS_THROTTLED, EVENTS_PARTIAL)

DYNAMODB_FAULTS = (THROTTLE, THROTTLING, CONFLICT, DYNAMODB_500, COMMIT_THEN_500)
CART_FAULTS = (CART_500, CART_429, CART_TIMEOUT, CART_SLOW)

# Crash steps: where the process under test is killed.
CARTS_FETCHED = "carts_fetched"  # every cart answered, the transaction not yet sent
TRANSACTION_SENT = "transaction_sent"  # TransactWriteItems on the wire, not applied
TRANSACTION_COMMITTED = "transaction_committed"  # applied, the answer never reaches the process
BEFORE_RESPONSE = "before_response"  # the write succeeded; killed while dead-lettering, before the response
CRASH_STEPS = (CARTS_FETCHED, TRANSACTION_SENT, TRANSACTION_COMMITTED, BEFORE_RESPONSE)
# The order-events publisher killed once EventBridge accepted its PutEvents, before its answer (the checkpoint).
EVENTS_PUBLISHED = "events_published"


class Faults:
    """A seeded choice of fault per request, shared by a server's threads; counts what it injected.

    `burst` makes the first requests of a kind fail in a row, enough to outlast the client's own retries.
    """

    def __init__(
        self, rates: Mapping[str, float] | None = None, seed: int = 0, burst: Mapping[str, int] | None = None
    ) -> None:
        self.rates = dict(rates or {})
        self.burst: Counter[str] = Counter(burst or {})
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def choose(self, kinds: Iterable[str]) -> str | None:
        """One of `kinds` with its rate, or None; never a fault while disabled."""
        with self._lock:
            if not self.enabled:
                return None
            for kind in kinds:
                if self.burst[kind] > 0:
                    self.burst[kind] -= 1
                    self.injected[kind] += 1
                    return kind
            roll = self._rng.random()
            bound = 0.0
            for kind in kinds:
                bound += self.rates.get(kind, 0.0)
                if roll < bound:
                    self.injected[kind] += 1
                    return kind
            return None

    def count(self, kind: str) -> None:
        """Record a fault injected by other means (a cart served malformed on purpose)."""
        with self._lock:
            self.injected[kind] += 1


class Crash:
    """A SIGKILL for one process, sent by whichever server first sees `step` happen."""

    def __init__(self, pid: int, step: str, carts_expected: int = 0) -> None:
        assert step in (*CRASH_STEPS, EVENTS_PUBLISHED), step
        self.pid = pid
        self.step = step
        self.carts_expected = carts_expected
        self.fired = threading.Event()
        self._carts_answered = 0
        self._lock = threading.Lock()

    def kill(self) -> None:
        """Kill the process once (later calls do nothing)."""
        with self._lock:
            if self.fired.is_set():
                return
            self.fired.set()
        with contextlib.suppress(ProcessLookupError):  # it finished first: the test sees no -9 exit
            os.kill(self.pid, signal.SIGKILL)

    def cart_answered(self) -> None:
        with self._lock:
            self._carts_answered += 1
            last = self._carts_answered == self.carts_expected
        if self.step == CARTS_FETCHED and last:
            self.kill()


# --- the DynamoDB / SQS proxy ---------------------------------------------------------------------


class WireProxy(LoopbackServer):
    """An HTTP proxy on loopback in front of the moto server, for boto3 (DynamoDB and SQS JSON protocols).

    It injects faults and crashes, delays requests as a network would, and counts them with the emulator's
    own time: requests reach moto one at a time (as moto serves them anyway), so the time under the lock is
    moto's. `GET /__counts` answers the counts as JSON, for a proxy running in another process (the bench).
    """

    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = delay  # seconds every request waits: the network's round trip
        self.reset()
        self._lock = threading.Lock()
        self._moto = threading.Lock()

    def reset(self) -> None:
        """No faults, no crash armed, no write delay, counts cleared."""
        self.faults = Faults()
        self.crash: Crash | None = None
        self.write_delay = 0.0  # seconds every TransactWriteItems waits on top: a slow DynamoDB
        self.operations: Counter[str] = Counter()
        self.moto_seconds: dict[str, float] = {}  # the emulator's own time, per operation
        self.abandoned = 0  # answers the client no longer waited for
        # Every PutEvents entry EventBridge (moto) accepted, exactly as the client sent it: moto re-reads
        # a Detail through float before delivering, so exact amounts are checked here.
        self.published: list[dict[str, Any]] = []
        self.refused_entries = 0  # PutEvents entries answered with an InternalFailure (EVENTS_PARTIAL)
        self.transaction_bytes: list[int] = []  # each TransactWriteItems' items, sized by the emulator's rules
        # Each SendMessageBatch SQS accepted: its entries' sizes by SQS's rules (body and attributes, in bytes).
        self.message_batches: list[list[int]] = []
        # PutEvents answers to give instead of EventBridge's, in order, one a request (nothing is published).
        self.crafted_put_events: list[Any] = []

    def counts(self) -> dict[str, Any]:
        """Requests per operation, moto's seconds per operation, answers abandoned."""
        with self._lock:
            return {
                "operations": dict(self.operations),
                "moto_seconds": dict(self.moto_seconds),
                "abandoned": self.abandoned,
            }

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.command == "GET" and request.path == "/__counts":
            reply(request, 200, json.dumps(self.counts()).encode())
            return
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        service, _, operation = (request.headers.get("X-Amz-Target") or "").partition(".")
        with self._lock:
            self.operations[operation] += 1
        time.sleep(self.delay + (self.write_delay if operation == "TransactWriteItems" else 0.0))
        if operation == "TransactWriteItems":
            # moto accepts any transaction size; DynamoDB refuses over 4 MB every time, so the proxy does.
            size = _transaction_bytes(body)
            self.transaction_bytes.append(size)
            if size > MAX_TRANSACTION_BYTES:
                reply(request, *_validation_error("Transaction request cannot be larger than 4 MB"))
                return
        if operation == "SendMessageBatch":
            # moto counts bodies in characters and no attributes; SQS counts bytes of both, so the proxy does.
            sizes, refusal = _sqs_batch_check(body)
            if refusal is not None:
                reply(request, *refusal)
                return
            self.message_batches.append(sizes)
        crash = self.crash
        if crash is not None and _kills_before(crash.step, operation):
            crash.kill()
            request.close_connection = True
            return
        kind = self.faults.choose(_applicable(service, operation))
        if operation == "PutEvents":  # before the generic faults: a partial failure is answered there
            self._put_events(request, body, kind)
            return
        if kind is not None and kind != COMMIT_THEN_500:
            reply(request, *_fault_answer(kind, body))
            return
        status, answer, headers = self._forward(request, body, operation)
        if crash is not None and crash.step == TRANSACTION_COMMITTED and operation == "TransactWriteItems":
            crash.kill()
            request.close_connection = True
            return
        if kind == COMMIT_THEN_500:
            status, answer, headers = _fault_answer(DYNAMODB_500, body)
        if not reply(request, status, answer, headers):
            with self._lock:
                self.abandoned += 1

    def _put_events(self, request: BaseHTTPRequestHandler, body: bytes, kind: str | None) -> None:
        """PutEvents: record what moto accepts; refuse it whole, or every second entry, when a fault says so."""
        if kind in (EVENTS_500, EVENTS_THROTTLED):
            reply(request, *_fault_answer(kind, body))
            return
        if self.crafted_put_events:
            document = self.crafted_put_events.pop(0)
            reply(request, 200, json.dumps(document).encode(), [("Content-Type", "application/x-amz-json-1.1")])
            return
        entries = json.loads(body)["Entries"]
        refused = set(range(1, len(entries), 2)) if kind == EVENTS_PARTIAL else set()
        if kind == EVENTS_PARTIAL and len(entries) == 1:
            refused = {0}
        sent = [e for i, e in enumerate(entries) if i not in refused]
        results: list[dict[str, Any]] = []
        if sent:
            status, answer, headers = self._forward(request, json.dumps({"Entries": sent}).encode(), "PutEvents")
            if status != 200:
                reply(request, status, answer, headers)
                return
            results = json.loads(answer)["Entries"]
            self.published.extend(e for e, r in zip(sent, results, strict=True) if "EventId" in r)
        accepted = iter(results)
        merged = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected by the test proxy"}
            if i in refused
            else next(accepted)
            for i in range(len(entries))
        ]
        crash = self.crash
        if crash is not None and crash.step == EVENTS_PUBLISHED and sent:
            crash.kill()
            request.close_connection = True
            return
        document = {"FailedEntryCount": sum("ErrorCode" in r for r in merged), "Entries": merged}
        with self._lock:
            self.refused_entries += len(refused)
        reply(request, 200, json.dumps(document).encode(), [("Content-Type", "application/x-amz-json-1.1")])

    def _forward(
        self, request: BaseHTTPRequestHandler, body: bytes, operation: str
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        # moto's single-threaded server closes every connection, so one connection per request. Content-Length
        # is http.client's to set (a _HOP_BY_HOP): PutEvents may forward fewer entries than it received.
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            with self._moto:
                started = time.perf_counter()
                connection.request(request.command, request.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                busy = time.perf_counter() - started
        except (OSError, http.client.HTTPException):
            return 502, b"upstream failed", [("Content-Type", "text/plain")]
        finally:
            connection.close()
        with self._lock:
            self.moto_seconds[operation] = self.moto_seconds.get(operation, 0.0) + busy
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return response.status, answer, kept


MAX_TRANSACTION_BYTES = 4 * 1024 * 1024  # DynamoDB's limit on the aggregate size of a transaction's items


def _transaction_bytes(request_body: bytes) -> int:
    """The aggregate size of the items a TransactWriteItems writes, by moto's own item-size rules."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    total = 0
    for entry in json.loads(request_body).get("TransactItems", []):
        item = entry.get("Put", {}).get("Item", {})
        total += sum(bytesize(name) + DynamoType(value).size() for name, value in item.items())
    return total


# SQS's limits for SendMessageBatch (its API reference): one message, its body and each attribute's name, data
# type and value counted in UTF-8 bytes, at most 1 MiB; the batch's messages together at most 1 MiB.
SQS_MESSAGE_LIMIT = 1_048_576
SQS_BATCH_LIMIT = 1_048_576


def sqs_message_bytes(entry: Mapping[str, Any]) -> int:
    """One SendMessageBatch entry's size as SQS counts it."""
    size = len(entry["MessageBody"].encode("utf-8", "surrogatepass"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
    return size


def _sqs_batch_check(request_body: bytes) -> tuple[list[int], tuple[int, bytes, list[tuple[str, str]]] | None]:
    """The entries' sizes, and SQS's refusal of the whole request when it breaks a limit (else None)."""
    entries = json.loads(request_body).get("Entries", [])
    sizes = [sqs_message_bytes(entry) for entry in entries]
    problem = None
    if sum(sizes) > SQS_BATCH_LIMIT:
        problem = ("BatchRequestTooLong", f"Batch requests cannot be longer than {SQS_BATCH_LIMIT} bytes")
    elif any(size > SQS_MESSAGE_LIMIT for size in sizes):
        reason = f"Message must be shorter than {SQS_MESSAGE_LIMIT} bytes"
        problem = ("InvalidParameterValue", f"One or more parameters are invalid. Reason: {reason}")
    if problem is None:
        return sizes, None
    document = {"__type": f"com.amazonaws.sqs#{problem[0]}", "message": problem[1]}
    return sizes, (400, json.dumps(document).encode(), [("Content-Type", "application/x-amz-json-1.0")])


def _validation_error(message: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    document = {"__type": "com.amazon.coral.validate#ValidationException", "message": message}
    return 400, json.dumps(document).encode(), [("Content-Type", "application/x-amz-json-1.0")]


def _kills_before(step: str, operation: str) -> bool:
    # The Cart API's kill after its last answer can land late (the parent's threads share one GIL);
    # killing on the arrival of any write stops a process that raced past it before it writes anything.
    if step == CARTS_FETCHED:
        return operation in ("TransactWriteItems", "SendMessageBatch")
    if step == TRANSACTION_SENT:
        return operation == "TransactWriteItems"
    return step == BEFORE_RESPONSE and operation == "SendMessageBatch"


def _applicable(service: str, operation: str) -> tuple[str, ...]:
    if service.startswith("DynamoDB"):
        if operation == "TransactWriteItems":
            return DYNAMODB_FAULTS
        return (THROTTLE, THROTTLING, DYNAMODB_500)
    if service == "AWSEvents" and operation == "PutEvents":
        return EVENTS_FAULTS
    if service == "AmazonSQS" and operation == "SendMessageBatch":
        return (SQS_500,)
    return ()


def _fault_answer(kind: str, request_body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
    dynamodb = "com.amazonaws.dynamodb.v20120810#"
    if kind == THROTTLE:
        status, document = 400, {"__type": f"{dynamodb}ProvisionedThroughputExceededException"}
    elif kind == THROTTLING:
        status, document = 400, {"__type": "com.amazon.coral.availability#ThrottlingException"}
    elif kind == DYNAMODB_500:
        status, document = 500, {"__type": f"{dynamodb}InternalServerError"}
    elif kind == SQS_500:
        status, document = 500, {"__type": "com.amazonaws.sqs#InternalError"}
    elif kind == EVENTS_500:
        status, document = 500, {"__type": "InternalException"}
    elif kind == EVENTS_THROTTLED:
        status, document = 400, {"__type": "ThrottlingException"}
    elif kind == CONFLICT:
        items = json.loads(request_body).get("TransactItems", [])
        reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
        reasons += [{"Code": "None"}] * (len(items) - 1)
        status, document = (
            400,
            {
                "__type": f"{dynamodb}TransactionCanceledException",
                "CancellationReasons": reasons,
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join(r['Code'] for r in reasons)}]",
            },
        )
    else:
        raise AssertionError(kind)
    document.setdefault("message", f"{kind} (injected by the test proxy)")
    return status, json.dumps(document).encode(), [("Content-Type", "application/x-amz-json-1.0")]


_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "content-length"}
)


# --- the Cart API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartReply:
    """What the Cart API answers for one cart. `fault` names a deliberate per-cart fault, for the counts."""

    body: str
    status: int = 200
    content_type: str = "application/json"
    fault: str | None = None
    delay: float = 0.0  # seconds before answering
    # Hostile answers (issue 16): extra headers (a Location for a redirect), the status line and headers
    # or the body sent one byte every `trickle` seconds, `padding` spaces after the body (a huge answer,
    # streamed, never held in memory), and no Content-Length (the body ends when the connection closes).
    headers: tuple[tuple[str, str], ...] = ()
    trickle: float = 0.0
    trickle_headers: bool = False
    padding: int = 0
    content_length: bool = True
    cut: int = 0  # the body's last `cut` bytes are announced in Content-Length but never sent (the connection closes)
    gzip: bool = False  # the body and its padding sent gzip-compressed (Content-Encoding: gzip): a small bomb

    @property
    def hostile(self) -> bool:
        """Whether this answer needs the raw writer (anything a well-behaved server would not do)."""
        return bool(self.headers or self.trickle or self.padding or not self.content_length or self.cut or self.gzip)


class CartApi(LoopbackServer):
    """The Cart API on loopback (`GET /v1.0/carts/{cartId}?tenantId=`), threaded like a real one.

    Carts are registered per (tenant id, cart id); an unknown one answers 404. On top, a seeded share of
    requests fails: 500, 429, no answer within the client's timeout, or a slow but good answer. A cart's
    `CartReply` may also be hostile (a redirect, a trickle, a huge body); `seen` keeps every request's
    headers and `bytes_sent` what the hostile answers actually put on the wire.
    """

    path = "/v1.0"

    def __init__(self, timeout_hold: float = 1.0, slow_delay: float = 0.15) -> None:
        super().__init__()
        self.timeout_hold = timeout_hold
        self.slow_delay = slow_delay
        self._carts: dict[tuple[str, str], CartReply] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.reset()

    def start(self, tls: ssl.SSLContext | None = None) -> str:
        """Serve in daemon threads (over TLS with `tls`); return the base URL with its version (CART_LAMBDA_API_URL)."""
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        return super().start()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def reset(self) -> None:
        """No carts, no faults, no crash armed, no delay."""
        with self._lock:
            self._carts.clear()
            self.requests = 0
            self.seen: list[dict[str, str]] = []
            self.bytes_sent = 0
        self.faults = Faults()
        self.crash: Crash | None = None
        self.delay = 0.0  # every answer waits this long (the deadline tests)

    def put(self, tenant_id: str, cart_id: str, answer: CartReply) -> None:
        """Answer requests for this cart with `answer`."""
        if answer.gzip:  # compressed now, not while the client waits
            _gzipped(answer.body.encode("utf-8", "surrogatepass"), answer.padding)
        with self._lock:
            self._carts[(tenant_id, cart_id)] = answer

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        tenant_id = parse_qs(parts.query).get("tenantId", [""])[0]
        cart_id = unquote(parts.path.removeprefix("/v1.0/carts/"))
        with self._lock:
            self.requests += 1
            self.seen.append(dict(request.headers.items()))
            answer = self._carts.get((tenant_id, cart_id))
        delay = self.delay + (answer.delay if answer is not None else 0.0)
        if delay:
            self._stopping.wait(delay)
        kind = self.faults.choose(CART_FAULTS)
        if kind == CART_TIMEOUT:
            # Hold the answer past the client's timeout; the client gives up and retries.
            self._stopping.wait(self.timeout_hold)
            reply(request, 503, b'{"message": "too late"}')
            return
        if kind in (CART_500, CART_429):
            reply(request, 500 if kind == CART_500 else 429, b'{"message": "injected"}')
            return
        if kind == CART_SLOW:
            self._stopping.wait(self.slow_delay)
        if answer is None:
            answer = CartReply('{"message": "cart not found"}', status=404)
        elif answer.fault is not None:
            self.faults.count(answer.fault)
        body = answer.body.encode("utf-8", "surrogatepass")
        if answer.hostile:
            self._send_hostile(request, answer, body)
        else:
            reply(request, answer.status, body, [("Content-Type", answer.content_type)])
        if self.crash is not None:
            self.crash.cart_answered()

    def _send_hostile(self, request: BaseHTTPRequestHandler, reply: CartReply, body: bytes) -> None:
        """Write the answer on the raw socket, as slowly or as long as `reply` asks; stop when the client leaves."""
        request.close_connection = True
        lines = [f"HTTP/1.1 {reply.status} Hostile", f"Content-Type: {reply.content_type}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        padding = reply.padding
        if reply.gzip:
            body, padding = _gzipped(body, padding), 0
            lines.append("Content-Encoding: gzip")
        if reply.content_length:
            lines.append(f"Content-Length: {len(body) + padding}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self._write(request, head, reply.trickle if reply.trickle_headers else 0.0)
            self._write(request, body[: len(body) - reply.cut], 0.0 if reply.trickle_headers else reply.trickle)
            chunk = b" " * 65536
            left = padding
            while left > 0 and not self._stopping.is_set():
                self._write(request, chunk[:left], 0.0)
                left -= len(chunk)
        except OSError:  # the client gave up: exactly what a bounded client should do
            return

    def _write(self, request: BaseHTTPRequestHandler, data: bytes, trickle: float) -> None:
        if not trickle:
            request.wfile.write(data)
            request.wfile.flush()
            with self._lock:
                self.bytes_sent += len(data)
            return
        for i in range(len(data)):
            if self._stopping.wait(trickle):
                return
            request.wfile.write(data[i : i + 1])
            request.wfile.flush()
            with self._lock:
                self.bytes_sent += 1


@functools.lru_cache(maxsize=4)
def _gzipped(body: bytes, padding: int) -> bytes:
    """`body` and `padding` spaces, gzip-compressed a block at a time (the spaces are never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    blocks = [compressor.compress(body)]
    spaces = b" " * 65536
    for start in range(0, padding, len(spaces)):
        blocks.append(compressor.compress(spaces[: padding - start]))
    blocks.append(compressor.flush())
    return b"".join(blocks)


class _RawServer:
    """A TCP server on loopback handing each connection to `serve` in a daemon thread; `stop` closes them all."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.accepted = 0

    @property
    def address(self) -> str:
        """`host:port`."""
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        """Accept in a daemon thread."""
        threading.Thread(target=self._accept, name=type(self).__name__, daemon=True).start()

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self.stopping.set()
        self._listener.close()
        self.drop()

    def drop(self) -> None:
        """Close every open connection, as a network drops idle ones (a NAT's timeout, a frozen Lambda)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def serve(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._connections.append(connection)
            threading.Thread(target=self._serve_quietly, args=(connection,), daemon=True).start()

    def _serve_quietly(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):  # the client gave up, or the test dropped the connection
            self.serve(connection)
        connection.close()


class TunnelProxy(_RawServer):
    """An HTTP proxy for HTTPS on loopback (`CONNECT host:port`, then bytes both ways), as a Lambda in a VPC
    without a NAT reaches an outside Cart API through `HTTPS_PROXY`. With `trickle` it sends its answer to
    CONNECT one byte every `trickle` seconds; with `credentials` ("user:password") it answers 407 to a CONNECT
    without them in Proxy-Authorization. `accepted` counts the tunnels asked for.
    """

    def __init__(self, trickle: float = 0.0, credentials: str | None = None) -> None:
        super().__init__()
        self.trickle = trickle
        self.credentials = credentials

    @property
    def url(self) -> str:
        """The proxy's URL (HTTPS_PROXY)."""
        return f"http://{self.address}"

    def serve(self, connection: socket.socket) -> None:
        upstream = self._connect(connection)
        if upstream is None:
            return
        answer = b"HTTP/1.1 200 Connection established\r\n\r\n"
        if not self.trickle:
            connection.sendall(answer)
        for i in range(len(answer)) if self.trickle else ():
            if self.stopping.wait(self.trickle):
                return
            connection.sendall(answer[i : i + 1])
        _pipe(connection, upstream, self.stopping)

    def _connect(self, connection: socket.socket) -> socket.socket | None:
        """Read the CONNECT request and open the tunnel's upstream; None when the client left or was refused
        (407 without the credentials)."""
        head = b""
        while b"\r\n\r\n" not in head:
            data = connection.recv(4096)
            if not data:
                return None
            head += data
        if self.credentials is not None:
            expected = "Proxy-Authorization: Basic " + base64.b64encode(self.credentials.encode()).decode()
            if expected.lower().encode() not in head.lower():
                connection.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return None
        host, _, port = head.split()[1].decode().rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=5)
        with self._lock:
            self._connections.append(upstream)
        return upstream


class TrickledTunnel(TunnelProxy):
    """An https:// proxy (HTTPS_PROXY=https://...): spoken to over TLS with `tls`, it tunnels to the Cart API
    and passes on what the Cart API sends one byte every `trickle` seconds, so the client's TLS handshake with
    the Cart API, inside the proxy's TLS, arrives a byte at a time."""

    def __init__(self, tls: ssl.SSLContext, trickle: float) -> None:
        super().__init__()
        self.tls = tls
        self.tunnel_trickle = trickle

    @property
    def url(self) -> str:
        """The proxy's URL (HTTPS_PROXY)."""
        return f"https://{self.address}"

    def serve(self, connection: socket.socket) -> None:
        connection = self.tls.wrap_socket(connection, server_side=True)
        upstream = self._connect(connection)
        if upstream is None:
            return
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        connection.settimeout(None)
        upstream.settimeout(None)
        while not self.stopping.is_set():
            readable, _, _ = select.select([connection, upstream], [], [], 0.5)
            if connection in readable or connection.pending():  # the client's bytes go on at once
                data = connection.recv(65536)
                if not data:
                    return
                upstream.sendall(data)
            if upstream in readable:
                data = upstream.recv(65536)
                if not data:
                    return
                for i in range(len(data)):
                    if self.stopping.wait(self.tunnel_trickle):
                        return
                    connection.sendall(data[i : i + 1])


def _pipe(one: socket.socket, other: socket.socket, stopping: threading.Event) -> None:
    """Bytes both ways until either side closes."""
    one.settimeout(None)
    other.settimeout(None)
    while not stopping.is_set():
        readable, _, _ = select.select([one, other], [], [], 0.5)
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (other if source is one else one).sendall(data)


class TrickledHandshake(_RawServer):
    """A Cart API that accepts the connection and then trickles its TLS handshake: a record announcing
    16 KB of handshake, one byte every `trickle` seconds (about an hour for the whole of it)."""

    def __init__(self, trickle: float) -> None:
        super().__init__()
        self.trickle = trickle

    @property
    def url(self) -> str:
        """The Cart API's base URL (CART_LAMBDA_API_URL)."""
        return f"https://{self.address}/v1.0"

    def serve(self, connection: socket.socket) -> None:
        connection.recv(65536)  # the client's hello
        connection.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16,384 bytes
        while not self.stopping.wait(self.trickle):
            connection.sendall(b"\x02")


def self_signed_tls(folder: str) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 with a fresh self-signed certificate, and that certificate's PEM
    path (a client trusts it with REQUESTS_CA_BUNDLE)."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(folder, "cart-api.pem"), Path(folder, "cart-api.key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)
