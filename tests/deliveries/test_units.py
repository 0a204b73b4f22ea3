"""deliveries/signing.py against the standardwebhooks library, and deliveries/schedule.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workflow_service.deliveries import schedule
from workflow_service.deliveries.signing import sign, signature_header
from workflow_service.workflows.settings import new_signing_secret

BODIES = [b"{}", b'{"type":"job.completed","data":{"name":"Ad\xc3\xa9 \xf0\x9f\x9a\x80"}}', b"[" + b"1," * 5000 + b"1]"]


@pytest.mark.parametrize("body", BODIES)
def test_sign_matches_the_library(body: bytes) -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    timestamp = 1_700_000_000
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(timestamp, UTC), body.decode())
    assert sign(secret, "msg_1", timestamp, body) == expected


@pytest.mark.parametrize("body", BODIES)
def test_the_library_verifies_a_header_with_every_active_secret(body: bytes) -> None:
    new, old, stranger = new_signing_secret(), new_signing_secret(), new_signing_secret()
    timestamp = int(time.time())
    header = signature_header([new, old], "msg_2", timestamp, body)
    assert len(header.split(" ")) == 2
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(timestamp), "webhook-signature": header}
    for secret in (new, old):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    tampered = {**headers, "webhook-id": "msg_3"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_secrets_are_random_32_byte_keys() -> None:
    import base64

    secrets = {new_signing_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(base64.b64decode(s.removeprefix("whsec_"))) == 32 for s in secrets)


def test_schedule_is_svix_like_with_jitter() -> None:
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert list(schedule.DELAYS_S) == expected
    assert schedule.MAX_ATTEMPTS == 8
    for failed, base in enumerate(expected, start=1):
        delays = [schedule.next_delay(failed, 1.0) for _ in range(200)]
        assert all(d is not None and 0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert schedule.next_delay(8, 1.0) is None
    assert schedule.next_delay(9, 1.0) is None


def test_schedule_scales() -> None:
    for failed, base in enumerate(schedule.DELAYS_S, start=1):
        delay = schedule.next_delay(failed, 0.001)
        assert delay is not None
        assert 0.0008 * base <= delay <= 0.0012 * base


def test_retry_after_is_a_lower_bound() -> None:
    assert schedule.next_delay(1, 1.0, retry_after=60) == 60  # later than the 5 s of the schedule
    delay = schedule.next_delay(2, 1.0, retry_after=1)  # sooner than the schedule: ignored
    assert delay is not None
    assert delay >= 240
    assert schedule.next_delay(1, 0.001, retry_after=2) == 2  # not scaled away
    assert schedule.next_delay(1, 1.0, retry_after=10**9) == schedule.MAX_RETRY_AFTER_S  # capped
    assert schedule.next_delay(8, 1.0, retry_after=5) is None  # it does not add attempts


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert schedule.parse_retry_after("120", now) == 120
    assert schedule.parse_retry_after(" 7 ", now) == 7
    assert schedule.parse_retry_after("0", now) == 0
    assert schedule.parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert schedule.parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30
    assert schedule.parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    for bad in (None, "", "soon", "-5", "1.5", "Thu, 99 Foo 2025"):
        assert schedule.parse_retry_after(bad, now) is None
