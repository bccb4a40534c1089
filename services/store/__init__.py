"""The SQLite store: one file, WAL, versioned schema."""

from services.store.database import Store, StoreError
from services.store.migrations import MIGRATIONS, Migration

__all__ = ["MIGRATIONS", "Migration", "Store", "StoreError"]
