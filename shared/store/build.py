"""Choose the document store adapter from the settings (`STORE_BACKEND`).

`sqlite` (the default) is one file in the data dir, shared by the processes of the machine; `firestore`
is the cloud, where `FIRESTORE_EMULATOR_HOST` is honoured by the Google client itself (and with it and
no `GOOGLE_CLOUD_PROJECT_ID`, the client picks an emulator project id). The Firestore adapter module,
and with it `google.cloud`, is imported only when chosen.
"""

from __future__ import annotations

from shared.settings import Settings
from shared.store.port import DocumentStore
from shared.store.sqlite import SqliteStore

__all__ = ["SQLITE_FILE", "build_store"]

SQLITE_FILE = "gateway.sqlite3"


def build_store(settings: Settings) -> DocumentStore:
    if settings.store_backend == "sqlite":
        return SqliteStore(settings.data_dir / SQLITE_FILE)
    if settings.store_backend == "firestore":
        from shared.store.firestore import FirestoreStore

        return FirestoreStore(project=settings.google_cloud_project_id, database=settings.firestore_database)
    raise ValueError(f"unknown store backend {settings.store_backend!r}: expected 'sqlite' or 'firestore'")
