"""The BYOK vault: users' provider keys sealed under the KEK, bound to their records, audited."""

from shared.vault.audit import AuditEvent, AuditSink, MemoryAuditSink
from shared.vault.audit_sink import LocalAuditSink, audit_dir
from shared.vault.errors import DuplicateKeyName, KeyNotFound, KeyServiceDown, KeyUnusable
from shared.vault.records import KeyMetadata
from shared.vault.service import Vault

__all__ = [
    "AuditEvent",
    "AuditSink",
    "DuplicateKeyName",
    "KeyMetadata",
    "KeyNotFound",
    "KeyServiceDown",
    "KeyUnusable",
    "LocalAuditSink",
    "MemoryAuditSink",
    "Vault",
    "audit_dir",
]
