"""Backups of the SQLite database, with the evidence files if asked, and putting one back.

A backup is made while the bot runs (SQLite's online backup), readable by its owner only, and
checked before it is called done. Restoring never replaces a database: it fills the place of
one that is not there, so a running bot's file can never be overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.evidence import EvidenceStore

__all__ = ["BadBackup", "DatabaseInPlace", "Restored", "restore_backup", "write_backup"]

DATABASE_MEMBER = "youthbot.sqlite3"  # the database's name inside an archive
FILES_MEMBER = "files/"  # the evidence store's folder inside an archive
OWNER_ONLY = 0o600


class BadBackup(Exception):
    """The file is not a backup this bot made, or is damaged."""


class DatabaseInPlace(Exception):
    """A database (or what is left of one: its -wal or -shm file) is where the backup would go."""


@dataclass(frozen=True)
class Restored:
    files: int  # evidence files put back
    already_there: int  # evidence files the store held already


def write_backup(database: Path, target: Path, store: EvidenceStore | None = None) -> int:
    """Copies the database (and the evidence files of `store`, into one ZIP archive) to a new
    file readable by its owner only; returns how many evidence files it holds. The copy is
    checked with `PRAGMA integrity_check` (BadBackup otherwise); FileExistsError if `target`
    exists."""
    if target.exists():
        raise FileExistsError(str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    files = 0
    with _temporary(target.parent) as copy:
        _copy_database(database, copy)
        if store is None:
            _claim(copy, target)
            return files
        with _temporary(target.parent) as archive:
            files = _archive(copy, store, archive)
            _claim(archive, target)
    return files


def restore_backup(backup: Path, database: Path, store: EvidenceStore) -> Restored:
    """Puts a backup where the database would be, which must hold nothing yet; an archive's
    evidence files go back into the store (those it holds already stay)."""
    for path in (database, *_companions(database)):
        if path.exists():
            raise DatabaseInPlace(str(path))
    database.parent.mkdir(parents=True, exist_ok=True)
    restored = Restored(0, 0)
    with _temporary(database.parent) as copy:
        if zipfile.is_zipfile(backup):
            with zipfile.ZipFile(backup) as archive:
                restored = _unpack(archive, copy, store)
        else:
            _copy_database(backup, copy)
        try:
            _claim(copy, database)
        except FileExistsError:  # a bot created it meanwhile
            raise DatabaseInPlace(str(database)) from None
    return restored


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup from `source` into the (empty) file `target`, then checked."""
    try:
        # mode=rw: a missing source is an error, not a new empty database.
        with (
            contextlib.closing(
                sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True)
            ) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            # In one step: copied in slices, each write of the running bot would restart the
            # copy, and a busy bot could keep a large database from ever being backed up. In
            # WAL mode the single step does not hold the bot's writers back.
            src.backup(dst, pages=-1)
            (result,) = dst.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                raise BadBackup(f"integrity check failed: {result}")
            dst.execute("SELECT version_num FROM alembic_version").fetchone()
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, whatever the source used
    except sqlite3.DatabaseError as error:
        raise BadBackup(f"{source}: not a database of this bot ({error})") from None


def _archive(database: Path, store: EvidenceStore, target: Path) -> int:
    """The database copy and every stored file, in one ZIP archive (photos and PDFs are
    compressed already, so they are stored as they are)."""
    files = 0
    with zipfile.ZipFile(target, "w") as archive:
        archive.write(database, DATABASE_MEMBER, compress_type=zipfile.ZIP_DEFLATED)
        for relative in store.stored():
            with contextlib.suppress(FileNotFoundError):  # erased or swept meanwhile
                archive.write(store.path(relative), FILES_MEMBER + relative)
                files += 1
    return files


def _unpack(archive: zipfile.ZipFile, database: Path, store: EvidenceStore) -> Restored:
    """The archive's database into `database`, its evidence files into the store; every file
    is checked first, so that a doctored archive puts nothing back."""
    names = archive.namelist()
    if DATABASE_MEMBER not in names:
        raise BadBackup(f"the archive holds no {DATABASE_MEMBER}")
    files = [name for name in names if name != DATABASE_MEMBER]
    for name in files:
        relative = name.removeprefix(FILES_MEMBER)
        try:
            store.path(relative)  # only the store's own shape: no "..", no absolute paths
        except ValueError as error:
            raise BadBackup(f"{name}: {error}") from None
        if _sha256(archive, name) != Path(relative).stem:
            raise BadBackup(f"{name}: the content is not the one its name says")
    with _temporary(database.parent) as unpacked:
        with archive.open(DATABASE_MEMBER) as source, unpacked.open("wb") as handle:
            shutil.copyfileobj(source, handle)
        _copy_database(unpacked, database)
    put = [store.put(name.removeprefix(FILES_MEMBER), archive.read(name)) for name in files]
    return Restored(sum(put), len(put) - sum(put))


def _sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _claim(finished: Path, target: Path) -> None:
    """Gives a finished file its name, never replacing one (FileExistsError): a link, whose
    temporary name then goes."""
    finished.chmod(OWNER_ONLY)
    os.link(finished, target)


@contextlib.contextmanager
def _temporary(folder: Path) -> Iterator[Path]:
    """An empty file beside the target, readable by its owner only, removed afterwards."""
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=".backup-", suffix=".part")
    os.close(descriptor)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _companions(database: Path) -> tuple[Path, Path]:
    return database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")
