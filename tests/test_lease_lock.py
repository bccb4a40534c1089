"""lock.kind: lease - a coordination.k8s.io/v1 Lease as the single-instance lock.

Against the Kubernetes emulator over real HTTP with the official client; real bot
processes where that is cheap, an injected clock everywhere else (no sleeps).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes.client
import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from bot.instance_lock import AlreadyRunningError, LeaseInstanceLock, lease_namespace
from services.clock import ManualClock
from services.kube.client import KubeClient, KubeError, build_api_client
from services.kube.lease import LeaseHeldError, LeaseLock, micro_time
from services.settings import LeaseLockSettings, LockSettings, Settings
from tests.harness.bot_process import REPO, BotProcess
from tests.harness.k8s_emulator import MERGE_PATCH, K8sEmulator
from tests.harness.k8s_openapi import load_spec, validate_request
from tests.harness.running_bot import SIGNING_SECRET
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NS = "hotfix-bot"  # the bot's own namespace: deploy/lease-rbac.yaml's Role lives there
NAME = "hotfix-bot"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}"


@pytest.fixture
def clients(k8s: K8sEmulator) -> Iterator[Callable[[], KubeClient]]:
    """The bot's own Kubernetes client (its User-Agent, its error tree) on the lease namespace."""
    made: list[KubeClient] = []

    def make() -> KubeClient:
        client = KubeClient(
            build_api_client(LeaseLockSettings(host=k8s.url, namespace=NS)), namespace=NS
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.api_client.close()


def _lock(api: Any, clock: ManualClock, identity: str, lost: list[str] | None = None) -> LeaseLock:
    return LeaseLock(
        api=api,
        name=NAME,
        identity=identity,
        duration_seconds=15,
        renew_seconds=5,
        clock=clock,
        on_lost=None if lost is None else lost.append,
    )


def _lease(k8s: K8sEmulator) -> dict[str, Any]:
    lease = k8s.get("Lease", NS, NAME)
    assert lease is not None
    return lease


def _spec(k8s: K8sEmulator) -> dict[str, Any]:
    spec: dict[str, Any] = _lease(k8s)["spec"]
    return spec


def _someone_holds(
    k8s: K8sEmulator,
    holder: str,
    *,
    renewed: datetime,
    transitions: int,
    acquired: datetime | None = None,
) -> dict[str, Any]:
    """A Lease written by another bot (15 s, like the default)."""
    spec: dict[str, Any] = {
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "renewTime": micro_time(renewed),
        "leaseTransitions": transitions,
    }
    if acquired is not None:
        spec["acquireTime"] = micro_time(acquired)
    return k8s.add_lease(NS, NAME, spec)


# --------------------------------------------------------------------------- acquire


def test_the_first_bot_creates_the_lease(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    record = _lock(clients(), clock, "pod-a pid 1").try_acquire()

    assert _spec(k8s) == {
        "holderIdentity": "pod-a pid 1",
        "leaseDurationSeconds": 15,
        "acquireTime": micro_time(clock.now()),
        "renewTime": micro_time(clock.now()),
        "leaseTransitions": 0,
    }
    assert record.holder == "pod-a pid 1" and record.transitions == 0
    assert [(r.method, r.path, r.status) for r in k8s.requests] == [
        ("GET", LEASE_PATH, 404),
        ("POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", 201),
    ]


def test_every_lease_write_says_its_body_is_json(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    """Create, take over, renew and release each send Content-Type: application/json (the
    generated client sends none for these calls, leaving the API server to guess)."""
    lock = _lock(clients(), clock, "pod-a pid 1")
    lock.try_acquire()  # POST: created
    lock.renew()  # PUT
    lock.release()  # PUT
    _lock(clients(), clock, "pod-b pid 1").try_acquire()  # PUT: the released one taken over
    writes = [r for r in k8s.requests if r.method in ("POST", "PUT", "PATCH")]
    assert [r.method for r in writes] == ["POST", "PUT", "PUT", "PUT"]
    assert {r.content_type for r in writes} == {"application/json"}


def test_a_lease_held_by_another_bot_is_refused_with_its_holder_and_expiry(
    k8s: K8sEmulator, clock: ManualClock
) -> None:
    _someone_holds(k8s, "pod-a pid 1", renewed=clock.now() - timedelta(seconds=5), transitions=2)
    before = _lease(k8s)
    lock = LeaseInstanceLock(
        LockSettings(kind="lease", lease=LeaseLockSettings(host=k8s.url, namespace=NS)),
        clock=clock,
        identity="pod-b pid 1",
    )

    with pytest.raises(AlreadyRunningError) as refused:
        lock.acquire(on_lost=pytest.fail)

    expires = (clock.now() + timedelta(seconds=10)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert str(refused.value).startswith(
        f"Another hotfix-bot (pod-a pid 1) holds the Kubernetes Lease {NS}/{NAME} until {expires}"
    )
    assert "set lock.wait: true" in str(refused.value)
    assert _lease(k8s) == before  # nothing written


def test_wait_takes_the_lease_over_once_the_holder_lets_it_expire(
    k8s: K8sEmulator, clock: ManualClock
) -> None:
    start = clock.now()
    _someone_holds(
        k8s, "pod-a pid 1", renewed=start, transitions=2, acquired=start - timedelta(hours=1)
    )
    lock = LeaseInstanceLock(
        LockSettings(kind="lease", wait=True, lease=LeaseLockSettings(host=k8s.url)),
        clock=clock,  # a ManualClock: each poll's sleep moves time, nothing waits
        identity="pod-b pid 1",
        environ={"POD_NAMESPACE": NS},
    )
    lost: list[str] = []
    try:
        lock.acquire(on_lost=lost.append)
        taken = clock.now()
        assert taken - start == timedelta(seconds=15)  # polled every renew_seconds (5)
        assert _spec(k8s) == {
            "holderIdentity": "pod-b pid 1",
            "leaseDurationSeconds": 15,
            "acquireTime": micro_time(taken),
            "renewTime": micro_time(taken),
            "leaseTransitions": 3,
        }
    finally:
        lock.release()
    assert lost == []
    assert len(k8s.requests_matching("PUT", "/leases/")) == 2  # the takeover, the release


def test_an_expired_lease_is_taken_over_with_its_resource_version(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    old = _someone_holds(
        k8s, "pod-a pid 1", renewed=clock.now() - timedelta(seconds=15), transitions=3
    )

    _lock(clients(), clock, "pod-b pid 1").try_acquire()

    (put,) = k8s.requests_matching("PUT", "/leases/")
    assert put.status == 200
    assert put.body["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]
    spec = _spec(k8s)
    assert spec["holderIdentity"] == "pod-b pid 1"
    assert spec["leaseTransitions"] == 4
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(clock.now())
    assert _lease(k8s)["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]


class _Race:
    """The bot's client, but another candidate writes the Lease right after the bot reads it."""

    def __init__(self, client: KubeClient, meanwhile: Callable[[], None]) -> None:
        self.client = client
        self.namespace = client.namespace
        self.meanwhile: Callable[[], None] | None = meanwhile

    def get_lease(self, name: str) -> dict[str, Any]:
        try:
            return self.client.get_lease(name)
        finally:
            if self.meanwhile is not None:
                self.meanwhile, run = None, self.meanwhile
                run()

    def create_lease(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.create_lease(body)

    def replace_lease(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.replace_lease(name, body)


def test_a_concurrent_takeover_is_read_again_not_overwritten(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    _someone_holds(k8s, "pod-a pid 1", renewed=clock.now() - timedelta(minutes=5), transitions=1)

    def rival_takes_it() -> None:
        k8s.edit(
            "Lease",
            NS,
            NAME,
            {
                "spec": {
                    "holderIdentity": "pod-c pid 1",
                    "renewTime": micro_time(clock.now()),
                    "leaseTransitions": 2,
                }
            },
        )

    with pytest.raises(LeaseHeldError) as held:
        _lock(_Race(clients(), rival_takes_it), clock, "pod-b pid 1").try_acquire()

    assert held.value.holder == "pod-c pid 1"
    assert [(r.method, r.status) for r in k8s.requests] == [
        ("GET", 200),
        ("PUT", 409),
        ("GET", 200),
    ]
    assert _spec(k8s)["holderIdentity"] == "pod-c pid 1"
    assert _spec(k8s)["leaseTransitions"] == 2


def test_a_lease_created_meanwhile_is_read_again(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    def rival_creates_it() -> None:
        _someone_holds(k8s, "pod-c pid 1", renewed=clock.now(), transitions=0)

    with pytest.raises(LeaseHeldError, match=r"\(pod-c pid 1\) holds"):
        _lock(_Race(clients(), rival_creates_it), clock, "pod-b pid 1").try_acquire()

    assert [(r.method, r.status) for r in k8s.requests] == [
        ("GET", 404),
        ("POST", 409),
        ("GET", 200),
    ]
    assert _spec(k8s)["holderIdentity"] == "pod-c pid 1"


# --------------------------------------------------------------------------- renew, lose


def test_renewal_moves_renew_time_only(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    lock = _lock(clients(), clock, "pod-a pid 1", lost=[])
    lock.try_acquire()
    acquired = micro_time(clock.now())
    clock.advance(timedelta(seconds=5))

    assert lock.renew() is True
    assert _spec(k8s) == {
        "holderIdentity": "pod-a pid 1",
        "leaseDurationSeconds": 15,
        "acquireTime": acquired,
        "renewTime": micro_time(clock.now()),
        "leaseTransitions": 0,
    }


def test_a_holder_that_cannot_renew_stops_before_the_lease_expires(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    lost: list[str] = []
    lock = _lock(clients(), clock, "pod-a pid 1", lost=lost)
    lock.try_acquire()
    k8s.fail_next("PUT", "/leases/", 503, times=100)

    clock.advance(timedelta(seconds=5))
    assert lock.renew() is False
    clock.advance(timedelta(seconds=4.9))
    assert lock.renew() is False
    assert lock.check_deadline() is False and lost == []
    clock.advance(timedelta(seconds=0.1))  # 10 s = duration (15) - renew_seconds (5)

    assert lock.check_deadline() is True
    assert len(lost) == 1
    assert lost[0].startswith(
        f"hotfix-bot lost its single-instance lock: could not renew the Lease {NS}/{NAME} for 10.0 s"
    )
    assert "Stopping now" in lost[0]
    assert lock.renew() is False  # a lost lock never writes again
    lock.release()  # nor releases what is no longer its own
    assert len(k8s.requests_matching("PUT", "/leases/")) == 2


def test_a_holder_that_finds_someone_else_in_the_lease_stops_and_leaves_it(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    lost: list[str] = []
    lock = _lock(clients(), clock, "pod-a pid 1", lost=lost)
    lock.try_acquire()
    k8s.edit("Lease", NS, NAME, {"spec": {"holderIdentity": "pod-c pid 1"}})
    clock.advance(timedelta(seconds=5))

    assert lock.renew() is False

    assert lost == [
        "hotfix-bot lost its single-instance lock: the Lease hotfix-bot/hotfix-bot is now held"
        " by pod-c pid 1. Stopping now, so that two bots never serve at once; the replacement"
        " takes the Lease when it is free."
    ]
    assert _spec(k8s)["holderIdentity"] == "pod-c pid 1"
    assert [(r.method, r.status) for r in k8s.requests][-2:] == [("PUT", 409), ("GET", 200)]


def test_a_label_change_by_someone_else_does_not_lose_the_lease(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    lost: list[str] = []
    lock = _lock(clients(), clock, "pod-a pid 1", lost=lost)
    lock.try_acquire()
    k8s.edit("Lease", NS, NAME, {"metadata": {"labels": {"team": "sre"}}})
    clock.advance(timedelta(seconds=5))

    assert lock.renew() is True
    assert lost == []
    lease = _lease(k8s)
    assert lease["metadata"]["labels"] == {"team": "sre"}
    assert lease["spec"]["renewTime"] == micro_time(clock.now())


# --------------------------------------------------------------------------- release


def test_release_lets_a_successor_in_without_waiting(
    k8s: K8sEmulator, clients: Callable[[], KubeClient], clock: ManualClock
) -> None:
    first = _lock(clients(), clock, "pod-a pid 1", lost=[])
    first.try_acquire()
    first.release()

    assert _spec(k8s) == {"holderIdentity": "", "leaseDurationSeconds": 15, "leaseTransitions": 0}

    clock.advance(timedelta(seconds=1))  # well within the 15 s the old holder had
    _lock(clients(), clock, "pod-b pid 1").try_acquire()
    assert _spec(k8s)["holderIdentity"] == "pod-b pid 1"
    assert _spec(k8s)["leaseTransitions"] == 1


# --------------------------------------------------------------------------- real bot processes


def _bot_env(slack: SlackEmulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
    )
    return env


def _config(tmp_path: Path, name: str, k8s: K8sEmulator, lease: str) -> Path:
    config = tmp_path / f"{name}.yml"
    config.write_text(
        f"store:\n  path: {tmp_path / name}.db\n"
        "lock:\n  kind: lease\n"
        f"  lease: {{namespace: {NS}, host: '{k8s.url}', {lease}}}\n"
    )
    return config


def _start_bot(
    tmp_path: Path, name: str, k8s: K8sEmulator, slack: SlackEmulator, lease: str
) -> BotProcess:
    config = _config(tmp_path, name, k8s, lease)
    return BotProcess(config=config, slack=slack, clock_file=None, log=tmp_path / "bot.log")


def test_a_second_bot_process_exits_while_the_first_holds_the_lease(
    k8s: K8sEmulator, slack: SlackEmulator, tmp_path: Path
) -> None:
    lease = "duration_seconds: 30, renew_seconds: 10"
    first = _start_bot(tmp_path, "a", k8s, slack, lease)
    try:
        holder = _spec(k8s)["holderIdentity"]
        assert holder.endswith(f" pid {first.process.pid}")
        # Another node, another volume: only the Lease can tell them apart.
        config_b = _config(tmp_path, "b", k8s, lease)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(config_b),
                "serve",
                "--http",
                "--port",
                "0",
            ],
            cwd=REPO,
            env=_bot_env(slack),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 3, second.stderr
        assert (
            f"Another hotfix-bot ({holder}) holds the Kubernetes Lease {NS}/{NAME} until "
            in second.stderr
        )
        assert "Run one bot per database" in second.stderr
        assert first.process.poll() is None  # the first one keeps serving
        assert _spec(k8s)["holderIdentity"] == holder
    finally:
        first.stop()  # SIGTERM, as Kubernetes stops a pod

    assert first.process.returncode == -15  # still terminated by the signal, as before
    assert _spec(k8s) == {"holderIdentity": "", "leaseDurationSeconds": 30, "leaseTransitions": 0}
    # Released: the replacement starts at once, no waiting for 30 s.
    replacement = _start_bot(tmp_path, "b", k8s, slack, lease)
    try:
        assert _spec(k8s)["holderIdentity"].endswith(f" pid {replacement.process.pid}")
        assert _spec(k8s)["leaseTransitions"] == 1
    finally:
        replacement.stop()


def test_a_bot_process_that_cannot_renew_stops_serving(
    k8s: K8sEmulator, slack: SlackEmulator, tmp_path: Path
) -> None:
    lease = "duration_seconds: 2, renew_seconds: 0.5"
    bot = _start_bot(tmp_path, "a", k8s, slack, lease)
    try:
        k8s.fail_next("PUT", f"/leases/{NAME}$", 503, times=10_000)
        deadline = time.monotonic() + 20
        while bot.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bot.process.returncode == 4
    finally:
        bot.stop()
    text = (tmp_path / "bot.log").read_text()
    assert "hotfix-bot lost its single-instance lock: could not renew the Lease" in text
    assert "Stopping now, so that two bots never serve at once" in text


# --------------------------------------------------------------------------- the emulator's Leases


def test_the_emulator_serves_leases_like_the_api_server(tmp_path: Path) -> None:
    with K8sEmulator() as emu:
        api = kubernetes.client.CoordinationV1Api(emu.api_client())

        def body(rv: str | None = None, **spec: Any) -> dict[str, Any]:
            meta: dict[str, Any] = {"name": "l"}
            if rv is not None:
                meta["resourceVersion"] = rv
            return {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": meta,
                "spec": spec,
            }

        def status_of(call: Callable[[], Any]) -> tuple[int, str]:
            with pytest.raises(ApiException) as failed:
                call()
            return failed.value.status, failed.value.body.decode() if isinstance(
                failed.value.body, bytes
            ) else str(failed.value.body)

        assert status_of(lambda: api.read_namespaced_lease("l", "ns"))[0] == 404
        created = api.create_namespaced_lease(
            "ns", body(holderIdentity="a", renewTime="2026-03-14T10:26:53.000001+01:00")
        )
        assert created.spec.renew_time.isoformat() == "2026-03-14T09:26:53.000001+00:00"
        assert emu.get("Lease", "ns", "l")["spec"]["renewTime"] == "2026-03-14T09:26:53.000001Z"
        rv = created.metadata.resource_version

        code, text = status_of(lambda: api.create_namespaced_lease("ns", body(holderIdentity="b")))
        assert code == 409 and '"reason": "AlreadyExists"' in text.replace('":"', '": "')
        code, text = status_of(
            lambda: api.replace_namespaced_lease("l", "ns", body(holderIdentity="b"))
        )
        assert (
            code == 422
            and "metadata.resourceVersion" in text
            and "must be specified for an update" in text
        )
        code, _ = status_of(
            lambda: api.replace_namespaced_lease("l", "ns", body("1", holderIdentity="b"))
        )
        assert code == 409
        replaced = api.replace_namespaced_lease("l", "ns", body(rv, holderIdentity="b"))
        assert int(replaced.metadata.resource_version) > int(rv)
        code, _ = status_of(
            lambda: api.replace_namespaced_lease("l", "ns", body(rv, holderIdentity="c"))
        )
        assert code == 409  # the old version again: stale
        assert emu.get("Lease", "ns", "l")["spec"]["holderIdentity"] == "b"

        # MicroTime needs six fractional digits (Go's RFC3339Micro layout).
        code, text = status_of(
            lambda: api.create_namespaced_lease(
                "ns", {**body(renewTime="2026-03-14T09:26:53Z"), "metadata": {"name": "m"}}
            )
        )
        assert code == 400 and "2006-01-02T15:04:05.000000Z07:00" in text
        code, text = status_of(
            lambda: api.create_namespaced_lease(
                "ns", {**body(leaseDurationSeconds=0), "metadata": {"name": "m"}}
            )
        )
        assert code == 422 and "spec.leaseDurationSeconds" in text

        # AllowCreateOnUpdate: a PUT creates an absent Lease.
        made = api.replace_namespaced_lease(
            "n", "ns", {**body(holderIdentity="x"), "metadata": {"name": "n"}}
        )
        assert made.spec.holder_identity == "x" and emu.get("Lease", "ns", "n") is not None

    spec = load_spec()
    if spec is not None:
        path = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
        assert (
            validate_request(
                spec,
                "POST",
                path,
                {},
                "application/json",
                body(renewTime="2026-03-14T09:26:53.000001Z"),
            )
            == []
        )
        (problem,) = validate_request(
            spec, "POST", path, {}, "application/json", body(renewTime="2026-03-14T09:26:53Z")
        )
        assert "spec.renewTime" in problem


def test_the_emulator_refuses_a_lease_body_of_another_media_type_like_the_api_server() -> None:
    """415 UnsupportedMediaType for a create or update in a type the API server cannot
    decode, nothing written; no Content-Type at all is read as application/json (its
    NegotiateInputSerializer), which is why the fixture checks the bot's own requests."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l"},
        "spec": {"holderIdentity": "a"},
    }
    with K8sEmulator() as emu:
        collection = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
        where = urlsplit(emu.url)

        def send(method: str, path: str, content_type: str | None) -> tuple[int, dict[str, Any]]:
            # http.client, not urllib: urllib would add a form Content-Type of its own.
            headers = {"Content-Type": content_type} if content_type else {}
            connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
            try:
                connection.request(method, path, body=json.dumps(lease), headers=headers)
                answer = connection.getresponse()
                return answer.status, json.loads(answer.read())
            finally:
                connection.close()

        for wrong in ("text/plain", "application/x-www-form-urlencoded", MERGE_PATCH):
            code, status = send("POST", collection, wrong)
            assert (code, status["reason"]) == (415, "UnsupportedMediaType"), wrong
        assert emu.get("Lease", "ns", "l") is None
        code, created = send("POST", collection, None)
        assert code == 201
        lease["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        code, status = send("PUT", f"{collection}/l", "text/plain")
        assert (code, status["reason"]) == (415, "UnsupportedMediaType")
        assert send("PUT", f"{collection}/l", "application/json; charset=utf-8")[0] == 200


# --------------------------------------------------------------------------- configuration


def test_lock_settings() -> None:
    assert Settings().lock.kind == "file"
    lock = Settings.model_validate({"lock": {"kind": "lease", "wait": True}}).lock
    assert (lock.lease.name, lock.lease.duration_seconds, lock.lease.renew_seconds) == (
        "hotfix-bot",
        15,
        5,
    )
    with pytest.raises(ValidationError, match="renew_seconds must be less than duration_seconds"):
        Settings.model_validate({"lock": {"lease": {"duration_seconds": 5, "renew_seconds": 5}}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Settings.model_validate({"lock": {"lease": {"namespace": "x", "deployment": "y"}}})


def test_the_lease_namespace_comes_from_config_the_downward_api_or_the_service_account(
    tmp_path: Path,
) -> None:
    account = tmp_path / "namespace"
    assert (
        lease_namespace("ops", environ={"POD_NAMESPACE": "x"}, service_account_file=account)
        == "ops"
    )
    assert (
        lease_namespace(None, environ={"POD_NAMESPACE": "x"}, service_account_file=account) == "x"
    )
    account.write_text("hotfix-bot\n")
    assert lease_namespace(None, environ={}, service_account_file=account) == "hotfix-bot"
    with pytest.raises(KubeError, match="does not know its namespace"):
        lease_namespace(None, environ={}, service_account_file=tmp_path / "absent")


def test_the_shipped_cluster_config_uses_the_lease() -> None:
    configmap = yaml.safe_load((REPO / "deploy" / "configmap.yaml").read_text())
    lock = Settings.model_validate(yaml.safe_load(configmap["data"]["hotfix.yml"])).lock
    assert (lock.kind, lock.wait, lock.lease.in_cluster, lock.lease.namespace) == (
        "lease",
        True,
        True,
        None,  # POD_NAMESPACE, from the downward API in deploy/deployment.yaml
    )
    deployment = yaml.safe_load((REPO / "deploy" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in container["env"]
