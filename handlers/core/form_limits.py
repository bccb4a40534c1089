"""How long each text field of a form may be: the form's `max_length` and the server's check.

Slack enforces `max_length` in the form itself, but a submission is still checked
here (an old form, another client), so both sides use these numbers. Keyed by the
input's block_id, which names the same thing in every form.
"""

from __future__ import annotations

from typing import Any

from services.comms.customer import PUBLIC_LIMIT

TITLE = 150  # an incident title, as the declare command accepts it
ETA = 150  # "15 minutes", "after the 14:30 failover"
TEXT = 3000  # free text: Slack's largest max_length for a text input

LIMITS: dict[str, int] = {
    "title": TITLE,
    "description": TEXT,
    "message": TEXT,
    "eta": ETA,
    "root_cause": TEXT,
    "resolution": TEXT,
    "action_items": TEXT,
    "public": PUBLIC_LIMIT,  # words for customers (the status page, customer email)
}


def too_long(values: dict[str, Any]) -> dict[str, str]:
    """Field errors for every text longer than its form allows."""
    errors = {}
    for block_id, limit in LIMITS.items():
        value = values.get(block_id)
        if isinstance(value, str) and len(value.strip()) > limit:
            errors[block_id] = (
                f"At most {limit} characters, this has {len(value.strip())}: shorten it."
            )
    return errors
