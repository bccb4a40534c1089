"""CI status from GitHub and GitLab webhooks (README "CI status").

Webhooks arrive signed (GitHub: HMAC-SHA256 in X-Hub-Signature-256; GitLab: the secret
token in X-Gitlab-Token); the runs they report are stored per commit, shown live on the
hotfix messages in the war room, and read by the `requires_ci` promotion gate (`gate`).
"""
