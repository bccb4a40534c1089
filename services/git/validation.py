"""Input validation done before any git command runs.

Everything that ends up in an argv list or a commit/tag message passes
through here: issue keys, descriptions (slugified), branch names (the rules
of ``git check-ref-format --branch``), remote names and trailer values.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInputError

SLUG_MAX_LENGTH = 40

_REF_FORBIDDEN_CHARS = frozenset(" ~^:?*[\\")
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
_TRAILER_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
_MESSAGE_EXTRA_MAX = 2000


def validate_issue_key(key: str, pattern: str) -> str:
    """Return ``key`` (stripped) if it fully matches ``pattern`` and is ref-safe."""
    candidate = key.strip()
    # ASCII: a configured \d or \w means 0-9 and A-Za-z0-9_, not every script's digits.
    if not candidate or re.fullmatch(pattern, candidate, re.ASCII) is None:
        raise InvalidInputError(
            "issue_key",
            f"invalid issue key {candidate[:60]!r}: expected something like PROD-2847 "
            f"(pattern {pattern})",
            hint="give the tracker's issue key, e.g. PROD-2847",
        )
    if ref_format_problem(candidate) is not None or "/" in candidate:
        raise InvalidInputError(
            "issue_key", f"issue key {candidate!r} cannot be part of a branch name"
        )
    return candidate


def slugify(text: str | None, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Lowercase ``a-z0-9`` words joined by single dashes, at most ``max_length`` long.

    Accents are folded to ASCII; anything else becomes a separator. Cutting
    prefers a word boundary, and the result never ends with a dash. Returns
    ``""`` when nothing usable is left.
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        if slug[max_length] != "-" and "-" in cut:
            cut = cut.rsplit("-", 1)[0]
        slug = cut.strip("-")
    return slug


def ref_format_problem(name: str, *, branch: bool = False) -> str | None:
    """Why ``name`` is not a valid ref name (``git check-ref-format``), or None.

    With ``branch=True`` the extra rules of ``--branch`` apply (no leading
    dash, not ``HEAD``). One-level names are allowed, as with ``--branch``.
    """
    if not name:
        return "it is empty"
    if name == "@":
        return "it is '@'"
    if branch and name.startswith("-"):
        return "it starts with '-'"
    if branch and name == "HEAD":
        return "it is 'HEAD'"
    if name.startswith("/") or name.endswith("/"):
        return "it starts or ends with '/'"
    if name.endswith("."):
        return "it ends with '.'"
    if "//" in name:
        return "it contains '//'"
    if ".." in name:
        return "it contains '..'"
    if "@{" in name:
        return "it contains '@{'"
    for char in name:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return "it contains a control character"
        if char in _REF_FORBIDDEN_CHARS:
            return f"it contains {char!r}"
    for component in name.split("/"):
        if component.startswith("."):
            return "a component starts with '.'"
        if component.endswith(".lock"):
            return "a component ends with '.lock'"
    return None


def validate_branch_name(name: str, field: str = "branch") -> str:
    problem = ref_format_problem(name, branch=True)
    if problem is not None:
        raise InvalidInputError(field, f"invalid branch name {name[:80]!r}: {problem}")
    return name


def validate_tag_prefix(prefix: str) -> str:
    if prefix and (ref_format_problem(prefix + "0.0.0") is not None or "/" in prefix):
        raise InvalidInputError("tag_prefix", f"invalid tag prefix {prefix!r}")
    if any(c in prefix for c in "*?[]"):
        raise InvalidInputError("tag_prefix", f"invalid tag prefix {prefix!r}")
    return prefix


def validate_remote_name(name: str) -> str:
    if _REMOTE_NAME.fullmatch(name) is None or ".." in name or name.endswith(".lock"):
        raise InvalidInputError("remote", f"invalid remote name {name[:60]!r}")
    return name


def validate_trailer_value(value: str | None, field: str) -> str | None:
    """A single printable line for a commit/tag trailer such as ``Severity:``."""
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        return None
    if _TRAILER_VALUE.fullmatch(stripped) is None:
        raise InvalidInputError(
            field, f"{field} must be one printable line of at most 100 characters"
        )
    return stripped


def validate_message_extra(value: str | None) -> str | None:
    """Free text for the merge and tag messages: no control characters, bounded size."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").strip()
    if not text:
        return None
    if len(text) > _MESSAGE_EXTRA_MAX:
        raise InvalidInputError(
            "message_extra", f"message_extra is longer than {_MESSAGE_EXTRA_MAX} characters"
        )
    if any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in text):
        raise InvalidInputError("message_extra", "message_extra contains control characters")
    return text


def validate_issue_url_template(template: str) -> str:
    if "{key}" not in template:
        raise InvalidInputError("issue_url_template", "issue_url_template must contain '{key}'")
    rest = template.replace("{key}", "")
    if "{" in rest or "}" in rest:
        raise InvalidInputError(
            "issue_url_template", "issue_url_template may only use the '{key}' field"
        )
    return template
