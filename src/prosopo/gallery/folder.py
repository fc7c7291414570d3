"""Keep a gallery in step with a folder of photos.

Identity is the name of the first sub-folder (``photos/alice/1.jpg`` is
``alice``), or the file name without extension for photos directly in the
folder. Each sync lists the folder (names, sizes, modification times: no
reading), and only files that are new or whose size or time changed are read:
a file whose content hash is unchanged is not embedded again, a file moved
within the same identity keeps its embedding, and files gone from the folder
are removed from the gallery. Work is committed in batches, so an
interrupted sync resumes where it stopped.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError, ProsopoError
from ..models import file_digest
from ..privacy.consent import Consent

if TYPE_CHECKING:
    from .gallery import Gallery

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
BATCH = 32


@dataclass(frozen=True)
class SyncReport:
    """What a folder sync did. ``skipped`` lists files that gave no face or
    could not be read, with the reason; they are retried only once they
    change. ``erased`` counts photos not enrolled because their person was
    erased from the gallery (delete them from the folder too)."""

    folder: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    erased: int = 0
    faces: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    def finished(self, seconds: float) -> SyncReport:
        return replace(self, seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        data["seconds"] = round(self.seconds, 3)
        return data


def scan(folder: Path) -> dict[str, tuple[int, int]]:
    """Image files under ``folder`` (hidden files and folders skipped):
    absolute path -> (size, modification time in ns)."""
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found[path] = (st.st_size, st.st_mtime_ns)
    return found


def identity_of(folder: Path, path: str) -> str:
    parts = Path(os.path.relpath(path, folder)).parts
    return parts[0] if len(parts) > 1 else os.path.splitext(parts[0])[0]


def _upsert_file(conn: sqlite3.Connection, path: str, stat: tuple[int, int], sha: str, status: str,
                 message: str | None = None) -> None:
    conn.execute("INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, status, message) VALUES (?,?,?,?,?,?)",
                 (path, stat[0], stat[1], sha, status, message))


def sync(gallery: Gallery, folder: Path, *, delete_missing: bool, workers: int,
         progress: Callable[[int, int], None] | None, consent: Consent) -> SyncReport:
    store = gallery._check_open()
    if not folder.is_dir():
        raise ParameterError(f"{str(folder)!r} is not a folder")
    folder = folder.resolve()
    prefix = str(folder) + os.sep
    on_disk = scan(folder)
    with store.read() as conn:
        known = {row[0]: row[1:] for row in conn.execute(
            "SELECT path, size, mtime_ns, sha256, status FROM files WHERE substr(path, 1, ?) = ?",
            (len(prefix), prefix))}
        erased = {row[0] for row in conn.execute("SELECT sha256 FROM tombstones")}
    missing = [p for p in known if p not in on_disk] if delete_missing else []
    unchanged = [p for p, stat in on_disk.items() if p in known and tuple(known[p][:2]) == stat]
    candidates = [p for p in on_disk if p not in known or tuple(known[p][:2]) != on_disk[p]]

    # read the candidates: same content (only touched) or moved files need no embedding
    missing_by_hash = {known[p][2]: p for p in missing if known[p][3] == "ok"}
    touched, moved, todo, unreadable, refused = [], [], [], [], []
    for path in candidates:
        try:
            sha = file_digest(Path(path))
        except OSError:
            sha = None
        if sha is None:
            unreadable.append(path)
        elif sha in erased:  # its person was erased; hashed again on each sync until deleted
            refused.append(path)
        elif path in known and known[path][2] == sha:
            touched.append((path, sha))
        elif path not in known and sha in missing_by_hash and \
                identity_of(folder, missing_by_hash[sha]) == identity_of(folder, path):
            moved.append((missing_by_hash.pop(sha), path, sha))
        else:
            todo.append((path, sha))
    moved_from = {old for old, _, _ in moved}
    missing = [p for p in missing if p not in moved_from]

    if touched or moved or missing:
        with store.write() as conn:
            for path, sha in touched:
                conn.execute("UPDATE files SET size=?, mtime_ns=? WHERE path=?", (*on_disk[path], path))
            for old, new, sha in moved:
                conn.execute("UPDATE faces SET source=? WHERE source=?", (new, old))
                conn.execute("DELETE FROM files WHERE path=?", (old,))
                _upsert_file(conn, new, on_disk[new], sha, "ok")
            removed = _remove_files(conn, missing)
            if removed:
                store.log(conn, "remove", gallery.actor, count=removed,
                          detail={"files": len(missing), "reason": "deleted from folder"})
        store.anchor()

    report = SyncReport(str(folder), removed=len(missing), moved=len(moved), erased=len(refused),
                        unchanged=len(unchanged) + len(touched),
                        skipped=tuple((p, "cannot read the file") for p in unreadable))
    return _embed_new(gallery, folder, todo, known, on_disk, report, workers, progress, consent)


def _remove_files(conn: sqlite3.Connection, paths: list[str]) -> int:
    removed = 0
    for start in range(0, len(paths), 900):
        chunk = paths[start:start + 900]
        marks = ",".join("?" * len(chunk))
        owners = [r[0] for r in conn.execute(
            f"SELECT DISTINCT identity_id FROM faces WHERE source IN ({marks})", chunk)]
        removed += conn.execute(f"DELETE FROM faces WHERE source IN ({marks})", chunk).rowcount
        conn.execute(f"DELETE FROM files WHERE path IN ({marks})", chunk)
        for owner in owners:  # an identity left without faces goes too
            conn.execute("DELETE FROM identities WHERE id = ? AND NOT EXISTS "
                         "(SELECT 1 FROM faces WHERE identity_id = ?)", (owner, owner))
    return removed


def _embed_new(gallery: Gallery, folder: Path, todo: list[tuple[str, str]], known: dict, on_disk: dict,
               report: SyncReport, workers: int, progress: Callable[[int, int], None] | None,
               consent: Consent) -> SyncReport:
    store = gallery._store
    added = changed = faces = 0
    skipped = list(report.skipped)
    done = 0
    if progress:
        progress(0, len(todo))
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            results = list(pool.map(lambda item: _embed_file(gallery, item[0]), batch))
            batch_faces = 0
            with store.write() as conn:
                for (path, sha), result in zip(batch, results):
                    # look again inside the transaction: another process
                    # syncing the same folder may have stored this file since
                    row = conn.execute("SELECT sha256 FROM files WHERE path = ?", (path,)).fetchone()
                    if row is not None and row[0] == sha:
                        continue
                    if row is not None:
                        _remove_files(conn, [path])
                    if isinstance(result, ProsopoError):
                        _upsert_file(conn, path, on_disk[path], sha, "skipped", str(result))
                        skipped.append((path, str(result)))
                        continue
                    name = identity_of(folder, path)
                    identity_id = gallery._identity_id(conn, name, consent, None, False)
                    gallery._insert_faces(conn, [(identity_id, face) for face in result])
                    _upsert_file(conn, path, on_disk[path], sha, "ok")
                    batch_faces += len(result)
                    changed += path in known
                    added += path not in known
                if batch_faces:
                    store.log(conn, "enroll", gallery.actor, count=batch_faces,
                              detail={"files": len(batch), "folder": True})
            store.anchor()
            faces += batch_faces
            done += len(batch)
            if progress:
                progress(done, len(todo))
    finally:
        pool.shutdown()
    return replace(report, added=added, changed=changed, faces=faces, skipped=tuple(skipped))


def _embed_file(gallery: Gallery, path: str):
    try:
        return gallery.embed(path)
    except ProsopoError as exc:
        return exc

