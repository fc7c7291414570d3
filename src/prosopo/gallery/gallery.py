"""A gallery of enrolled identities: enroll, search (1:N), identify (open
set), remove and erase, with a consent record per identity and an audit
entry per operation.

>>> from prosopo import Gallery
>>> with Gallery.open("staff.gallery", purpose="door access", legal_basis="consent") as g:
...     g.enroll("alice", ["alice_1.jpg", "alice_2.jpg"], consent_ref="form-2026-118")
...     [r.identity for r in g.identify("visitor.jpg")]
['alice']
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Self, cast

import numpy as np

from .. import image as imagelib
from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..embed import RECOGNIZERS
from ..errors import ImageError, NoFaceError, NotFoundError, ParameterError, ProsopoError, StoreError
from ..pipeline import embed_faces, locate
from ..privacy.audit import AuditReport, Entry
from ..privacy.consent import Consent, current_user, iso, now, parse_expiry, pseudonym
from ..privacy.crypto import find_key
from ..thresholds import confidence, identification_threshold, resolve
from ..types import Box, Face, Identification, Match, Search, SearchResults
from .folder import SyncReport, sync
from .store import URL_SCHEMES, AuditEvent, Embedded, SQLiteStore, Store, Transaction

UNSPECIFIED = "unspecified"
DEFAULT_FPIR = 0.01
MAX_NAME = 200
# candidate faces fetched per wanted identity, so that identities with many
# enrolled faces do not crowd the others out of the top k
OVERSAMPLE = 4
# candidates (at least) re-scored with the float32 embeddings from the database:
# the approximate index ranks by int8 copies, which cannot order near-ties
REFINE = 16


@dataclass(frozen=True)
class Identity:
    """An enrolled identity: its consent record, how many faces it has, and
    the metadata given at enrollment."""

    name: str
    faces: int
    consent: Consent
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def expired(self) -> bool:
        return self.consent.expired()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "faces": self.faces, **self.consent.to_dict(), "expired": self.expired,
                "metadata": self.metadata}


def _check_min_quality(value: Any) -> float | None:
    """``min_quality`` as a float in [0, 1] (None: no floor)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not 0.0 <= float(value) <= 1.0:
        raise ParameterError(f"min_quality must be a number from 0 to 1 (a quality score), or None; got {value!r}")
    return float(value)


def _poor_quality(faces: list[Embedded], floor: float) -> str | None:
    """Why the face of a photo is below ``floor`` (None when it is not)."""
    from ..quality import weaknesses

    for item in faces:
        q = item.face.quality
        if q is not None and q.score < floor:
            why = "; ".join(weaknesses(q)) or "several middling factors"
            return f"face quality {q.score:.2f} is below min_quality {floor:g}: {why}"
    return None


@dataclass(frozen=True)
class Enrollment:
    """What :meth:`Gallery.enroll` stored: faces added, and the images that
    gave none (with the reason)."""

    identity: str
    added: int
    skipped: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "added": self.added,
                "skipped": [{"source": s, "reason": r} for s, r in self.skipped]}


@dataclass(frozen=True)
class GalleryStats:
    location: str
    model: str
    detector: str
    identities: int
    faces: int
    expired: int
    index: str
    encrypted: bool
    keeps_crops: bool
    files_tracked: int
    disk_bytes: int
    index_bytes: int
    audit_entries: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _is_many(images: Any) -> bool:
    return isinstance(images, (list, tuple)) or (
        isinstance(images, Iterable) and not isinstance(images, (str, bytes, bytearray, os.PathLike, np.ndarray))
        and not hasattr(images, "read") and type(images).__module__.split(".")[0] != "PIL")


def _check_name(identity: Any) -> str:
    if not isinstance(identity, str) or not identity.strip():
        raise ParameterError(f"an identity must be a non-empty string, got {identity!r}")
    if len(identity) > MAX_NAME or any(ord(c) < 32 for c in identity):
        raise ParameterError(f"an identity must be at most {MAX_NAME} printable characters")
    return identity


class Gallery:
    """Enrolled identities in a local store directory (see
    :mod:`prosopo.gallery.store`) or a PostgreSQL database (see
    :mod:`prosopo.gallery.postgres`). Open with :meth:`open`; safe to share
    between threads; use as a context manager or call :meth:`close`."""

    def __init__(self, store: Store, *, detector: str | None, actor: str):
        self._store: Store = store
        self.model = store.meta["model"]
        self.detector = detector or store.meta["detector"]
        self.actor = actor
        self._closed = False
        self._owner = True  # False for views made by acting_as: they do not close the store

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(
        cls,
        location: str | os.PathLike,
        *,
        model: str | None = None,
        detector: str | None = None,
        create: bool = True,
        key: str | bytes | None = None,
        key_file: str | os.PathLike | None = None,
        index: str = "auto",
        keep_crops: bool = False,
        purpose: str | None = None,
        legal_basis: str | None = None,
        require_consent: bool = False,
        actor: str | None = None,
    ) -> Gallery:
        """Open the gallery in directory ``location``, creating it if needed;
        a ``postgresql://user[:password]@host[:port]/database`` URL opens (or
        creates) one in that PostgreSQL database instead (see
        :mod:`prosopo.gallery.postgres`), with the same API and controls.

        A new gallery takes ``model`` (default ``"arcface-mbf"``), ``detector``,
        whether to encrypt (a key given or found in ``$PROSOPO_GALLERY_KEY`` /
        ``$PROSOPO_GALLERY_KEY_FILE``), ``keep_crops`` (store aligned face
        crops too; off by default: embeddings only), and default ``purpose``
        and ``legal_basis`` for identities enrolled without their own.
        ``require_consent=True`` makes every enrollment name a legal basis.
        An existing gallery keeps its settings; asking for another model is an
        error. ``index`` is ``"auto"`` (exact search below 50,000 faces, an
        approximate index above: see :mod:`prosopo.gallery.ann`), ``"exact"``
        or ``"ann"``, each kept in this process's memory; ``"pgvector"``
        creates a PostgreSQL gallery searched in the database instead
        (:mod:`prosopo.gallery.pgvector`: not with encryption). ``actor`` is who is recorded in the audit log (default:
        the OS user).
        """
        if index not in ("auto", "exact", "ann", "pgvector"):
            raise ParameterError(f"index must be 'auto', 'exact', 'ann' or 'pgvector', got {index!r}")
        if index == "pgvector" and not str(location).startswith(URL_SCHEMES):
            raise ParameterError("index='pgvector' is an index in a PostgreSQL database: open a postgresql:// URL")
        if model is not None:
            model = RECOGNIZERS.entry(model).name
        if detector is not None:
            from ..detectors import DETECTORS

            detector = DETECTORS.entry(detector).name
        chosen = model or DEFAULT_MODEL
        settings = {
            "model": chosen,
            "detector": detector or DEFAULT_DETECTOR,
            "dim": str(cast(Any, RECOGNIZERS.backend_class(chosen)).dim),
            "keep_crops": "1" if keep_crops else "0",
            "default_purpose": purpose or UNSPECIFIED,
            "default_legal_basis": legal_basis or UNSPECIFIED,
            "require_consent": "1" if require_consent else "0",
            "created_at": iso(now()),
        }
        secret = find_key(key, key_file)
        store: Store
        if str(location).startswith(URL_SCHEMES):
            from .postgres import PostgresStore  # imports psycopg: only for such a gallery

            store = PostgresStore(str(location), create=create, settings=settings, key=secret, index=index)
        else:
            store = SQLiteStore(location, create=create, settings=settings, key=secret, index=index)
        if model is not None and store.meta["model"] != model:
            stored = store.meta["model"]
            store.close()
            raise StoreError(f"the gallery at {store.location!r} was built with model {stored!r}, not {model!r}; "
                             f"open it with model={stored!r} (or no model), or use another location")
        return cls(store, detector=detector, actor=actor or current_user())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owner:
                self._store.close()

    def acting_as(self, actor: str) -> Gallery:
        """This open gallery, recording ``actor`` in the audit log for what is
        done through the returned view (a server passes the API key that
        asked). The view shares the store; closing it leaves the store open."""
        view = Gallery(self._store, detector=self.detector, actor=actor)
        view._owner = False
        return view

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({self._store.location!r}, model={self.model!r})"

    @property
    def location(self) -> Path | str:
        """The gallery's directory, or its PostgreSQL URL (without the password)."""
        location = self._store.location
        return location if location.startswith(URL_SCHEMES) else Path(location)

    @property
    def store(self) -> Store:
        """The storage backend (a :class:`~prosopo.gallery.store.Store`), for
        code that extends the gallery, such as the folder sync. Writes made
        through it should log their own audit entries."""
        return self._check_open()

    def _check_open(self) -> Store:
        if self._closed:
            raise StoreError("this gallery is closed")
        return self._store

    # -- embedding --------------------------------------------------------

    def embed(self, img: Any, *, max_faces: int | None = 1, bgr: bool = False,
              anti_spoofing: bool | str = False, quality: bool = False) -> list[Embedded]:
        """Detect and embed the faces of one image as this gallery does
        (``anti_spoofing`` as in :func:`prosopo.extract_faces`); with
        ``quality``, each face's :class:`~prosopo.types.Quality` is filled in
        (see :func:`prosopo.quality.assess`)."""
        template = RECOGNIZERS.get(self.model).template
        found = locate(img, self.detector, template=template, bgr=bgr, max_faces=max_faces,
                       anti_spoofing=anti_spoofing,
                       advice="a gallery needs a face: try a larger, sharper or upright photo, or another detector")
        faces = found.faces
        if quality:
            from dataclasses import replace

            from ..quality import assess

            faces = [replace(f, quality=assess(found.rgb, g, size=min(f.box.w, f.box.h)))
                     for f, g in zip(found.faces, found.local)]
        vectors = embed_faces(found.rgb, found.local, self.model, align=True)
        crops: list[bytes | None] = [None] * len(found.faces)
        if self._store.meta.get("keep_crops") == "1":
            import cv2

            from ..align import align_face

            crops = [cv2.imencode(".png", align_face(found.rgb, f, template)[:, :, ::-1])[1].tobytes()
                     for f in found.local]
        return [Embedded(found.name, f, v, c) for f, v, c in zip(faces, vectors, crops)]

    def _embed_many(self, images: list[Any], workers: int, progress: Callable[[int], None] | None = None,
                    quality: bool = False) -> list[list[Embedded] | ProsopoError]:
        def one(img: Any) -> list[Embedded] | ProsopoError:
            try:
                return self.embed(img, quality=quality)
            except (ImageError, NoFaceError) as exc:
                return exc
            finally:
                if progress:
                    progress(1)

        if workers <= 1 or len(images) <= 1:
            return [one(img) for img in images]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, images))

    # -- writing ----------------------------------------------------------

    def _consent(self, purpose: str | None, legal_basis: str | None, consent_ref: str | None, expires: Any,
                 enrolled_by: str | None) -> Consent:
        meta = self._store.meta
        if meta.get("require_consent") == "1" and not legal_basis and not consent_ref:
            raise ParameterError("this gallery requires a legal_basis or consent_ref for every enrollment")
        return Consent(
            enrolled_by=enrolled_by or self.actor,
            purpose=purpose or meta.get("default_purpose", UNSPECIFIED),
            legal_basis=legal_basis or meta.get("default_legal_basis", UNSPECIFIED),
            consent_ref=consent_ref,
            enrolled_at=now(),
            expires_at=parse_expiry(expires),
        )

    @staticmethod
    def _identity_id(tx: Transaction, name: str, consent: Consent, metadata: dict[str, Any] | None,
                     explicit: bool) -> int:
        """The id of ``name``, creating the identity with ``consent`` if new;
        an ``explicit`` consent record replaces the old one."""
        identity_id = tx.identity_id(name)
        if identity_id is None:
            return tx.add_identity(name, consent, metadata)
        if explicit:
            tx.set_consent(identity_id, consent)
        if metadata:
            tx.merge_metadata(identity_id, metadata)
        return identity_id

    def enroll(
        self,
        identity: str,
        images: Any,
        *,
        metadata: dict[str, Any] | None = None,
        purpose: str | None = None,
        legal_basis: str | None = None,
        consent_ref: str | None = None,
        expires: Any = None,
        enrolled_by: str | None = None,
        workers: int = 2,
        min_quality: float | None = None,
    ) -> Enrollment:
        """Add the largest face of each image (one image or a list) to
        ``identity``, creating it with a consent record if new.

        Images without a usable face are skipped and listed in the result;
        if none gives a face, :class:`~prosopo.NoFaceError` is raised and
        nothing is stored. ``expires`` (a date, datetime, ISO string,
        duration such as ``"365d"``, ``"12h"``, ``"30m"`` or ``"2w"``,
        timedelta or days) sets when :meth:`purge` removes the identity;
        a moment outside the years 1-9999 is a :class:`~prosopo.ParameterError`.
        With ``min_quality`` (0 to 1), a photo whose face's quality score
        (:func:`prosopo.quality.assess`: size, sharpness, pose and detector
        confidence) is below it is skipped too, the reason naming the score
        and what lowered it.
        """
        store = self._check_open()
        name = _check_name(identity)
        floor = _check_min_quality(min_quality)
        if metadata is not None and not isinstance(metadata, dict):
            raise ParameterError(f"metadata must be a dict, got {type(metadata).__name__}")
        consent = self._consent(purpose, legal_basis, consent_ref, expires, enrolled_by)
        items = list(images) if _is_many(images) else [images]
        if not items:
            raise ParameterError("no images given to enroll")
        results = self._embed_many(items, workers, quality=floor is not None)
        faces, skipped = [], []
        for img, result in zip(items, results):
            if isinstance(result, ProsopoError):
                skipped.append((imagelib.describe(img), str(result)))
            elif floor is not None and (poor := _poor_quality(result, floor)):
                skipped.append((imagelib.describe(img), poor))
            else:
                faces.extend(result)
        if not faces:
            raise NoFaceError(f"no face found in any of the {len(items)} image(s) given for {name!r}: "
                              + "; ".join(r for _, r in skipped[:3]))
        explicit = any(v is not None for v in (purpose, legal_basis, consent_ref, expires))
        event = AuditEvent("enroll", self.actor, pseudonym(store.salt, name), len(faces),
                           {"images": len(items), "skipped": len(skipped)})

        def work(tx: Transaction) -> None:
            identity_id = self._identity_id(tx, name, consent, metadata, explicit)
            tx.add_faces([(identity_id, face) for face in faces])
            tx.log(event)

        store.write(work)
        return Enrollment(name, len(faces), tuple(skipped))

    def enroll_embeddings(
        self,
        identity: str | list[str],
        embeddings: np.ndarray,
        *,
        sources: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        purpose: str | None = None,
        legal_basis: str | None = None,
        consent_ref: str | None = None,
        expires: Any = None,
        enrolled_by: str | None = None,
        batch: int = 10_000,
    ) -> Enrollment:
        """Enroll precomputed embeddings (rows of ``embeddings``, made with
        this gallery's model), e.g. to migrate another store. ``identity`` is
        one name for all rows or a list with one name per row; rows are
        committed ``batch`` at a time."""
        store = self._check_open()
        vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
        if vectors.ndim != 2 or vectors.shape[1] != store.dim or not np.isfinite(vectors).all():
            raise ParameterError(f"embeddings must be finite float arrays of shape (n, {store.dim})")
        names = [identity] * len(vectors) if isinstance(identity, str) else list(identity)
        if len(names) != len(vectors) or (sources is not None and len(sources) != len(vectors)):
            raise ParameterError("give one identity (and source) per embedding row")
        for name in set(names):
            _check_name(name)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        origins: list[str | None] = list(sources) if sources is not None else [None] * len(vectors)
        record = self._consent(purpose, legal_basis, consent_ref, expires, enrolled_by)
        explicit = any(v is not None for v in (purpose, legal_basis, consent_ref, expires))
        dummy = Face(Box(0, 0, 0, 0), 1.0)

        def work(tx: Transaction, rows: range) -> None:
            ids: dict[str, int] = {}
            for i in rows:
                if names[i] not in ids:
                    ids[names[i]] = self._identity_id(tx, names[i], record, metadata, explicit)
            tx.add_faces([(ids[names[i]], Embedded(origins[i], dummy, vectors[i])) for i in rows])
            subject = pseudonym(store.salt, names[rows[0]]) if len(ids) == 1 else None
            tx.log(AuditEvent("enroll", self.actor, subject, len(rows),
                              {"embeddings": len(rows), "identities": len(ids)}))

        for start in range(0, len(vectors), batch):
            store.write(partial(work, rows=range(start, min(start + batch, len(vectors)))))
        return Enrollment(names[0] if len(set(names)) == 1 else f"{len(set(names))} identities", len(vectors))

    def remove(self, identity: str) -> int:
        """Delete an identity and all its faces (rows and index entries);
        returns the number of faces removed. Deleted rows are overwritten on
        disk, but the old bytes may linger in free space until
        :meth:`compact`; :meth:`erase` does both."""
        return self._delete(identity, "remove")

    def _delete(self, identity: str, action: str) -> int:
        store = self._check_open()

        def work(tx: Transaction) -> int:
            removed = tx.delete_identity(identity)
            tx.log(AuditEvent(action, self.actor, pseudonym(store.salt, identity), removed))
            return removed

        return store.write(work)

    def erase(self, identity: str) -> int:
        """Remove every trace of an identity: its consent record, faces,
        embeddings, crops, index entries and the records of the photos a
        folder sync took it from or skipped in its folder (their paths hold
        the name), then compact the store so that no copy survives in any of
        its files (the right to erasure, GDPR Art. 17). The audit log keeps
        only a pseudonymous entry."""
        removed = self._delete(identity, "erase")
        self._store.compact()
        return removed

    def purge(self) -> list[str]:
        """Erase every identity whose consent has expired; returns their names."""
        store = self._check_open()
        expired = [i.name for i in self.identities() if i.expired]
        if expired:
            def work(tx: Transaction) -> None:
                for name in expired:
                    removed = tx.delete_identity(name)
                    tx.log(AuditEvent("erase", self.actor, pseudonym(store.salt, name), removed, {"reason": "expired"}))

            store.write(work)
            store.compact()
        return expired

    def compact(self) -> None:
        """Rewrite the store's files without any deleted data."""
        self._check_open().compact()

    # -- searching --------------------------------------------------------

    def _limit(self, threshold: float | str | None, faces: int) -> float:
        """The cosine distance ``threshold`` stands for in a gallery of
        ``faces`` faces (see :meth:`threshold`)."""
        if threshold is None:
            threshold = f"fpir={DEFAULT_FPIR}"
        if isinstance(threshold, str) and threshold.strip().startswith("fpir="):
            try:
                fpir = float(threshold.split("=", 1)[1])
            except ValueError:
                raise ParameterError(f"bad operating point {threshold!r}; use e.g. 'fpir=0.01'") from None
            return identification_threshold(self.model, faces, fpir)
        return resolve(self.model, "cosine", threshold)[0]

    def threshold(self, threshold: float | str | None = None) -> float:
        """The cosine distance a search with this ``threshold`` uses now.
        None means ``"fpir=0.01"``: the distance at which a stranger matches
        anyone in a gallery of this size 1% of the time."""
        return self._limit(threshold, len(self._check_open().index()))

    def _matches(self, vectors: np.ndarray, k: int,
                 threshold: float | str | None) -> tuple[list[tuple[Match, ...]], float]:
        """The ``k`` best identities for each row of ``vectors``, and the
        distance limit used (resolved on the same up-to-date index). The
        index's candidates are re-scored with the stored float32 embeddings,
        fetched with the rest of their rows."""
        store = self._store
        found, faces = store.nearest(vectors, max(k * OVERSAMPLE, REFINE))
        limit = self._limit(threshold, faces)
        moment = iso(now())
        results = []
        for known, vector in zip(found, vectors):
            sims = np.array([float(face.vector @ vector) for face in known])  # exact, whatever the index
            best: dict[str, Match] = {}
            for at in np.argsort(-sims, kind="stable").tolist():
                face = known[at]
                if face.identity in best or (face.expires_at is not None and face.expires_at <= moment):
                    continue
                distance = max(0.0, 1.0 - float(sims[at]))
                best[face.identity] = Match(face.identity, distance, confidence(self.model, distance),
                                           distance <= limit, face.source, face.box, face.face_id)
            results.append(tuple(sorted(best.values(), key=lambda m: m.distance)[:k]))
        return results, limit

    def _search(self, vectors: np.ndarray, k: int,
                threshold: float | str | None) -> tuple[list[tuple[Match, ...]], float]:
        """Search and write the audit entry; returns the matches and the limit."""
        store = self._check_open()
        matches, limit = self._matches(vectors, k, threshold)
        event = AuditEvent("search", self.actor, None, sum(len(m) for m in matches), {"faces": len(vectors), "k": k})
        store.write(lambda tx: tx.log(event))
        return matches, limit

    @staticmethod
    def _check_k(k: Any) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ParameterError(f"k must be a positive integer, got {k!r}")

    def search_embeddings(self, embeddings: np.ndarray, *, k: int = 5,
                          threshold: float | str | None = None) -> list[tuple[Match, ...]]:
        """:meth:`search` for precomputed embeddings (rows of a 2-D array)."""
        store = self._check_open()
        self._check_k(k)
        vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
        if vectors.ndim != 2 or vectors.shape[1] != store.dim or not np.isfinite(vectors).all():
            raise ParameterError(f"embeddings must be finite, of shape (n, {store.dim})")
        return self._search(vectors, k, threshold)[0]

    def search(self, img: Any, *, k: int = 5, threshold: float | str | None = None, max_faces: int | None = None,
               bgr: bool = False, anti_spoofing: bool | str = False) -> SearchResults:
        """The ``k`` closest enrolled identities for each face in ``img``
        (largest face first), each with its distance, confidence and whether
        it is within ``threshold``: None (``"fpir=0.01"``: strangers match
        someone 1% of the time, whatever the gallery's size), ``"fpir=X"``,
        a cosine distance, or a 1:1 operating point such as ``"fmr=1e-4"``.
        With ``anti_spoofing`` each probe face carries ``is_real`` and
        ``spoof_score`` (``"reject"``: :class:`~prosopo.SpoofDetected`)."""
        self._check_open()
        self._check_k(k)
        self._limit(threshold, 1)  # a bad threshold fails before the embedding
        faces = self.embed(img, max_faces=max_faces, bgr=bgr, anti_spoofing=anti_spoofing)
        matches, limit = self._search(np.stack([f.vector for f in faces]), k, threshold)
        return SearchResults(Search(f.face, m, limit, self.model) for f, m in zip(faces, matches))

    def identify(self, img: Any, *, threshold: float | str | None = None, max_faces: int | None = None,
                 bgr: bool = False, anti_spoofing: bool | str = False) -> list[Identification]:
        """Who is each face in ``img``? Open-set: a face whose closest
        identity is farther than ``threshold`` is reported as unknown
        (``identity=None``). ``anti_spoofing`` as in :meth:`search`."""
        store = self._check_open()
        self._limit(threshold, 1)  # a bad threshold fails before the embedding
        faces = self.embed(img, max_faces=max_faces, bgr=bgr, anti_spoofing=anti_spoofing)
        matches, limit = self._matches(np.stack([f.vector for f in faces]), 1, threshold)
        results = []
        for item, found in zip(faces, matches):
            best = found[0] if found and found[0].is_match else None
            results.append(Identification(item.face, best.identity if best else None, best, limit))
        known = sorted({r.identity for r in results if r.identity})
        event = AuditEvent("identify", self.actor, ",".join(pseudonym(store.salt, n) for n in known) or None,
                           len(known), {"faces": len(results), "unknown": sum(1 for r in results if not r.known)})
        store.write(lambda tx: tx.log(event))
        return results

    # -- reading ----------------------------------------------------------

    def identities(self) -> list[Identity]:
        """Every enrolled identity with its consent record, sorted by name."""
        return [Identity(i.name, i.faces, i.consent, i.metadata) for i in self._check_open().identities()]

    def identity(self, name: str) -> Identity:
        rows = self._check_open().identities(name)
        if not rows:
            raise NotFoundError(f"no identity {name!r} in this gallery")
        return Identity(rows[0].name, rows[0].faces, rows[0].consent, rows[0].metadata)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._check_open().has_identity(name)

    def __len__(self) -> int:
        return self._check_open().count_identities()

    def stats(self) -> GalleryStats:
        store = self._check_open()
        index = store.index()
        counts = store.counts(iso(now()))
        meta = store.meta
        return GalleryStats(store.location, self.model, meta["detector"], counts.identities, counts.faces,
                            counts.expired, index.kind, meta["encrypted"] == "1", meta.get("keep_crops") == "1",
                            counts.files, store.disk_bytes(), index.memory_bytes(), counts.audit_entries,
                            meta.get("created_at", ""))

    def audit(self, limit: int | None = None) -> list[Entry]:
        """The newest ``limit`` audit entries (all if None), oldest first."""
        return self._check_open().audit_entries(limit)

    def verify_audit(self) -> AuditReport:
        """Check the audit log's hash chain and anchor; ``ok`` is False if an
        entry was edited, removed or cut from the end."""
        return self._check_open().verify_audit()

    def pseudonym(self, identity: str) -> str:
        """The pseudonym this gallery's audit log uses for ``identity``."""
        return pseudonym(self._check_open().salt, identity)

    # -- folders ----------------------------------------------------------

    def sync_folder(self, folder: str | os.PathLike, *, delete_missing: bool = True, workers: int = 2,
                    progress: Callable[[int, int], None] | None = None, purpose: str | None = None,
                    legal_basis: str | None = None, consent_ref: str | None = None,
                    expires: Any = None) -> SyncReport:
        """Bring the gallery in line with a folder of photos (identity = the
        sub-folder name, or the file name for loose files): new and changed
        files are embedded, deleted ones removed (``delete_missing``),
        nothing else recomputed. Identities created by the sync get the
        consent record given here (or the gallery's defaults). Returns a
        :class:`~prosopo.gallery.folder.SyncReport`: every photo of the
        folder is added, changed, moved, unchanged, skipped or erased (its
        person was erased from this gallery, so it is not enrolled again)."""
        start = time.perf_counter()
        store = self._check_open()
        consent = self._consent(purpose, legal_basis, consent_ref, expires, None)
        report = sync(store, self.embed, self.actor, Path(folder), delete_missing=delete_missing, workers=workers,
                      progress=progress, consent=consent)
        return report.finished(time.perf_counter() - start)
