"""One bot at a time in a cluster: a coordination.k8s.io/v1 Lease, as client-go's leader election.

The Lease names its holder (``holderIdentity``), how long others must wait after the
holder's last renewal (``leaseDurationSeconds``, measured from ``renewTime``), when the
holder took it (``acquireTime``) and how often it changed hands (``leaseTransitions``).

* **Acquire**: create the Lease when absent (409 AlreadyExists: someone else was quicker,
  read it again). Held by someone else and not expired: `LeaseHeldError` (or wait, polling).
  Expired or released: take it over with a PUT carrying the resourceVersion read, so that of
  two candidates only one wins (409 Conflict: read again, never overwrite).
* **Renew** every ``renew_seconds`` on a daemon thread. A holder that finds someone else in
  the Lease, or that could not renew for ``duration - renew_seconds`` (a watchdog measures it,
  even while a request hangs), has lost it and must stop serving: ``on_lost`` is called once.
* **Release** on a clean shutdown: the holder identity is emptied, so a successor takes the
  Lease at once instead of waiting for it to expire.

Only `services.kube.client` talks to the API server; this module sees it through
`LeaseApi`. Time comes from the injected clock.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.clock import Clock
from services.kube.errors import KubeConflictError, KubeError, KubeNotFoundError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# Optimistic-concurrency rounds before giving up for now (a waiting caller tries again later).
MAX_CONFLICTS = 5


class LeaseApi(Protocol):
    """The Lease calls of `KubeClient`, on the lease's namespace."""

    namespace: str

    def get_lease(self, name: str) -> Obj: ...
    def create_lease(self, body: Obj) -> Obj: ...
    def replace_lease(self, name: str, body: Obj) -> Obj: ...


def micro_time(moment: datetime) -> str:
    """A ``MicroTime`` as the API server wants it: UTC, exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says, read from the object the API server answered."""

    holder: str
    duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int
    resource_version: str

    @classmethod
    def of(cls, obj: Obj) -> LeaseRecord:
        spec = obj.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str((obj.get("metadata") or {}).get("resourceVersion") or ""),
        )

    @property
    def expires_at(self) -> datetime | None:
        """When others may take it over: renewTime + leaseDurationSeconds (None: no holder)."""
        if not self.holder:
            return None
        if self.renew_time is None:
            return datetime.min.replace(tzinfo=UTC)  # held but never renewed: expired
        return self.renew_time + timedelta(seconds=self.duration_seconds)

    def held_by_other(self, identity: str, now: datetime) -> bool:
        expires = self.expires_at
        return (
            bool(self.holder) and self.holder != identity and expires is not None and now < expires
        )


class LeaseHeldError(Exception):
    """Someone else holds the Lease and it has not expired."""

    def __init__(self, where: str, record: LeaseRecord) -> None:
        self.where = where
        self.record = record
        self.holder = record.holder
        self.expires_at = record.expires_at
        renewed = f"renewed {_when(record.renew_time)}, " if record.renew_time else ""
        until = _when(self.expires_at) if self.expires_at else "(unknown)"
        super().__init__(
            f"Another hotfix-bot ({record.holder}) holds the Kubernetes Lease {where}"
            f" until {until} ({renewed}held for {record.duration_seconds} s after each renewal)."
        )


class LeaseLock:
    """The bot's Lease: acquire (or wait), keep renewing, release. Keyword-only dependencies."""

    def __init__(
        self,
        *,
        api: LeaseApi,
        name: str,
        identity: str,
        duration_seconds: int,
        renew_seconds: float,
        clock: Clock,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.name = name
        self.identity = identity
        self.duration_seconds = duration_seconds
        self.renew_seconds = renew_seconds
        self.clock = clock
        self.where = f"{api.namespace}/{name}"
        self._held: Obj | None = None  # the Lease as we last wrote it (its resourceVersion)
        self._last_renewal: datetime | None = None
        self._mutex = threading.Lock()  # renewals and the release never interleave
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._on_lost = on_lost  # called once, with why, when the Lease is lost
        self._lost = False
        self._losing = threading.Lock()  # the renewer and the watchdog may both notice

    # ----------------------------------------------------------------- state

    @property
    def held(self) -> bool:
        return self._held is not None and not self._lost

    @property
    def give_up_after(self) -> timedelta:
        """A holder that could not renew for this long stops, before anyone may take over."""
        return timedelta(seconds=self.duration_seconds - self.renew_seconds)

    # ----------------------------------------------------------------- acquire

    def try_acquire(self) -> LeaseRecord:
        """Take the Lease now, or raise `LeaseHeldError` naming its holder and its expiry."""
        for _ in range(MAX_CONFLICTS):
            now = self.clock.now()
            try:
                current = self.api.get_lease(self.name)
            except KubeNotFoundError:
                try:
                    written = self.api.create_lease(self._new_lease(now))
                except KubeConflictError:
                    continue  # 409 AlreadyExists: another candidate created it first; read it
                return self._took(written, now)
            record = LeaseRecord.of(current)
            if record.held_by_other(self.identity, now):
                raise LeaseHeldError(self.where, record)
            try:
                written = self.api.replace_lease(self.name, self._taken_over(current, record, now))
            except KubeConflictError:
                continue  # written since we read it: read again, never overwrite
            if record.holder and record.holder != self.identity:
                log.warning(
                    "took over the expired Lease %s from %s (last renewed %s)",
                    self.where,
                    record.holder,
                    _when(record.renew_time) if record.renew_time else "never",
                )
            return self._took(written, now)
        raise KubeConflictError(
            f"Could not take the Lease {self.where}: it changed {MAX_CONFLICTS} times while"
            " the bot tried.",
            hint="Another bot is starting at the same moment; try again.",
        )

    def acquire(
        self, *, wait: bool, on_wait: Callable[[LeaseHeldError | KubeError], None] | None = None
    ) -> LeaseRecord:
        """`try_acquire`; with ``wait``, poll every ``renew_seconds`` until the Lease is ours."""
        while True:
            try:
                return self.try_acquire()
            except (LeaseHeldError, KubeError) as exc:
                retry = isinstance(exc, LeaseHeldError) or exc.retryable
                if not wait or not retry:
                    raise
                if on_wait is not None:
                    on_wait(exc)
            self.clock.sleep(self.renew_seconds)

    def _new_lease(self, now: datetime) -> Obj:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.api.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration_seconds,
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            },
        }

    def _taken_over(self, current: Obj, record: LeaseRecord, now: datetime) -> Obj:
        body = copy.deepcopy(current)
        spec = body.setdefault("spec", {})
        mine = record.holder == self.identity
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.duration_seconds,
            acquireTime=spec.get("acquireTime") if mine else micro_time(now),
            renewTime=micro_time(now),
            leaseTransitions=record.transitions if mine else record.transitions + 1,
        )
        if spec["acquireTime"] is None:
            spec["acquireTime"] = micro_time(now)
        return body

    def _took(self, written: Obj, now: datetime) -> LeaseRecord:
        self._held = written
        self._last_renewal = now
        self._lost = False
        record = LeaseRecord.of(written)
        log.info(
            "holding the Lease %s as %s (transitions: %s)",
            self.where,
            self.identity,
            record.transitions,
        )
        return record

    # ----------------------------------------------------------------- renew

    def renew(self) -> bool:
        """Renew once. True: renewed. False: failed, will retry. Calls ``on_lost`` when someone
        else holds the Lease now."""
        with self._mutex:
            if self._held is None or self._lost or self._stop.is_set():
                return False
            now = self.clock.now()
            body = copy.deepcopy(self._held)
            body.setdefault("spec", {})["renewTime"] = micro_time(now)
            try:
                try:
                    written = self.api.replace_lease(self.name, body)
                except KubeConflictError:
                    current = self.api.get_lease(self.name)
                    record = LeaseRecord.of(current)
                    if record.holder != self.identity:
                        self._lose(
                            f"the Lease {self.where} is now held by {record.holder or 'nobody'}"
                        )
                        return False
                    # Still ours (someone changed a label, say): renew on the new version.
                    retry = copy.deepcopy(current)
                    retry.setdefault("spec", {})["renewTime"] = micro_time(now)
                    written = self.api.replace_lease(self.name, retry)
            except KubeError as exc:
                log.warning("could not renew the Lease %s: %s", self.where, exc.message)
                return False
            self._held = written
            self._last_renewal = now
            return True

    def check_deadline(self) -> bool:
        """True (and ``on_lost`` called) when the last renewal is too old to go on serving."""
        if self._held is None or self._lost or self._last_renewal is None:
            return self._lost
        silent = self.clock.now() - self._last_renewal
        if silent >= self.give_up_after:
            self._lose(
                f"could not renew the Lease {self.where} for {silent.total_seconds():.1f} s"
                f" (it expires {self.duration_seconds} s after the last renewal)"
            )
        return self._lost

    def _lose(self, why: str) -> None:
        with self._losing:
            if self._lost:
                return
            self._lost = True
        self._stop.set()
        message = (
            f"hotfix-bot lost its single-instance lock: {why}. Stopping now, so that two bots"
            " never serve at once; the replacement takes the Lease when it is free."
        )
        log.critical(message)
        if self._on_lost is not None:
            self._on_lost(message)

    def start_renewing(self) -> None:
        """Renew on a daemon thread; a watchdog thread calls ``on_lost`` when renewals stop."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True),
            threading.Thread(target=self._watchdog_loop, name="lease-watchdog", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _renew_loop(self) -> None:
        interval = self.renew_seconds
        while not self._stop.wait(interval):
            # After a failure, retry sooner: the deadline is duration - renew_seconds away.
            interval = self.renew_seconds if self.renew() else min(self.renew_seconds, 1.0) / 2

    def _watchdog_loop(self) -> None:
        while not self._stop.wait(min(self.renew_seconds, 1.0) / 2):
            if self.check_deadline():
                return

    # ----------------------------------------------------------------- release

    def release(self) -> None:
        """Give the Lease up (holder emptied, renewTime cleared) if it is still ours.
        Best effort: a Lease not released expires anyway."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        with self._mutex:
            held, self._held = self._held, None
            if held is None or self._lost:
                return
            body = held
            for _ in range(2):
                spec = body.setdefault("spec", {})
                spec["holderIdentity"] = ""
                spec.pop("renewTime", None)
                spec.pop("acquireTime", None)
                try:
                    self.api.replace_lease(self.name, body)
                    log.info("released the Lease %s", self.where)
                    return
                except KubeConflictError:
                    try:
                        body = self.api.get_lease(self.name)
                    except KubeError as exc:
                        log.warning("could not release the Lease %s: %s", self.where, exc.message)
                        return
                    if LeaseRecord.of(body).holder != self.identity:
                        return  # no longer ours: nothing to give up
                except KubeError as exc:
                    log.warning("could not release the Lease %s: %s", self.where, exc.message)
                    return
