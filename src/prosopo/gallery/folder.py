"""Keep a gallery in step with a folder of photos.

Identity is the name of the first sub-folder (``photos/alice/1.jpg`` is
``alice``), or the file name without extension for photos directly in the
folder. Each sync lists the folder (names, sizes, modification times: no
reading), and only files that are new or whose size or time changed are read:
a file whose content hash is unchanged is not embedded again, a file moved
within the same identity keeps its embedding, and files gone from the folder
are removed from the gallery. Work is committed in batches, so an
interrupted sync resumes where it stopped.

The enrollment of an archive on Ray (:mod:`prosopo.distributed.ray_enroll`)
shares the listing (:func:`scan`), the triage of the photos seen before
(:func:`triage`), the batch writer (:func:`write_batch`) and the report
(:func:`tally`); only where the photos are hashed and embedded differs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Mapping
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


@dataclass(frozen=True)
class Photo:
    """A photo to store: its path, size and modification time as listed,
    its content hash, the identity it belongs to, and the consent record
    that identity gets if this photo creates it."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    identity: str
    consent: Consent


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


def triage(listed: Mapping[str, tuple[int, int]],
           known: Mapping[str, FileRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """The category (and the reason of the skipped ones) of each ``listed``
    photo (path -> size, modification time) whose ``known`` record has the
    same size and time: it was seen before and is not read again. The
    photos left out are new or changed, to be hashed."""
    category: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for path, stat in listed.items():
        record = known.get(path)
        if record is not None and (record.size, record.mtime_ns) == stat:
            _recall(path, record, category, skipped)
    return category, skipped


def _recall(path: str, record: FileRecord, category: dict[str, str], skipped: dict[str, str]) -> None:
    """Give ``path`` the category its record holds: unchanged if its faces
    are enrolled, else skipped with the recorded reason."""
    if record.status == "ok":
        category[path] = UNCHANGED
    else:
        category[path], skipped[path] = SKIPPED, record.message or "no usable face"


def tally(source: str, category: Mapping[str, str], skipped: Mapping[str, str], faces: int, *,
          removed: int = 0) -> SyncReport:
    """The report of a sync of ``source`` from each photo's category."""
    counts = {c: sum(1 for v in category.values() if v == c) for c in (ADDED, CHANGED, MOVED, UNCHANGED, ERASED)}
    return SyncReport(source, added=counts[ADDED], changed=counts[CHANGED], removed=removed,
                      moved=counts[MOVED], unchanged=counts[UNCHANGED], erased=counts[ERASED], faces=faces,
                      skipped=tuple(sorted(skipped.items())), photos=len(category),
                      files=tuple(sorted(category.items())))


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
    category, skipped = triage(on_disk, known)
    candidates = [p for p in on_disk if p not in category]

    # read the candidates: same content (only touched) or moved files need no embedding
    missing_by_hash = {known[p].sha256: p for p in missing if known[p].status == "ok"}
    touched: list[tuple[str, FileRecord]] = []
    moved: list[tuple[str, str, FileRecord]] = []
    todo: list[Photo] = []
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
            _recall(path, record, category, skipped)
        elif record is None and sha in missing_by_hash and \
                identity_of(folder, missing_by_hash[sha]) == identity_of(folder, path):
            moved.append((missing_by_hash.pop(sha), path, FileRecord(*on_disk[path], sha, "ok", None,
                                                                      identity_of(folder, path))))
            category[path] = MOVED
        else:
            todo.append(Photo(path, *on_disk[path], sha, identity_of(folder, path), consent))
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

    faces = _embed_new(store, embed, actor, todo, known, category, skipped, workers, progress)
    return tally(str(folder), category, skipped, faces, removed=len(missing))


def _embed_new(store: Store, embed: Callable[[str], list[Embedded]], actor: str, todo: list[Photo],
               known: Container[str], category: dict[str, str], skipped: dict[str, str], workers: int,
               progress: Callable[[int, int], None] | None) -> int:
    """Embed and store the new and changed photos in batches (one
    transaction each); fills in their categories; returns the faces added."""
    faces = done = 0
    if progress:
        progress(0, len(todo))

    def attempt(photo: Photo) -> list[Embedded] | ProsopoError:
        # a photo's own fault skips the photo (and is remembered until it
        # changes); anything else (a model missing, refused by the licence
        # policy or failing) stops the sync, so nothing is recorded wrongly
        try:
            return embed(photo.path)
        except (ImageError, NoFaceError) as exc:
            return exc

    pool = ThreadPoolExecutor(max(1, workers))
    try:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            faces += write_batch(store, batch, list(pool.map(attempt, batch)), actor=actor, known=known,
                                 category=category, skipped=skipped, detail={"folder": True})
            done += len(batch)
            if progress:
                progress(done, len(todo))
    finally:
        pool.shutdown()
    return faces


def write_batch(store: Store, photos: list[Photo], results: list[list[Embedded] | ProsopoError], *, actor: str,
                known: Container[str], category: dict[str, str], skipped: dict[str, str],
                detail: Mapping[str, Any]) -> int:
    """Store a batch of embedded ``photos`` (each with its result: its faces,
    or why it has none) in one transaction, recording ``actor`` and
    ``detail`` in the audit log; fills in their categories (a photo whose
    path was ``known`` before is changed, not added) and returns the faces
    added. A photo another process stored meanwhile is not stored twice."""
    faces, kinds, reasons = store.write(partial(_store_batch, photos=photos, results=results, actor=actor,
                                                known=known, detail=detail))
    category.update(kinds)
    skipped.update(reasons)
    return faces


def _store_batch(tx: Transaction, *, photos: list[Photo], results: list[list[Embedded] | ProsopoError],
                 actor: str, known: Container[str],
                 detail: Mapping[str, Any]) -> tuple[int, dict[str, str], dict[str, str]]:
    """Store one batch of embedded photos (one transaction); returns the
    faces added and each photo's category (and reason, if skipped)."""
    batch_faces = replaced = 0
    kinds: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for photo, result in zip(photos, results):
        path, stat = photo.path, (photo.size, photo.mtime_ns)
        # look again inside the transaction: another process
        # syncing the same folder may have stored this file since
        record = tx.file(path)
        if record is not None and record.sha256 == photo.sha256:
            if (record.size, record.mtime_ns) != stat:  # only touched since it was recorded
                tx.put_file(path, replace(record, size=photo.size, mtime_ns=photo.mtime_ns))
            _recall(path, record, kinds, reasons)
            continue
        if record is not None:  # the photo changed: its old faces go (and are logged)
            replaced += tx.remove_files([path])
        if isinstance(result, ProsopoError):
            tx.put_file(path, FileRecord(*stat, photo.sha256, "skipped", str(result), photo.identity))
            kinds[path], reasons[path] = SKIPPED, str(result)
            continue
        identity_id = tx.identity_id(photo.identity)
        if identity_id is None:
            identity_id = tx.add_identity(photo.identity, photo.consent, None)
        batch_faces += tx.add_faces([(identity_id, face) for face in result])
        tx.put_file(path, FileRecord(*stat, photo.sha256, "ok", None, photo.identity))
        kinds[path] = CHANGED if path in known else ADDED
    if replaced:
        tx.log(AuditEvent("remove", actor, None, replaced, {"reason": "photo changed", **detail}))
    if batch_faces:
        tx.log(AuditEvent("enroll", actor, None, batch_faces, {"files": len(photos), **detail}))
    return batch_faces, kinds, reasons
