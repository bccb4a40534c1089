"""The Events API v2 client against the emulator (and against servers that misbehave),
and the emulator's own contract: what PagerDuty's reference says it answers."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.comms.pagerduty.client import (
    Accepted,
    EventsClient,
    PagerDutyError,
    PagerDutyRateLimited,
    PagerDutyRejected,
    PagerDutyUnavailable,
)
from tests.harness.pagerduty_emulator import PagerDutyEmulator

pytestmark = pytest.mark.unit

TRIGGER = {
    "event_action": "trigger",
    "dedup_key": "INC-7",
    "payload": {"summary": "INC-7 (SEV1): down", "source": "hotfix-bot", "severity": "critical"},
}


class Now:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def pd(now: Now) -> Iterator[PagerDutyEmulator]:
    with PagerDutyEmulator(clock=now) as emulator:
        yield emulator


@pytest.fixture
def key(pd: PagerDutyEmulator) -> str:
    return pd.add_routing_key()


@pytest.fixture
def client(pd: PagerDutyEmulator) -> EventsClient:
    return EventsClient(url=pd.url, timeout=5)


def raw_post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else {}


# -- the client ----------------------------------------------------------------------------


def test_accepted_event_returns_the_dedup_key(client: EventsClient, key: str, pd: Any) -> None:
    assert client.send(TRIGGER, routing_key=key) == Accepted("INC-7", "Event processed")
    (received,) = pd.requests
    assert received.body == {**TRIGGER, "routing_key": key}
    assert received.headers["Content-Type"] == "application/json"


def test_invalid_event_raises_rejected_with_pagerdutys_errors(
    client: EventsClient, key: str
) -> None:
    bad = {**TRIGGER, "payload": {"summary": "", "source": "x", "severity": "loud"}}
    with pytest.raises(PagerDutyRejected) as caught:
        client.send(bad, routing_key=key)
    assert not caught.value.retryable
    assert caught.value.errors == [
        "'payload.summary' is missing or blank",
        "'payload.severity' must be one of critical, error, warning, info",
    ]
    assert "'payload.summary' is missing or blank" in caught.value.message


def test_unknown_routing_key_is_rejected_and_never_quoted(client: EventsClient) -> None:
    stranger = "f" * 32
    with pytest.raises(PagerDutyRejected) as caught:
        client.send(TRIGGER, routing_key=stranger)
    assert caught.value.errors == ["Invalid routing key"]
    assert stranger not in repr(caught.value) and stranger not in repr(client)


def test_rate_limit_without_and_with_retry_after(
    client: EventsClient, key: str, pd: PagerDutyEmulator
) -> None:
    pd.fail_next(429)
    with pytest.raises(PagerDutyRateLimited) as caught:
        client.send(TRIGGER, routing_key=key)
    assert caught.value.retryable and caught.value.delay is None
    pd.fail_next(429, retry_after="7")
    with pytest.raises(PagerDutyRateLimited) as caught:
        client.send(TRIGGER, routing_key=key)
    assert caught.value.delay == 7
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=100), usegmt=True)
    pd.fail_next(429, retry_after=later)
    with pytest.raises(PagerDutyRateLimited) as caught:
        client.send(TRIGGER, routing_key=key)
    assert caught.value.delay is not None and 90 < caught.value.delay <= 100


def test_server_errors_are_retryable(client: EventsClient, key: str, pd: Any) -> None:
    pd.fail_next(502)
    with pytest.raises(PagerDutyUnavailable) as caught:
        client.send(TRIGGER, routing_key=key)
    assert caught.value.retryable and caught.value.status == 502


def test_nothing_listening_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = EventsClient(url=f"http://127.0.0.1:{port}/v2/enqueue", timeout=2)
    with pytest.raises(PagerDutyUnavailable):
        client.send(TRIGGER, routing_key="k" * 32)


class _Odd(BaseHTTPRequestHandler):
    """A server that is not PagerDuty: slow, redirecting, or answering 404."""

    stall = threading.Event()

    def do_POST(self) -> None:
        if self.path == "/slow":
            self.stall.wait(5)
            return
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<html>Not Found</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def odd() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Odd.stall.set()
    server.shutdown()
    server.server_close()


def test_a_timeout_is_retryable(odd: str) -> None:
    with pytest.raises(PagerDutyUnavailable):
        EventsClient(url=f"{odd}/slow", timeout=0.5).send(TRIGGER, routing_key="k" * 32)


def test_a_wrong_url_is_not_retried_and_redirects_are_not_followed(odd: str) -> None:
    with pytest.raises(PagerDutyError) as caught:
        EventsClient(url=f"{odd}/v1/nothing", timeout=2).send(TRIGGER, routing_key="k" * 32)
    assert not caught.value.retryable and caught.value.status == 404
    with pytest.raises(PagerDutyError) as caught:
        EventsClient(url=f"{odd}/redirect", timeout=2).send(TRIGGER, routing_key="k" * 32)
    assert caught.value.status == 307 and not caught.value.retryable


def test_only_http_urls() -> None:
    with pytest.raises(PagerDutyError):
        EventsClient(url="file:///etc/passwd")


# -- the emulator's contract ------------------------------------------------------------------


def test_emulator_answers_as_the_reference_says(pd: PagerDutyEmulator, key: str) -> None:
    status, body = raw_post(pd.url, {**TRIGGER, "routing_key": key})
    assert (status, body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "INC-7"},
    )
    status, body = raw_post(pd.url, b"not json")
    assert status == 400
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert isinstance(body["errors"], list) and body["errors"]
    generated = {k: v for k, v in TRIGGER.items() if k != "dedup_key"}
    status, body = raw_post(pd.url, {**generated, "routing_key": key})
    assert status == 202 and len(body["dedup_key"]) == 32


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"routing_key": "short"}, "Length of 'routing_key' is incorrect (should be 32"),
        ({"event_action": "page"}, "'event_action' must be one of"),
        ({"dedup_key": "k" * 256}, "at most 255 characters"),
        ({"payload": {"summary": "s" * 1025, "source": "x", "severity": "info"}}, "1024"),
        ({"payload": {"summary": "s", "severity": "info"}}, "'payload.source'"),
        ({"links": [{"text": "no href"}]}, "a link needs an 'href'"),
        ({"event_action": "resolve", "dedup_key": None}, "'dedup_key' is required to resolve"),
    ],
)
def test_emulator_refuses_invalid_events(
    pd: PagerDutyEmulator, key: str, change: dict[str, Any], error: str
) -> None:
    event = {**TRIGGER, "routing_key": key, **change}
    status, body = raw_post(pd.url, {k: v for k, v in event.items() if v is not None})
    assert status == 400
    assert any(error in e for e in body["errors"]), body


def test_emulator_alert_lifecycle(pd: PagerDutyEmulator, key: str) -> None:
    other = pd.add_routing_key()
    send = lambda action, k=key: raw_post(  # noqa: E731
        pd.url, {**TRIGGER, "event_action": action, "routing_key": k}
    )
    send("trigger")
    send("trigger")  # deduplicated into the open alert
    assert len(pd.alerts) == 1 and len(pd.alerts[0].log) == 2
    send("acknowledge", other)  # another routing key never touches it
    assert pd.alerts[0].status == "triggered"
    send("acknowledge")
    assert pd.alerts[0].status == "acknowledged"
    send("resolve")
    assert pd.alerts[0].status == "resolved"
    assert send("acknowledge")[0] == 202  # dropped: no open alert
    send("trigger")  # after a resolve: a new alert
    assert [a.status for a in pd.alerts] == ["resolved", "triggered"]


def test_emulator_rate_limits_per_routing_key(pd: PagerDutyEmulator, key: str, now: Now) -> None:
    other = pd.add_routing_key()
    pd.limit_per_minute = 2
    statuses = [raw_post(pd.url, {**TRIGGER, "routing_key": key})[0] for _ in range(3)]
    assert statuses == [202, 202, 429]
    request = urllib.request.Request(
        pd.url, data=json.dumps({**TRIGGER, "routing_key": key}).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 429 and caught.value.read() == b""
    assert caught.value.headers.get("Retry-After") is None
    assert raw_post(pd.url, {**TRIGGER, "routing_key": other})[0] == 202
    now.t += 61
    assert raw_post(pd.url, {**TRIGGER, "routing_key": key})[0] == 202


def test_the_commented_paging_sample_is_valid_configuration() -> None:
    import itertools

    import yaml

    from bot.config import EXAMPLE_CONFIG
    from services.settings import Settings

    lines = EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()
    start = lines.index("paging: {}")
    # The commented block ends at the first line that is not a comment (other sections follow).
    block = itertools.takewhile(lambda line: line.startswith("#"), lines[start + 1 :])
    sample = ["paging:"] + [line[1:] for line in block]
    settings = Settings.model_validate(yaml.safe_load("\n".join(sample)))
    pagerduty = settings.paging.pagerduty
    assert pagerduty is not None
    assert pagerduty.people_routing_key_env == {"U0123DAVE": "PAGERDUTY_KEY_DAVE"}
    assert pagerduty.severities["sev2"] == "error"


def test_every_routing_key_variable_is_treated_as_a_secret() -> None:
    from bot.secrets import secret_env_names
    from services.settings import Settings

    settings = Settings.model_validate(
        {
            "paging": {
                "pagerduty": {
                    "routing_key_env": "PD_DEFAULT",
                    "service_routing_key_env": {"payments": "PD_PAYMENTS"},
                    "people_routing_key_env": {"U0DAVE": "PD_DAVE"},
                }
            }
        }
    )
    assert {"PD_DEFAULT", "PD_PAYMENTS", "PD_DAVE"} <= set(secret_env_names(settings))
