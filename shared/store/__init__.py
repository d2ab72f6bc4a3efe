"""The document store port and its adapters (SQLite embedded, Firestore in the cloud).

`shared.store.firestore` is not imported here: it is loaded (with `google.cloud`) only by `build_store`
when the settings choose Firestore, or by a direct import.
"""

from shared.store.build import build_store
from shared.store.port import Document, DocumentStore, StoreUnavailable
from shared.store.sqlite import SqliteStore

__all__ = ["Document", "DocumentStore", "SqliteStore", "StoreUnavailable", "build_store"]
