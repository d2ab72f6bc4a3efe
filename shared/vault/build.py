"""The vault as every function builds it from settings: the KEK (`KMS_BACKEND`), the context salt, the
document store it shares, and the audit sink: segments under GATEWAY_DATA_DIR/audit/ (embedded), or the
`PUBSUB_AUDIT_TOPIC` topic when `EVENTS_BACKEND=pubsub` (spilling under GATEWAY_DATA_DIR/spill-audit/)."""

from __future__ import annotations

from shared.clock import Clock
from shared.crypto.port import SecretBox
from shared.events.port import pubsub_topic
from shared.local_secrets import resolve_salt
from shared.settings import Settings
from shared.store.port import DocumentStore
from shared.vault.audit import AuditSink
from shared.vault.audit_sink import LocalAuditSink, audit_dir
from shared.vault.service import Vault

__all__ = ["build_audit_sink", "build_vault"]


def build_audit_sink(settings: Settings, clock: Clock) -> AuditSink:
    if settings.events_backend != "pubsub":
        return LocalAuditSink(audit_dir(settings.data_dir), clock=clock)
    from shared.events.pubsub_sink import AUDIT, PubSubSink  # the Pub/Sub client loads only when it is used

    topic = pubsub_topic(settings.google_cloud_project_id, settings.pubsub_audit_topic)
    return PubSubSink(topic, settings.data_dir / "spill-audit", AUDIT, clock=clock)


def build_vault(
    settings: Settings,
    store: DocumentStore,
    clock: Clock,
    *,
    box: SecretBox | None = None,
    audit: AuditSink | None = None,
) -> tuple[Vault, AuditSink]:
    if box is None:
        from shared.crypto.factory import build_secret_box  # the KMS client loads only when it is used

        box = build_secret_box(settings)
    salt = resolve_salt(settings.encryption_context_salt, settings.data_dir, "ENCRYPTION_CONTEXT_SALT")
    audit = audit if audit is not None else build_audit_sink(settings, clock)
    return Vault(store, box, salt, clock, audit), audit
