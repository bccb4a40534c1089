"""`statuspage:` in hotfix.yml: validated, checked by check-config, built only when set;
and the client and emulator answering as Statuspage's API reference says."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.comms.statuspage.client import (
    StatuspageClient,
    StatuspageInvalid,
    StatuspageNotFound,
    StatuspageRateLimited,
    StatuspageUnauthorized,
    StatuspageUnavailable,
)
from services.settings import Settings
from tests.harness.cli import run_cli
from tests.harness.statuspage_emulator import StatuspageEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGE, KEY, COMPONENT = "pg7x2k9q1m3n", "sp-key-4d1f9a7c0e", "cmpay0000001"


@pytest.fixture
def page() -> Iterator[StatuspageEmulator]:
    emulator = StatuspageEmulator(api_keys=(KEY,))
    emulator.add_page(PAGE, {COMPONENT: "Payments"})
    with emulator:
        yield emulator


def client(page: StatuspageEmulator, **overrides: object) -> StatuspageClient:
    options: dict[str, object] = {
        "api_url": page.api_url,
        "page_id": PAGE,
        "api_key": KEY,
        "requests_per_second": 50,
        **overrides,
    }
    return StatuspageClient(**options)  # type: ignore[arg-type]


# -- configuration --------------------------------------------------------------------


def test_components_must_name_configured_services() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(
            {
                "services": {"payments": {}},
                "statuspage": {"page_id": PAGE, "components": {"checkout": COMPONENT}},
            }
        )
    assert "statuspage.components names checkout, which is not under services:" in str(raised.value)
    assert "configured: payments" in str(raised.value)


def test_components_are_free_when_no_services_are_configured() -> None:
    settings = Settings.model_validate(
        {"statuspage": {"page_id": PAGE, "components": {"checkout": COMPONENT}}}
    )
    assert settings.statuspage is not None
    assert settings.statuspage.api_url == "https://api.statuspage.io/v1"
    assert settings.statuspage.component_status["sev2"] == "partial_outage"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"page_id": "no/slashes"}, "page_id"),
        ({"page_id": PAGE, "component_status": {"sev1": "on_fire"}}, "component_status"),
        ({"page_id": PAGE, "requests_per_second": 0}, "requests_per_second"),
        ({"page_id": PAGE, "api_url": "file:///etc/passwd"}, "api_url"),
        ({"page_id": PAGE, "open_automatically": ["sev9"]}, "open_automatically"),
        ({"page_id": PAGE, "api_key": "inline-secret"}, "api_key"),
    ],
)
def test_bad_values_are_refused_by_name(section: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate({"statuspage": section})
    assert field in str(raised.value)


def test_nothing_is_built_without_a_statuspage_section(tmp_path: Path) -> None:
    from bot.wiring import build_deps, close_deps

    deps = build_deps(Settings.model_validate({"store": {"path": str(tmp_path / "b.db")}}))
    try:
        assert not deps.comms.delivers_to("statuspage")
    finally:
        close_deps(deps)


def test_check_config_names_a_missing_api_key(tmp_path: Path) -> None:
    path = tmp_path / "hotfix.yml"
    path.write_text(f"statuspage:\n  page_id: {PAGE}\n  api_key_env: SP_KEY_FOR_TEST\n")
    missing = run_cli("--config", str(path), "check-config", cwd=tmp_path)
    assert missing.returncode != 0
    assert "statuspage.api_key_env" in missing.stdout + missing.stderr
    assert "SP_KEY_FOR_TEST is not set" in missing.stdout + missing.stderr
    present = run_cli(
        "--config",
        str(path),
        "check-config",
        cwd=tmp_path,
        extra_env={"SP_KEY_FOR_TEST": "secret-value-123"},
    )
    assert present.returncode == 0, present.stdout + present.stderr
    assert "secret-value-123" not in present.stdout + present.stderr


# -- the client against the emulator ----------------------------------------------------


def test_the_client_maps_each_answer_to_its_error(page: StatuspageEmulator) -> None:
    with pytest.raises(StatuspageUnauthorized) as unauthorized:
        client(page, api_key="wrong-key-123").unresolved_incidents()
    assert unauthorized.value.status == 401
    assert "Could not authenticate" in unauthorized.value.message
    assert "wrong-key-123" not in str(unauthorized.value) + repr(client(page))

    with pytest.raises(StatuspageNotFound):
        client(page, page_id="nosuchpage").unresolved_incidents()
    with pytest.raises(StatuspageNotFound):
        client(page).get_incident("nosuchincident")
    with pytest.raises(StatuspageInvalid) as invalid:
        client(page).create_incident({"name": "", "status": "investigating"})
    assert "Name can't be blank" in invalid.value.message

    page.fail_next(502)
    with pytest.raises(StatuspageUnavailable) as down:
        client(page).unresolved_incidents()
    assert down.value.status == 502 and not isinstance(down.value, StatuspageRateLimited)

    page.limit, page.rate_limit_status = 0, 420
    with pytest.raises(StatuspageRateLimited) as limited:
        client(page).unresolved_incidents()
    assert (limited.value.status, limited.value.delay) == (420, 60.0)


def test_a_page_that_never_answers_times_out_as_unavailable() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted: list[socket.socket] = []
    waiter = threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True)
    waiter.start()
    try:
        quiet = StatuspageClient(
            api_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
            page_id=PAGE,
            api_key=KEY,
            timeout=0.5,
        )
        with pytest.raises(StatuspageUnavailable) as raised:
            quiet.get_incident("abc")
        assert "timed out" in raised.value.message
    finally:
        for conn in accepted:
            conn.close()
        silent.close()


def test_a_closed_port_is_unavailable() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(StatuspageUnavailable) as raised:
        StatuspageClient(
            api_url=f"http://127.0.0.1:{port}/v1", page_id=PAGE, api_key=KEY
        ).unresolved_incidents()
    assert "could not reach Statuspage" in raised.value.message


def test_the_client_paces_its_requests_to_the_keys_limit(page: StatuspageEmulator) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    def paced(max_pause: float) -> StatuspageClient:
        return StatuspageClient(
            api_url=page.api_url,
            page_id=PAGE,
            api_key=KEY,
            requests_per_second=1.0,
            max_pause=max_pause,
            monotonic=lambda: now[0],
            sleep=sleep,
        )

    patient = paced(max_pause=1.0)
    for _ in range(3):
        patient.unresolved_incidents()
        now[0] += 0.25  # the caller's own work between calls
    assert slept == [0.75, 0.75]
    assert len(page.requests) == 3

    # A wait longer than max_pause is handed back instead of slept, and nothing is sent.
    brisk = paced(max_pause=0.25)
    brisk.unresolved_incidents()
    now[0] += 0.5
    with pytest.raises(StatuspageRateLimited) as raised:
        brisk.unresolved_incidents()
    assert (raised.value.status, raised.value.delay) == (None, 0.5)
    assert len(page.requests) == 4 and slept == [0.75, 0.75]
    now[0] += 0.3  # within max_pause of its turn: slept
    brisk.unresolved_incidents()
    assert slept == [0.75, 0.75, 0.2] and len(page.requests) == 5


def test_paced_in_real_time_the_emulators_rolling_window_never_refuses() -> None:
    """2 requests per second against a page allowing 3 per rolling second: no 429 at all."""
    emulator = StatuspageEmulator(api_keys=(KEY,), limit=3, window=1.0)
    emulator.add_page(PAGE, {COMPONENT: "Payments"})
    with emulator:
        paced = StatuspageClient(
            api_url=emulator.api_url,
            page_id=PAGE,
            api_key=KEY,
            requests_per_second=2.0,
            max_pause=1.0,  # sleeps every wait (as the bot does for short ones)
        )
        for _ in range(6):
            paced.unresolved_incidents()
    assert emulator.rate_limited == 0
    assert [r.status for r in emulator.requests] == [200] * 6


def test_unresolved_incidents_reads_every_page(page: StatuspageEmulator) -> None:
    made = [
        client(page).create_incident({"name": f"n{i}", "status": "investigating", "body": "b"})
        for i in range(5)
    ]
    found = client(page).unresolved_incidents(per_page=2)
    assert sorted(i["id"] for i in found) == sorted(m["id"] for m in made)
    assert [r.query.get("page") for r in page.requests[-3:]] == [["1"], ["2"], ["3"]]


# -- the emulator follows the reference, not the bot -------------------------------------


def raw(page: StatuspageEmulator, method: str, path: str, body: object = None, **headers: str):  # type: ignore[no-untyped-def]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(page.api_url + path, data=data, method=method)
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def test_the_emulator_answers_as_the_reference_says(page: StatuspageEmulator) -> None:
    auth = {"Authorization": f"OAuth {KEY}", "Content_Type": "application/json"}
    assert raw(page, "GET", f"/pages/{PAGE}/incidents/unresolved")[:2] == (
        401,
        {"message": "Could not authenticate"},
    )
    assert (
        raw(page, "GET", f"/pages/{PAGE}/incidents/unresolved", Authorization=f"Bearer {KEY}")[0]
        == 401
    )  # the scheme is OAuth
    status, created, _ = raw(
        page,
        "POST",
        f"/pages/{PAGE}/incidents",
        {
            "incident": {
                "name": "Service disruption",
                "status": "investigating",
                "body": "We are looking into it.",
                "component_ids": [COMPONENT],
                "components": {COMPONENT: "partial_outage"},
                "metadata": {"hotfix_bot": {"incident_id": "INC-1", "delivery": 1}},
            }
        },
        **auth,
    )
    assert status == 201
    assert created["shortlink"].startswith("https://stspg.io/")
    assert created["incident_updates"][0]["body"] == "We are looking into it."
    assert created["components"][0]["status"] == "partial_outage"
    assert created["metadata"] == {"hotfix_bot": {"incident_id": "INC-1", "delivery": 1}}

    bad_metadata = {"incident": {"name": "x", "metadata": {"flat": "value"}}}
    status, said, _ = raw(page, "POST", f"/pages/{PAGE}/incidents", bad_metadata, **auth)
    assert (status, said) == (422, {"message": "All top-level values in metadata must be objects"})
    status, _, _ = raw(
        page,
        "PATCH",
        f"/pages/{PAGE}/incidents/{created['id']}",
        {"incident": {"body": "x" * 25_001}},
        **auth,
    )
    assert status == 422
    status, patched, _ = raw(
        page,
        "PATCH",
        f"/pages/{PAGE}/incidents/{created['id']}",
        {"incident": {"status": "resolved", "components": {COMPONENT: "operational"}}},
        **auth,
    )
    assert (status, patched["status"], len(patched["incident_updates"])) == (200, "resolved", 2)
    assert patched["resolved_at"] is not None
    assert raw(page, "GET", f"/pages/{PAGE}/incidents/unresolved", **auth)[1] == []
    assert raw(page, "GET", f"/pages/{PAGE}/incidents/nope", **auth)[0] == 404

    page.limit = len([r for r in page.requests if r.status != 401])
    status, said, headers = raw(page, "GET", f"/pages/{PAGE}/incidents/unresolved", **auth)
    assert status == 429 and said == {"message": "Rate limit exceeded. Please slow down."}
    assert int(headers["Retry-After"]) >= 1
    assert page.rate_limited == 1


def test_the_key_variable_is_a_secret_redacted_and_kept_from_children() -> None:
    from bot.secrets import secret_env_names

    settings = Settings.model_validate({"statuspage": {"page_id": PAGE, "api_key_env": "SP_KEY"}})
    assert "SP_KEY" in secret_env_names(settings)
