"""A small local fake of Stripe's API, for the real ``stripe`` SDK to talk to
(docs/architecture.md, Tests).

It implements only what the portal calls — customers, Checkout sessions (setup and payment
mode, retrieved too), SetupIntents, PaymentMethods, PaymentIntents (each successful one with
its charge) and refunds (made and listed by charge) — and is strict where the portal must be
careful:

- every POST must carry an ``Idempotency-Key`` header (400 otherwise), and a key sent again
  with the same request returns the first answer byte for byte, as Stripe does; the same key
  with another request is Stripe's ``idempotency_error``;
- a PaymentIntent is declined the way Stripe's test cards are (402 ``card_error`` with
  ``authentication_required`` off-session for the 3184 card, ``card_declined`` for 0002…);
- ``fail_next_posts(n)`` makes the next POSTs answer 500 without remembering their key, like
  a request that never reached Stripe.

Tests drive what a partner does on Stripe's hosted pages with ``complete_setup`` and
``pay_checkout``, what someone does in Stripe's dashboard with ``refund_in_dashboard``, read
a charge as a ``charge.*`` event carries it with ``charge_of``, and build signed webhook
deliveries with ``event_payload`` and
``signature_header`` (``t=<ts>,v1=<hex HMAC-SHA256 of "t.payload">``, as Stripe signs).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from portal_core.payments.test_cards import TEST_CARDS, card_by_reference

SECRET_KEY = "sk_test_fake_0123456789"
WEBHOOK_SECRET = "whsec_fake_0123456789abcdef"


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


class FakeStripe:
    """The fake's state; ``url`` is where the SDK should send requests once started."""

    def __init__(self) -> None:
        self.url = ""
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._answers: dict[str, tuple[str, dict[str, Any], int, bytes]] = {}
        self._card_of_method: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._failures = 0

    # --- What tests do on Stripe's side ---------------------------------------------------

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def fail_next_posts(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def complete_setup(self, session_id: str, test_card: str = "pm_card_visa") -> dict[str, Any]:
        """The partner entered ``test_card`` on the setup page: a new PaymentMethod is
        attached to the session's SetupIntent; returns the completed session."""
        with self._lock:
            session = self.objects[session_id]
            method = self._new_method(test_card, session.get("customer"))
            intent = self.objects[session["setup_intent"]]
            intent.update(status="succeeded", payment_method=method["id"])
            session.update(status="complete")
            return json.loads(json.dumps(session))

    def pay_checkout(self, session_id: str) -> dict[str, Any]:
        """The partner paid on the payment page; returns the completed, paid session (with the
        PaymentIntent that charged the card)."""
        with self._lock:
            session = self.objects[session_id]
            intent = self._store(
                "pi",
                "payment_intent",
                {
                    "amount": int(session.get("amount_total") or 0),
                    "customer": session.get("customer"),
                    "metadata": (session.get("payment_intent_data") or {}).get("metadata", {}),
                    "status": "succeeded",
                },
            )
            self._charge(intent)
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
            return json.loads(json.dumps(session))

    def refund_in_dashboard(self, intent_id: str, amount: int) -> dict[str, Any]:
        """Someone refunded ``amount`` of a charge in Stripe's dashboard (no portal metadata);
        returns the refund."""
        with self._lock:
            status, body = self._refund({"payment_intent": intent_id, "amount": str(amount)})
            assert status == 200, body
            return dict(json.loads(body))

    def charge_of(self, intent_id: str, *, with_refunds: bool = True) -> dict[str, Any]:
        """The charge of a PaymentIntent as a ``charge.*`` event carries it: its refunds
        listed, or (``with_refunds=False``) not, as newer API versions send it."""
        with self._lock:
            charge = dict(self.objects[self.objects[intent_id]["latest_charge"]])
            refunds = [r for r in self.objects.values() if r.get("charge") == charge["id"]]
            charge["amount_refunded"] = sum(int(r["amount"]) for r in refunds)
            charge["refunded"] = charge["amount_refunded"] >= int(charge["amount"])
            if with_refunds:
                charge["refunds"] = {"object": "list", "data": refunds}
            return json.loads(json.dumps(charge))

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self.objects[session_id]
            session.update(status="expired")
            return json.loads(json.dumps(session))

    # --- The HTTP side --------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        key = headers.get("idempotency-key")
        with self._lock:
            self.requests.append(Recorded(method, path, params, key))
            if headers.get("authorization") != f"Bearer {SECRET_KEY}":
                return _error(401, "invalid_request_error", "Invalid API Key provided.")
            if method == "POST":
                if not key:
                    return _error(
                        400, "invalid_request_error", "fake: an Idempotency-Key header is required"
                    )
                if self._failures > 0:
                    self._failures -= 1
                    return _error(500, "api_error", "fake: an error on Stripe's side")
                if key in self._answers:
                    first_path, first_params, status, body = self._answers[key]
                    if (first_path, first_params) != (path, params):
                        return _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        )
                    return status, body
                status, body = self._route(method, path, params)
                self._answers[key] = (path, params, status, body)
                return status, body
            return self._route(method, path, params)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            return _ok(self._store("cus", "customer", params))
        if method == "POST" and path == "/v1/checkout/sessions":
            return _ok(self._checkout_session(params))
        if method == "POST" and path == "/v1/payment_intents":
            return self._payment_intent(params)
        if method == "POST" and path == "/v1/refunds":
            return self._refund(params)
        if method == "GET" and path == "/v1/refunds":
            charge = params.get("charge")
            listed = [r for r in self.objects.values() if r.get("object") == "refund"]
            data = [r for r in listed if charge is None or r.get("charge") == charge]
            return _ok({"object": "list", "data": data, "has_more": False})
        if method == "GET" and len(parts) == 4 and parts[1:3] == ["checkout", "sessions"]:
            found = self.objects.get(parts[3])
            if found is None:
                return _error(
                    404, "invalid_request_error", f"No such checkout session: '{parts[3]}'"
                )
            return _ok(found)
        if (
            method == "GET"
            and len(parts) == 3
            and parts[1]
            in (
                "setup_intents",
                "payment_methods",
                "customers",
                "payment_intents",
            )
        ):
            found = self.objects.get(parts[2])
            if found is None:
                return _error(404, "invalid_request_error", f"No such object: '{parts[2]}'")
            return _ok(found)
        return _error(404, "invalid_request_error", f"fake: {method} {path} is not implemented")

    def _store(self, prefix: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        identifier = f"{prefix}_fake{next(self._numbers)}"
        stored = {"id": identifier, "object": kind, "metadata": {}, **fields}
        self.objects[identifier] = stored
        return stored

    def _checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            **params,
            "status": "open",
            "payment_status": "unpaid"
            if params.get("mode") == "payment"
            else "no_payment_required",
        }
        if params.get("mode") == "setup":
            intent = self._store(
                "seti",
                "setup_intent",
                {"status": "requires_payment_method", "payment_method": None},
            )
            fields["setup_intent"] = intent["id"]
        else:
            fields["amount_total"] = sum(
                int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
                for line in params.get("line_items", [])
            )
            fields.pop("line_items", None)
        session = self._store("cs_test", "checkout.session", fields)
        session["url"] = f"https://checkout.stripe.test/c/pay/{session['id']}"
        return session

    def _payment_intent(self, params: dict[str, Any]) -> tuple[int, bytes]:
        method_ref = str(params.get("payment_method", ""))
        test_card = card_by_reference(self._card_of_method.get(method_ref, method_ref))
        intent = self._store(
            "pi",
            "payment_intent",
            {
                "amount": int(params["amount"]),
                "currency": params.get("currency"),
                "customer": params.get("customer"),
                "payment_method": method_ref,
                "description": params.get("description"),
                "metadata": params.get("metadata", {}),
                "status": "succeeded",
            },
        )
        off_session = params.get("off_session") == "true"
        decline = None
        if test_card is not None:
            decline = test_card.off_session if off_session else test_card.on_session
        if decline is None:
            self._charge(intent)
            return _ok(intent)
        intent["status"] = "requires_payment_method"
        error = {
            "type": "card_error",
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "payment_intent": intent,
        }
        intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_intent"}
        return 402, json.dumps({"error": error}).encode()

    def _charge(self, intent: dict[str, Any]) -> dict[str, Any]:
        charge = self._store(
            "ch",
            "charge",
            {"amount": intent["amount"], "payment_intent": intent["id"], "paid": True},
        )
        intent["latest_charge"] = charge["id"]
        return charge

    def _refund(self, params: dict[str, Any]) -> tuple[int, bytes]:
        intent = self.objects.get(str(params.get("payment_intent")))
        if intent is None or "latest_charge" not in intent:
            return _error(400, "invalid_request_error", "This PaymentIntent has no charge.")
        charge_id = intent["latest_charge"]
        refunded = sum(
            int(r["amount"]) for r in self.objects.values() if r.get("charge") == charge_id
        )
        amount = int(params.get("amount") or int(intent["amount"]) - refunded)
        if amount <= 0 or refunded + amount > int(intent["amount"]):
            return _error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({int(intent['amount']) - refunded}).",
            )
        refund = self._store(
            "re",
            "refund",
            {
                "amount": amount,
                "charge": charge_id,
                "payment_intent": intent["id"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
            },
        )
        return _ok(refund)

    def _new_method(self, test_card: str, customer: Any) -> dict[str, Any]:
        card = card_by_reference(test_card)
        assert card is not None, f"{test_card} is not one of {[c.gateway_ref for c in TEST_CARDS]}"
        details = card.details()
        method = self._store(
            "pm",
            "payment_method",
            {
                "type": "card",
                "customer": customer,
                "card": {
                    "brand": details.brand,
                    "last4": details.last4,
                    "exp_month": details.exp_month,
                    "exp_year": details.exp_year,
                },
            },
        )
        self._card_of_method[method["id"]] = test_card
        return method


@contextmanager
def running() -> Iterator[FakeStripe]:
    """A fake Stripe served on 127.0.0.1 on a free port, for the block's duration."""
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            parsed = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = nest(parse_qsl(body if method == "POST" else parsed.query))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload = fake.handle(method, parsed.path, params, headers)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_fake{time.monotonic_ns()}")
            if status >= 500:
                self.send_header("Stripe-Should-Retry", "false")
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into objects: ``a[b][0][c]=v`` → ``{"a": {"b": [{"c": v}]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        names = key.replace("]", "").split("[")
        node = root
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value
    return _lists(root)


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _ok(found: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps(found).encode()


def _error(status: int, kind: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": {"type": kind, "message": message}}).encode()


# --- Webhook deliveries ---------------------------------------------------------------------


def event_payload(
    event_type: str, data_object: dict[str, Any], *, event_id: str | None = None
) -> bytes:
    """A webhook body as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id or f"evt_fake{time.monotonic_ns()}",
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": data_object},
        }
    ).encode()


def signature_header(
    payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> str:
    """``Stripe-Signature`` exactly as Stripe makes it: ``t=<unix time>,v1=<hex HMAC-SHA256
    of "<t>.<payload>" keyed with the endpoint's secret>``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"
