"""The only module that talks to Prometheus' HTTP API: instant queries.

``PrometheusClient.query`` sends ``/api/v1/query`` (POST form body by default,
GET on request) with ``query``, an optional evaluation ``time`` and a
server-side ``timeout`` equal to the client's, and returns a typed
:class:`QueryResult` (an instant vector, possibly empty or with several
series, or a scalar). Values arrive as strings in Prometheus' JSON; ``NaN``,
``+Inf`` and ``-Inf`` parse to the matching floats.

Errors (all :class:`PrometheusError`, each saying whether a retry may help):

* :class:`PrometheusUnavailableError` (retryable): connection refused, DNS,
  timeouts, a dropped connection, HTTP 429 and 5xx (Prometheus answers 503
  when a query times out on the server).
* :class:`PrometheusQueryError` (not retryable): HTTP 400 ``bad_data`` or 422
  ``execution`` -- the PromQL is wrong; the message carries Prometheus' text.
  Also raised for a result type an instant check cannot use (a range vector,
  a string, native histogram samples).
* :class:`PrometheusAuthError` (not retryable): HTTP 401/403.
* :class:`PrometheusConfigError` (not retryable): a bad URL, or the bearer
  token's environment variable is not set.
* :class:`PrometheusError` itself: anything else (an unexpected status such as
  404 from a wrong URL prefix, a body that is not Prometheus' JSON).

The bearer token is sent as ``Authorization: Bearer …``; it is never logged,
never part of ``repr`` and scrubbed from any response text quoted in an error.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.errors import TemporaryError, UserFacingError

ResultType = Literal["vector", "scalar"]
Method = Literal["GET", "POST"]

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_SNIPPET = 300


# -- errors -------------------------------------------------------------------


class PrometheusError(UserFacingError):
    """Base of the tree; ``retryable`` says whether asking again may help."""

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        if retryable is not None:
            self.retryable = retryable


class PrometheusUnavailableError(PrometheusError, TemporaryError):
    """Prometheus could not answer now (down, slow, overloaded): try again later."""


class PrometheusQueryError(PrometheusError):
    """Prometheus refused the PromQL itself: a person must fix the query."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        query: str,
        error: str,
        error_type: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.query = query
        self.error = error  # Prometheus' own text, e.g. "1:9: parse error: ..."
        self.error_type = error_type


class PrometheusAuthError(PrometheusError):
    """HTTP 401/403: the token is missing, wrong or lacks access."""

    retryable = False


class PrometheusConfigError(PrometheusError):
    """The client cannot be built as configured (URL, token variable)."""

    retryable = False


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One element of an instant vector (or the value of a scalar, with no labels)."""

    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    timestamp: float | None = None

    def describe(self) -> str:
        """The series as PromQL prints it: ``{pod="a", version="v2"}`` (``{}`` for none)."""
        inner = ", ".join(f'{key}="{value}"' for key, value in sorted(self.labels.items()))
        return "{" + inner + "}"


@dataclass(frozen=True)
class QueryResult:
    result_type: ResultType
    series: tuple[Series, ...]
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.series

    @property
    def values(self) -> list[float]:
        return [item.value for item in self.series]


def parse_value(raw: object) -> float:
    """A sample value from Prometheus' JSON: a string such as "0.25", "NaN", "+Inf", "-Inf"."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise PrometheusError(f"unexpected sample value {raw!r} in Prometheus' answer")
    try:
        return float(raw)
    except ValueError:
        raise PrometheusError(f"unexpected sample value {raw!r} in Prometheus' answer") from None


def _parse_point(point: object) -> tuple[float, float]:
    if not isinstance(point, list) or len(point) != 2:
        raise PrometheusError(f"unexpected sample {point!r} in Prometheus' answer")
    timestamp, raw = point
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise PrometheusError(f"unexpected sample time {timestamp!r} in Prometheus' answer")
    return float(timestamp), parse_value(raw)


def parse_result(data: object, *, query: str, warnings: tuple[str, ...] = ()) -> QueryResult:
    """The ``data`` member of a successful ``/api/v1/query`` answer."""
    if not isinstance(data, dict):
        raise PrometheusError("Prometheus' answer has no `data` object")
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        timestamp, value = _parse_point(result)
        return QueryResult("scalar", (Series(value, {}, timestamp),), warnings)
    if result_type == "vector":
        if not isinstance(result, list):
            raise PrometheusError("Prometheus' vector result is not a list")
        series: list[Series] = []
        for item in result:
            if not isinstance(item, dict):
                raise PrometheusError(f"unexpected vector element {item!r}")
            if "value" not in item:
                raise PrometheusQueryError(
                    "the query returns native histogram samples; an analysis needs plain "
                    "numbers (wrap it in histogram_quantile() or histogram_count())",
                    query=query,
                    error="native histogram samples in the result",
                )
            labels = item.get("metric", {})
            if not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
            ):
                raise PrometheusError(f"unexpected labels {labels!r} in Prometheus' answer")
            timestamp, value = _parse_point(item["value"])
            series.append(Series(value, dict(labels), timestamp))
        return QueryResult("vector", tuple(series), warnings)
    if result_type in ("matrix", "string"):
        raise PrometheusQueryError(
            f"the query returns a {result_type}, not a number per series: an analysis "
            "needs an instant vector or a scalar (wrap a range selector in rate(), "
            "avg_over_time(), ...)",
            query=query,
            error=f"result type {result_type}",
        )
    raise PrometheusError(f"unexpected result type {result_type!r} in Prometheus' answer")


# -- the client ---------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class PrometheusClient:
    """Instant queries against one Prometheus server (or a compatible API: Thanos, Mimir...)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        bearer_token: str | None = None,
        token_source: str | None = None,
        method: Method = "POST",
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PrometheusConfigError(
                f"Prometheus URL {redact_url(base_url)!r} is not an http(s) URL"
            )
        if timeout <= 0 or math.isnan(timeout):
            raise PrometheusConfigError("Prometheus query timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.endpoint = f"{self.base_url}/api/v1/query"
        self.timeout = timeout
        self.method: Method = method
        self._token = bearer_token or None
        # Where the token came from, for messages ("$PROMETHEUS_TOKEN"); never the token.
        self._token_source = token_source or ("a bearer token" if self._token else None)

    @classmethod
    def from_env(
        cls,
        base_url: str,
        *,
        bearer_token_env: str | None = None,
        timeout: float = 10.0,
        method: Method = "POST",
        environ: Mapping[str, str] | None = None,
    ) -> PrometheusClient:
        """Build a client whose token is read from the environment variable named in config."""
        token: str | None = None
        if bearer_token_env:
            env = os.environ if environ is None else environ
            token = env.get(bearer_token_env, "").strip()
            if not token:
                raise PrometheusConfigError(
                    f"the environment variable {bearer_token_env} (bearer_token_env) "
                    "holding the Prometheus token is not set or empty"
                )
        return cls(
            base_url,
            timeout=timeout,
            bearer_token=token,
            token_source=f"${bearer_token_env}" if bearer_token_env else None,
            method=method,
        )

    def __repr__(self) -> str:
        auth = f", token from {self._token_source}" if self._token else ""
        return f"PrometheusClient({redact_url(self.base_url)!r}{auth})"

    @property
    def display_url(self) -> str:
        return redact_url(self.base_url)

    def query(
        self, promql: str, *, at: datetime | float | None = None, timeout: float | None = None
    ) -> QueryResult:
        """Evaluate ``promql`` at ``at`` (default: Prometheus' now)."""
        seconds = self.timeout if timeout is None else timeout
        params = {"query": promql, "timeout": f"{seconds:.3f}"}
        if at is not None:
            stamp = at.timestamp() if isinstance(at, datetime) else float(at)
            params["time"] = f"{stamp:.3f}"
        encoded = urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": "hotfix-bot"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if self.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self.endpoint, data=encoded.encode(), headers=headers, method="POST"
            )
        else:
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                f"{self.endpoint}?{encoded}", headers=headers, method="GET"
            )
        status, body = self._send(request, seconds)
        return self._interpret(status, body, promql)

    # -- internals ------------------------------------------------------------

    def _send(self, request: urllib.request.Request, seconds: float) -> tuple[int, bytes]:
        try:
            opened = urllib.request.urlopen(request, timeout=seconds)  # noqa: S310 - http(s)
            response: http.client.HTTPResponse | urllib.error.HTTPError = opened
        except urllib.error.HTTPError as exc:
            response = exc  # a status Prometheus chose: its body says why
        except (OSError, http.client.HTTPException) as exc:
            raise self._unavailable(exc, seconds) from None
        try:
            with response:
                status = (
                    response.status
                    if isinstance(response, http.client.HTTPResponse)
                    else response.code
                )
                return status, self._read(response)
        except (OSError, http.client.HTTPException) as exc:
            raise self._unavailable(exc, seconds) from None

    def _unavailable(self, exc: BaseException, seconds: float) -> PrometheusUnavailableError:
        where = f"Prometheus at {self.display_url}"
        reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return PrometheusUnavailableError(f"{where} did not answer within {seconds:g} s")
        if isinstance(exc, urllib.error.URLError):
            return PrometheusUnavailableError(f"{where} is unreachable: {self._scrub(str(reason))}")
        text = str(exc) or type(exc).__name__
        return PrometheusUnavailableError(f"{where} dropped the connection: {self._scrub(text)}")

    @staticmethod
    def _read(response: http.client.HTTPResponse | urllib.error.HTTPError) -> bytes:
        body = response.read(MAX_RESPONSE_BYTES + 1)
        if len(body) > MAX_RESPONSE_BYTES:
            raise PrometheusError(
                f"Prometheus' answer is larger than {MAX_RESPONSE_BYTES} bytes: "
                "aggregate the query (sum by ...) to fewer series"
            )
        return body

    def _scrub(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _snippet(self, body: bytes) -> str:
        text = " ".join(body.decode("utf-8", errors="replace").split())
        text = self._scrub(text)
        return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"

    def _interpret(self, status: int, body: bytes, promql: str) -> QueryResult:
        where = f"Prometheus at {self.display_url}"
        payload: object = None
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        error_type = error_text = None
        if isinstance(payload, dict) and payload.get("status") == "error":
            error_type = str(payload.get("errorType", "")) or None
            error_text = self._scrub(str(payload.get("error", "")))
        detail = error_text or self._snippet(body) or "(empty body)"

        if status == 200 and isinstance(payload, dict) and payload.get("status") == "success":
            raw_warnings = payload.get("warnings") or []
            warnings = (
                tuple(str(item) for item in raw_warnings) if isinstance(raw_warnings, list) else ()
            )
            return parse_result(payload.get("data"), query=promql, warnings=warnings)
        if error_type in ("bad_data", "execution") and status in (200, 400, 422):
            # Prometheus' own verdict on the PromQL (a proxy's HTML 400 is not one).
            raise PrometheusQueryError(
                f"Prometheus rejected the query: {detail}",
                query=promql,
                error=detail,
                error_type=error_type,
                status=status,
            )
        if status in (401, 403):
            source = f" (token from {self._token_source})" if self._token_source else ""
            raise PrometheusAuthError(
                f"{where} refused the request with HTTP {status}{source}: {detail}",
                status=status,
            )
        if status == 429 or 500 <= status <= 599:
            raise PrometheusUnavailableError(
                f"{where} answered HTTP {status}: {detail}", status=status
            )
        if status == 200:
            raise PrometheusError(
                f"{where} did not answer with Prometheus' API JSON: {detail}", status=status
            )
        raise PrometheusError(
            f"{where} answered HTTP {status} to {urllib.parse.urlsplit(self.endpoint).path}: "
            f"{detail} (is the URL right?)",
            status=status,
        )
