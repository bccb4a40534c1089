"""Patterns and checks shared by configuration fields.

Pydantic checks `pattern=` with Rust's regex engine, where `$` is the end of the
text (not "before a final newline" as in Python's re): `^…$` is a full match.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

# An http(s) URL with no blank or newline anywhere in it.
HTTP_URL = r"^https?://\S+$"


def parsed_http_url(value: str) -> str:
    """`value` when an HTTP client can use it; else why not.

    The pattern alone lets `https://host:80x/` or `http://[::1/` through, which would
    only fail when the health check or Prometheus query is first made, mid-deploy.
    """
    try:
        parts = urlsplit(value)
        port = parts.port  # parses the port: a word or 99999 raises here
    except ValueError as exc:
        raise ValueError(f"the URL does not parse: {exc}") from None
    if not parts.hostname:
        raise ValueError("the URL has no host (e.g. https://payments.example.com/healthz)")
    if port == 0:
        raise ValueError("the URL's port must be 1 to 65535")
    return value


HttpUrlText = Annotated[str, Field(pattern=HTTP_URL), AfterValidator(parsed_http_url)]
