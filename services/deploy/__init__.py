"""Deployments: approval gates, the persisted deploy engine, its backends, verification, rollback."""
