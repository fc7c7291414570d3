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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import ImageError, NoFaceError, ParameterError, ProsopoError
from ..models import file_digest
from ..privacy.consent import Consent
from .store import AuditEvent, Embedded, FileRecord, Store, Transaction

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
BATCH = 32
# what a sync did with each photo of the folder (SyncReport.files)
ADDED, CHANGED, MOVED, UNCHANGED, SKIPPED, ERASED = "added", "changed", "moved", "unchanged", "skipped", "erased"


@dataclass(frozen=True)
class SyncReport:
    """What a folder sync did. Every one of the folder's ``photos`` is in
    exactly one category, so ``added + changed + moved + unchanged +
    len(skipped) + erased == photos``:

    - ``added``, ``changed``, ``moved``: enrolled now (new, new content, or
      renamed within the same identity);
    - ``unchanged``: enrolled before and not changed since;
    - ``skipped``: not enrolled, with the reason (no face, unreadable), this
      time or in an earlier sync; retried only once the file changes;
    - ``erased``: not enrolled because its person was erased from the
      gallery (delete it from the folder too).

    ``removed`` counts photos gone from the folder whose faces were removed
    (they are not among ``photos``), ``faces`` the faces enrolled now, and
    ``files`` gives each photo's category as ``(path, category)`` pairs."""

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
    photos: int = 0
    files: tuple[tuple[str, str], ...] = ()

    def finished(self, seconds: float) -> SyncReport:
        return replace(self, seconds=seconds)

    def summary(self) -> str:
        """One line that accounts for every photo of the folder."""
        parts = [f"{self.added} enrolled ({self.faces} faces)"]
        parts += [f"{self.changed} changed"] if self.changed else []
        parts += [f"{self.moved} moved"] if self.moved else []
        parts += [f"{self.unchanged} already there", f"{len(self.skipped)} skipped"]
        parts += [f"{self.erased} erased earlier and not enrolled again"] if self.erased else []
        gone = f"; {self.removed} removed (gone from the folder)" if self.removed else ""
        return f"{self.photos} photo(s): {', '.join(parts)}{gone}, in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        data["files"] = [{"path": p, "category": c} for p, c in self.files]
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


def sync(store: Store, embed: Callable[[str], list[Embedded]], actor: str, folder: Path, *, delete_missing: bool,
         workers: int, progress: Callable[[int, int], None] | None, consent: Consent) -> SyncReport:
    """Sync ``folder`` into ``store``, embedding new photos with ``embed``
    and recording ``actor`` in the audit log (see :meth:`prosopo.Gallery.sync_folder`)."""
    if not folder.is_dir():
        raise ParameterError(f"{str(folder)!r} is not a folder")
    folder = folder.resolve()
    prefix = str(folder) + os.sep
    on_disk = scan(folder)
    known = store.files_under(prefix)
    erased = store.tombstones()
    missing = [p for p in known if p not in on_disk] if delete_missing else []
    category: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for path, stat in on_disk.items():
        record = known.get(path)
        if record is not None and (record.size, record.mtime_ns) == stat:
            if record.status == "ok":
                category[path] = UNCHANGED
            else:
                category[path], skipped[path] = SKIPPED, record.message or "no usable face"
    candidates = [p for p in on_disk if p not in category]

    # read the candidates: same content (only touched) or moved files need no embedding
    missing_by_hash = {known[p].sha256: p for p in missing if known[p].status == "ok"}
    touched: list[tuple[str, FileRecord]] = []
    moved: list[tuple[str, str, FileRecord]] = []
    todo: list[tuple[str, str]] = []
    for path in candidates:
        try:
            sha = file_digest(Path(path))
        except OSError:
            sha = None
        record = known.get(path)
        if sha is None:
            category[path], skipped[path] = SKIPPED, "cannot read the file"
        elif sha in erased:  # its person was erased; hashed again on each sync until deleted
            category[path] = ERASED
        elif record is not None and record.sha256 == sha:
            touched.append((path, replace(record, size=on_disk[path][0], mtime_ns=on_disk[path][1])))
            if record.status == "ok":
                category[path] = UNCHANGED
            else:
                category[path], skipped[path] = SKIPPED, record.message or "no usable face"
        elif record is None and sha in missing_by_hash and \
                identity_of(folder, missing_by_hash[sha]) == identity_of(folder, path):
            moved.append((missing_by_hash.pop(sha), path, FileRecord(*on_disk[path], sha, "ok", None,
                                                                      identity_of(folder, path))))
            category[path] = MOVED
        else:
            todo.append((path, sha))
    moved_from = {old for old, _, _ in moved}
    missing = [p for p in missing if p not in moved_from]

    if touched or moved or missing:
        def update(tx: Transaction) -> None:
            for path, record in touched:
                tx.put_file(path, record)
            for old, new, record in moved:
                tx.move_file(old, new, record)
            removed = tx.remove_files(missing)
            if removed:
                tx.log(AuditEvent("remove", actor, None, removed,
                                  {"files": len(missing), "reason": "deleted from folder"}))

        store.write(update)

    faces = _embed_new(store, embed, actor, folder, todo, known, on_disk, category, skipped, workers, progress,
                       consent)
    counts = {c: sum(1 for v in category.values() if v == c) for c in (ADDED, CHANGED, MOVED, UNCHANGED, ERASED)}
    return SyncReport(str(folder), added=counts[ADDED], changed=counts[CHANGED], removed=len(missing),
                      moved=counts[MOVED], unchanged=counts[UNCHANGED], erased=counts[ERASED], faces=faces,
                      skipped=tuple(sorted(skipped.items())), photos=len(on_disk),
                      files=tuple(sorted(category.items())))


def _embed_new(store: Store, embed: Callable[[str], list[Embedded]], actor: str, folder: Path,
               todo: list[tuple[str, str]], known: dict[str, FileRecord], on_disk: dict[str, tuple[int, int]],
               category: dict[str, str], skipped: dict[str, str], workers: int,
               progress: Callable[[int, int], None] | None, consent: Consent) -> int:
    """Embed and store the new and changed photos in batches (one
    transaction each); fills in their categories; returns the faces added."""
    faces = done = 0
    if progress:
        progress(0, len(todo))

    def attempt(item: tuple[str, str]) -> list[Embedded] | ProsopoError:
        # a photo's own fault skips the photo (and is remembered until it
        # changes); anything else (a model missing, refused by the licence
        # policy or failing) stops the sync, so nothing is recorded wrongly
        try:
            return embed(item[0])
        except (ImageError, NoFaceError) as exc:
            return exc

    pool = ThreadPoolExecutor(max(1, workers))
    try:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            results = list(pool.map(attempt, batch))

            batch_faces, kinds, reasons = store.write(partial(_store_batch, batch=batch, results=results, actor=actor,
                                                              folder=folder, known=known, on_disk=on_disk,
                                                              consent=consent))
            category.update(kinds)
            skipped.update(reasons)
            faces += batch_faces
            done += len(batch)
            if progress:
                progress(done, len(todo))
    finally:
        pool.shutdown()
    return faces


def _store_batch(tx: Transaction, *, batch: list[tuple[str, str]], results: list[list[Embedded] | ProsopoError],
                 actor: str, folder: Path, known: dict[str, FileRecord], on_disk: dict[str, tuple[int, int]],
                 consent: Consent) -> tuple[int, dict[str, str], dict[str, str]]:
    """Store one batch of embedded photos (one transaction); returns the
    faces added and each photo's category (and reason, if skipped)."""
    batch_faces = replaced = 0
    kinds: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for (path, sha), result in zip(batch, results):
        # look again inside the transaction: another process
        # syncing the same folder may have stored this file since
        record = tx.file(path)
        if record is not None and record.sha256 == sha:
            if record.status == "ok":
                kinds[path] = UNCHANGED
            else:
                kinds[path], reasons[path] = SKIPPED, record.message or "no usable face"
            continue
        if record is not None:  # the photo changed: its old faces go (and are logged)
            replaced += tx.remove_files([path])
        name = identity_of(folder, path)
        stat = on_disk[path]
        if isinstance(result, ProsopoError):
            tx.put_file(path, FileRecord(*stat, sha, "skipped", str(result), name))
            kinds[path], reasons[path] = SKIPPED, str(result)
            continue
        identity_id = tx.identity_id(name)
        if identity_id is None:
            identity_id = tx.add_identity(name, consent, None)
        batch_faces += tx.add_faces([(identity_id, face) for face in result])
        tx.put_file(path, FileRecord(*stat, sha, "ok", None, name))
        kinds[path] = CHANGED if path in known else ADDED
    if replaced:
        tx.log(AuditEvent("remove", actor, None, replaced, {"reason": "photo changed", "folder": True}))
    if batch_faces:
        tx.log(AuditEvent("enroll", actor, None, batch_faces, {"files": len(batch), "folder": True}))
    return batch_faces, kinds, reasons

