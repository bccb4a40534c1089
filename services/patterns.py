"""Patterns shared by configuration fields.

Pydantic checks `pattern=` with Rust's regex engine, where `$` is the end of the
text (not "before a final newline" as in Python's re): `^…$` is a full match.
"""

from __future__ import annotations

# An http(s) URL with no blank or newline anywhere in it.
HTTP_URL = r"^https?://\S+$"
