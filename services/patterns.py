"""Patterns and checks shared by configuration fields.

Pydantic checks `pattern=` with Rust's regex engine, where `$` is the end of the
text (not "before a final newline" as in Python's re): `^…$` is a full match.
"""

from __future__ import annotations

import re
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


# The placeholders a per-incident link template may use: {number} (42) and {incident_id}
# (INC-42). Anything else in braces is a typo that would reach people as-is.
LINK_PLACEHOLDERS = ("number", "incident_id")


def link_for(template: str, *, number: int, incident_id: str) -> str:
    """`template` with the incident's placeholders filled in (plain replacement: a URL's
    own braces, if any, are left alone)."""
    return template.replace("{number}", str(number)).replace("{incident_id}", incident_id)


def parsed_link_template(value: str) -> str:
    """`value` when, filled in for an incident, it is a usable http(s) URL; else why not."""
    unknown = sorted(set(re.findall(r"\{([^{}]*)\}", value)) - set(LINK_PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}: use {{number}} (42) or {{incident_id}} (INC-42)"
        )
    if any(char in value for char in '<>|"'):
        # Slack's link markup `<url|label>` would end at any of them.
        raise ValueError('the link must not contain <, >, | or "')
    sample = link_for(value, number=42, incident_id="INC-42")
    if not re.fullmatch(HTTP_URL, sample):
        raise ValueError(
            "the link must be an http(s) URL with no blanks, e.g. https://zoom.us/j/{number}"
        )
    parsed_http_url(sample)
    return value


LinkTemplate = Annotated[str, AfterValidator(parsed_link_template)]
