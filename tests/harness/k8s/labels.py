"""Label selectors (``a=b,c in (x,y),!d``), label and name syntax."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_KEY_RE = re.compile(rf"^(({_DNS_SUBDOMAIN})/)?{_LABEL_NAME}$")
_LABEL_VALUE_RE = re.compile(rf"^({_LABEL_NAME})?$")
DNS_SUBDOMAIN_RE = re.compile(rf"^{_DNS_SUBDOMAIN}$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_SET_TERM = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_TERM = re.compile(r"^(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS_TERM = re.compile(r"^(?P<neg>!\s*)?(?P<key>[^\s!=(),]+)$")

Requirement = tuple[str, str, frozenset[str]]


def _valid_label_key(key: str) -> bool:
    if not _LABEL_KEY_RE.match(key):
        return False
    prefix, _, name = key.rpartition("/")
    return len(name) <= 63 and len(prefix) <= 253


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE_RE.match(value))


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms]


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into requirements.

    Raises ``ValueError`` on a malformed selector, as the API server answers 400.
    """
    requirements: list[Requirement] = []
    if not text.strip():
        return requirements
    for term in _split_terms(text):
        if match := _SET_TERM.match(term):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            if not values:
                raise ValueError(
                    f"{term!r}: for 'in', 'notin' operators, values set can't be empty"
                )
            requirements.append((match["key"], match["op"], values))
        elif match := _EQ_TERM.match(term):
            op = "!=" if match["op"] == "!=" else "="
            requirements.append((match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS_TERM.match(term):
            requirements.append((match["key"], "!" if match["neg"] else "exists", frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
        key = requirements[-1][0]
        if not _valid_label_key(key):
            raise ValueError(f"invalid label key {key!r}")
        for value in requirements[-1][2]:
            if not _valid_label_value(value):
                raise ValueError(f"invalid label value {value!r}")
    return requirements


def label_selector_matches(requirements: Iterable[Requirement], labels: Mapping[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        ok = {
            "=": present and value in values,
            "!=": not present or value not in values,
            "in": present and value in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[op]
        if not ok:
            return False
    return True


def selector_requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    """A ``LabelSelector`` object (matchLabels / matchExpressions) as requirements."""
    reqs: list[Requirement] = [
        (k, "=", frozenset({str(v)})) for k, v in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append((expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or [])))
    return reqs


def selector_string(selector: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], ",".join(sorted(expr.get("values") or []))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}.get(
                op, key if op == "Exists" else f"!{key}"
            )
        )
    return ",".join(parts)


# --------------------------------------------------------------------------- patches


def check_labels(path: str, labels: Any) -> list[tuple[str, str]]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(path, "Invalid value: must be a map of strings")]
    errors = []
    for key, value in labels.items():
        if not _valid_label_key(key):
            errors.append((path, f"Invalid value: {key!r}: not a valid label key"))
        if not isinstance(value, str) or not _valid_label_value(value):
            errors.append(
                (
                    path,
                    f"Invalid value: {value!r}: a valid label must be 63 characters or less, alphanumeric, '-', '_' or '.'",
                )
            )
    return errors
