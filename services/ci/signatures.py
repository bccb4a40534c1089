"""Who sent a webhook: GitHub's HMAC signature, GitLab's secret token, both in constant time.

The secrets are read from the variables the configuration names (`ci.github_secret_env`,
`ci.gitlab_token_env`) at each request, so a rotated secret needs no restart. An unset
variable refuses every request: an endpoint must never accept unsigned webhooks because a
secret was forgotten.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_PREFIX = "sha256="


def github_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def github_verified(
    environ: Mapping[str, str], variable: str | None, *, body: bytes, signature: str | None
) -> bool:
    secret = environ.get(variable) if variable else None
    if not secret or not signature:
        return False
    return hmac.compare_digest(github_signature(secret, body).encode(), signature.encode())


def gitlab_verified(environ: Mapping[str, str], variable: str | None, *, token: str | None) -> bool:
    secret = environ.get(variable) if variable else None
    if not secret or token is None:
        return False
    return hmac.compare_digest(secret.encode(), token.encode())
