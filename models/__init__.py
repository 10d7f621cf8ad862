"""Tables and queries; no platform, no commits (the use case owns the transaction)."""

from models.db import Database
from models.tables import (
    AuditRecord,
    Base,
    Campaign,
    Consent,
    Dialogue,
    Entry,
    EntryFile,
    EntryRevision,
    Identity,
    InboxUpdate,
    Member,
    RoleGrant,
    Unit,
    utcnow,
)

__all__ = [
    "AuditRecord",
    "Base",
    "Campaign",
    "Consent",
    "Database",
    "Dialogue",
    "Entry",
    "EntryFile",
    "EntryRevision",
    "Identity",
    "InboxUpdate",
    "Member",
    "RoleGrant",
    "Unit",
    "utcnow",
]
