"""One bot per database: a second process must not run a second scheduler or engine.

``lock.kind: file`` (the default) is an exclusive `flock` on a file next to the
SQLite database; the kernel releases it when the process dies, even on SIGKILL,
so a crashed bot never blocks its replacement.

``lock.kind: lease`` is a Kubernetes Lease in the bot's own namespace
(`services.kube.lease`), for a cluster where the volume may be mounted by another node:
the holder renews it, releases it on a clean shutdown (SIGTERM, Ctrl-C), and
stops serving when it loses it.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

from services.clock import Clock
from services.kube.client import KubeClient, KubeError, build_api_client
from services.kube.lease import LeaseHeldError, LeaseLock
from services.settings import LockSettings, Settings

log = logging.getLogger("hotfix_bot")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class AlreadyRunningError(Exception):
    pass


class InstanceLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunningError(
                f"Another hotfix-bot ({holder}) is already serving {self.path.with_suffix('')}.\n"
                "Run one bot per database: stop the other one first (the lock is released"
                " automatically when it exits or crashes)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        """Whether a bot serves this database right now (without taking the lock)."""
        if not self.path.exists():
            return False
        with self.path.open("a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


class HeldLock(Protocol):
    def release(self) -> None: ...


def lease_namespace(
    configured: str | None,
    *,
    environ: Mapping[str, str] = os.environ,
    service_account_file: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """lock.lease.namespace, else $POD_NAMESPACE (downward API), else the service account's."""
    if configured:
        return configured
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        found = service_account_file.read_text(encoding="utf-8").strip()
    except OSError:
        found = ""
    if not found:
        raise KubeError(
            "lock.kind is lease, but the bot does not know its namespace.",
            hint="Set lock.lease.namespace, or POD_NAMESPACE from the downward API"
            " (see deploy/deployment.yaml).",
        )
    return found


def default_identity() -> str:
    """holderIdentity: the host (the pod's name in Kubernetes) and the process id."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class LeaseInstanceLock:
    """``lock.kind: lease``: acquire (or wait for) the Lease, renew it, release it."""

    def __init__(
        self,
        settings: LockSettings,
        *,
        clock: Clock,
        identity: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.identity = identity or default_identity()
        self.environ = environ
        self.lease: LeaseLock | None = None
        self._client: KubeClient | None = None
        self._told: str | None = None

    def acquire(self, *, on_lost: Callable[[str], None]) -> None:
        """Hold the Lease (AlreadyRunningError when another bot does and lock.wait is false)."""
        conf = self.settings.lease
        namespace = lease_namespace(conf.namespace, environ=self.environ)
        try:
            api_client = build_api_client(conf)
        except KubeError as exc:
            exc.hint = (
                "Set lock.lease.kubeconfig / lock.lease.context, or lock.lease.in_cluster: true."
            )
            raise
        self._client = KubeClient(api_client, namespace=namespace)
        self.lease = LeaseLock(
            api=self._client,
            name=conf.name,
            identity=self.identity,
            duration_seconds=conf.duration_seconds,
            renew_seconds=conf.renew_seconds,
            clock=self.clock,
            on_lost=on_lost,
        )
        try:
            self.lease.acquire(wait=self.settings.wait, on_wait=self._waiting)
        except LeaseHeldError as exc:
            self._close()
            raise AlreadyRunningError(
                f"{exc}\nRun one bot per database: stop the other one first, or set"
                " lock.wait: true to wait for its Lease (a bot that stops cleanly releases it"
                " at once; a crashed one's expires)."
            ) from None
        except BaseException:
            self._close()
            raise
        self.lease.start_renewing()

    def _waiting(self, reason: LeaseHeldError | KubeError) -> None:
        text = str(reason) if isinstance(reason, LeaseHeldError) else reason.message
        if text != self._told:  # once per holder and expiry, not every poll
            log.warning("waiting for the single-instance lock: %s", text)
            self._told = text

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        self._close()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.api_client.close()  # type: ignore[no-untyped-call]


def hold_instance_lock(
    settings: Settings, *, clock: Clock, on_lost: Callable[[str], None]
) -> HeldLock:
    """The lock that ``lock.kind`` names, held; AlreadyRunningError when another bot has it.

    The caller keeps the returned lock for the life of the process. A lease is also released
    when the process exits or gets SIGTERM (Kubernetes stopping the pod).
    """
    if settings.lock.kind == "file":
        file_lock = InstanceLock(settings.store.path)
        file_lock.acquire()
        return file_lock
    lease_lock = LeaseInstanceLock(settings.lock, clock=clock)
    lease_lock.acquire(on_lost=on_lost)
    _release_on_exit(lease_lock)
    return lease_lock


def _release_on_exit(lock: HeldLock) -> None:
    atexit.register(lock.release)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        lock.release()
        # Then terminate as before: the previous handler, or the default (killed by SIGTERM).
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
