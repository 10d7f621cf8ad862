"""Tables and queries; no platform, no commits (the use case owns the transaction)."""

from models.db import Database
from models.tables import (
    AuditRecord,
    Base,
    Broadcast,
    Campaign,
    Consent,
    Dialogue,
    Entry,
    EntryFile,
    EntryRevision,
    Identity,
    InboxUpdate,
    Invite,
    Member,
    OutboxMessage,
    RoleGrant,
    Unit,
    utcnow,
)

__all__ = [
    "AuditRecord",
    "Base",
    "Broadcast",
    "Campaign",
    "Consent",
    "Database",
    "Dialogue",
    "Entry",
    "EntryFile",
    "EntryRevision",
    "Identity",
    "InboxUpdate",
    "Invite",
    "Member",
    "OutboxMessage",
    "RoleGrant",
    "Unit",
    "utcnow",
]
