"""Sending a one-time code to a phone number, to prove who owns it: the pluggable channel
(docs/product.md, Whois Profiles › Ownership and disputes).

``VERIFICATION_CHANNEL`` picks it:

- ``outbox`` (the default, for development and tests): the message lands in the mail outbox
  (``data/outbox``, read with ``python -m portal_core outbox``) as a message to the number,
  so a developer reads the code there. A production portal refuses it: its codes would reach
  no phone.
- ``webhook``: a JSON POST of ``{"number", "message"}`` to ``VERIFICATION_WEBHOOK_URL``, signed
  with ``VERIFICATION_WEBHOOK_SECRET`` (``X-Portal-Signature: sha256=<hex HMAC of the body>``),
  for the SMS or voice service the deployment uses. A failure is raised, so the code that
  could not be sent is not kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from portal_core.errors import PortalError
from portal_core.mail import write_to_outbox
from portal_core.models.base import utcnow
from portal_core.settings import Settings, get_settings

TIMEOUT_SECONDS = 5


class PhoneChannelUnavailable(PortalError):
    status = 503
    title = "Service unavailable"


def send_code_message(number: str, message: str, settings: Settings | None = None) -> None:
    """Send ``message`` (which holds the code) to ``number`` (E.164) through the channel."""
    settings = settings or get_settings()
    if settings.verification_channel == "webhook":
        _post(number, message, settings)
        return
    if settings.portal_env == "production":
        raise PhoneChannelUnavailable(
            "Codes can't be sent to phones from this portal yet: ask SIPSTACK to verify the "
            "number, or to decide the dispute."
        )
    _to_outbox(number, message, settings)


def _to_outbox(number: str, message: str, settings: Settings) -> None:
    letter = EmailMessage()
    letter["From"] = settings.mail_from
    letter["To"] = f"phone-{number.lstrip('+')}@phone.sipstack.test"
    letter["Subject"] = f"Code for {number}"
    letter["X-Phone-Number"] = number
    letter["Date"] = format_datetime(utcnow())
    letter["Message-ID"] = make_msgid(domain="phone.sipstack.test")
    letter.set_content(message)
    write_to_outbox(letter, settings.outbox_dir)


def _post(number: str, message: str, settings: Settings) -> None:
    url = settings.verification_webhook_url
    if not url:
        raise PhoneChannelUnavailable("No VERIFICATION_WEBHOOK_URL is set: no code was sent.")
    body = json.dumps({"number": number, "message": message}).encode()
    signature = hmac.new(
        (settings.verification_webhook_secret or "").encode(), body, hashlib.sha256
    ).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Portal-Signature": f"sha256={signature}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            if answer.status >= 300:
                raise PhoneChannelUnavailable(
                    f"The code could not be sent (the phone service answered {answer.status}). "
                    "Try again in a few minutes."
                )
    except (urllib.error.URLError, TimeoutError) as failure:
        raise PhoneChannelUnavailable(
            "The code could not be sent: the phone service did not answer. Try again in a few "
            "minutes."
        ) from failure
