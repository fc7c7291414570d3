"""Enroll a photo archive into a gallery on a Ray cluster
(``pip install 'prosopo[ray]'``).

>>> from prosopo import Gallery
>>> from prosopo.distributed import enroll_on_ray
>>> with Gallery.open("staff.gallery", purpose="door access") as gallery:
...     report = enroll_on_ray(gallery, "archive.parquet", address="auto")
>>> print(report.summary())

The archive is a folder or a manifest (see :mod:`.archive`). This process
lists it and leaves out the photos the gallery already holds unchanged, as
a folder sync does (:func:`~prosopo.gallery.folder.triage`). Ray Data
spreads the others over a pool of actors: each loads the gallery's
detector and model once, then reads, hashes and embeds its photos as
:meth:`prosopo.Gallery.embed` does. The results stream back to this
process, which writes them into the gallery through its store with the
folder sync's batch writer (:func:`~prosopo.gallery.folder.write_batch`),
up to ``batch`` photos a transaction, each photo's record (path and content
hash) looked up again inside it. So a rerun, after a finished run or one
stopped at any point, neither loses nor duplicates a photo; an actor that
dies is restarted by Ray and its photos are embedded again.

A photo's own fault (unreadable, no face) skips it and is reported. A
model missing or failing on a worker stops the run with that
:class:`~prosopo.ModelError`, and Ray failing (no cluster at the address, a
worker lost for good) with a :class:`ClusterError`; what was written
before stays written. The photos must be readable at the same paths on
every node (a shared file system), and the nodes must run the same Ray,
Python and prosopo as this process, with the gallery's models installed;
this process's licence policy and image limits go to the actors with the
work. A cluster started with ``ray start`` uses token authentication by
default: connecting to it by address needs ``RAY_AUTH_MODE=token`` and its
token (``~/.ray/auth_token`` or ``$RAY_AUTH_TOKEN``) here too.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from .. import image as imagelib
from ..errors import ImageError, NoFaceError, ParameterError, ProsopoError
from ..gallery.folder import BATCH, ERASED, SKIPPED, Photo, SyncReport, tally, triage, write_batch
from ..gallery.gallery import Gallery
from ..models import licence_policy, set_policy
from ..privacy.consent import Consent
from .archive import Archive, read_archive

if TYPE_CHECKING:
    import pyarrow as pa

    from ..gallery.store import FileRecord, Store

# what an actor did with a photo (or ERASED: its content belongs to an erased person)
READ, UNREADABLE, FAILED = "read", "unreadable", "failed"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
PROBE_SECONDS = 5  # to wait for a cluster's address to answer at all
ACTOR_START_SECONDS = 600  # to wait for the actors to start and load their models


class ClusterError(ProsopoError):
    """Ray is not installed, cannot be started or reached at the address
    given, or failed while enrolling (a worker lost for good). What was
    written before the failure stays written: run the enrollment again."""

    code = "cluster_error"
    exit_code = 10


@dataclass(frozen=True)
class RayReport(SyncReport):
    """A :class:`~prosopo.gallery.folder.SyncReport` of an enrollment on
    Ray (``folder`` is the folder or manifest read; nothing is moved or
    removed), with ``nodes``: for each node whose actors read photos, its
    Ray node id, its address and how many photos they read."""

    nodes: tuple[tuple[str, str, int], ...] = ()

    def summary(self) -> str:
        return super().summary() + "".join(f"\n  node {address} ({node[:8]}): {photos} photo(s) read"
                                           for node, address, photos in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["nodes"] = [{"node": node, "address": address, "photos": photos}
                         for node, address, photos in self.nodes]
        return data


def enroll_on_ray(
    gallery: Gallery,
    source: str | os.PathLike[str],
    *,
    address: str | None = None,
    actors: int | None = None,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
    purpose: str | None = None,
    legal_basis: str | None = None,
    consent_ref: str | None = None,
    expires: Any = None,
) -> RayReport:
    """Enroll the photos of ``source`` (a folder, identity = the sub-folder
    name, or a CSV or Parquet manifest: see :mod:`prosopo.distributed.archive`)
    into ``gallery``, embedding them on Ray.

    ``address`` is the cluster's: None or ``"local"`` starts a local Ray
    with this machine's cores for the run; ``"auto"`` (the cluster this
    machine is a node of) or ``"HOST:PORT"`` (its head's GCS address, as
    ``ray start --head`` printed it) connects to a running cluster. Ray
    Client addresses (``ray://``) cannot carry Ray Data and are refused. A
    process already connected to Ray (``ray.init`` called before) uses that
    connection and ignores ``address``. ``actors`` embed at once, one CPU
    each (default: every CPU of the cluster free at the start; more than
    are free wait up to ``ACTOR_START_SECONDS``, then fail); up to ``batch`` photos go to
    an actor at a time and are written in one transaction.
    ``progress(done, total)`` is called after each transaction. Identities created get the consent record given
    here (``purpose``, ``legal_basis``, ``consent_ref``, ``expires``, as in
    :meth:`~prosopo.Gallery.sync_folder`), a manifest row's own purpose and
    consent_ref first. Photos already enrolled and unchanged are not read
    again; nothing is removed from the gallery.
    """
    start = time.perf_counter()
    _check_count("actors", actors, optional=True)
    _check_count("batch", batch)
    _check_address(address)
    store = gallery.store
    _import_ray()
    archive = read_archive(source)
    consents = {(entry.purpose, entry.consent_ref): gallery._consent(  # the gallery's own consent rules
        entry.purpose or purpose, legal_basis, entry.consent_ref or consent_ref, expires, None)
        for entry in archive.entries.values()}
    known = store.files_under(archive.prefix)
    category, skipped = triage(archive.listed, known)
    for path in archive.entries:
        if path not in archive.listed:
            category[path], skipped[path] = SKIPPED, "cannot read the file"
    todo = [path for path in archive.listed if path not in category]
    nodes: Counter[tuple[str, str]] = Counter()
    faces = 0
    if todo:
        with _connected(address):
            faces = _enroll(gallery, archive, todo, consents, known, actors=actors, batch=batch, progress=progress,
                            category=category, skipped=skipped, nodes=nodes)
    report = tally(archive.source, category, skipped, faces)
    work = tuple((node, where, count) for (node, where), count in sorted(nodes.items()))
    return replace(RayReport(**vars(report), nodes=work), seconds=time.perf_counter() - start)


def quiet() -> None:
    """Keep Ray's Python logs and Ray Data's notices off this process's
    console (they still go to Ray's log files), for a command line that
    shows its own progress and errors; Ray's failures still arrive as a
    :class:`ClusterError`."""
    _import_ray()
    logging.getLogger("ray").setLevel(logging.ERROR)
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler):  # its errors too: they come back as a ClusterError
            handler.setLevel(logging.CRITICAL)


def _check_count(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}")


def _check_address(address: Any) -> None:
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ParameterError(f"address must be None, 'local', 'auto' or 'HOST:PORT', got {address!r}")
    if isinstance(address, str) and address.startswith("ray://"):
        raise ParameterError(f"cannot enroll through Ray Client ({address!r}): Ray Data does not run through it; "
                             "give the head's GCS address, HOST:PORT (port 6379 unless `ray start --head "
                             "--port` chose another), or run on a node of the cluster with 'auto'")


def _import_ray() -> None:
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise ClusterError("enrolling on Ray needs Ray Data: pip install 'prosopo[ray]'") from None


def _first_line(exc: BaseException) -> str:
    """A Ray exception's gist: its type and first line, without colours."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@contextmanager
def _connected(address: str | None) -> Iterator[None]:
    """Connected to Ray for the run: to the connection this process already
    has, or to ``address`` (a local Ray started for the run when None)."""
    import ray

    if ray.is_initialized():
        yield
        return
    local = address in (None, "local")
    options: dict[str, Any] = {"include_dashboard": False} if local else {}
    if not local:
        _probe(cast(str, address))
    try:
        ray.init(address="local" if local else address, log_to_driver=False, configure_logging=False, **options)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError, ...
        if local:
            raise ClusterError(f"cannot start a local Ray: {_first_line(exc)}") from None
        hint = "" if os.environ.get("RAY_AUTH_MODE") else (
            "; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token here too, and its "
            "token in ~/.ray/auth_token or $RAY_AUTH_TOKEN")
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {_first_line(exc)}{hint}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _probe(address: str) -> None:
    """Fail at once when nothing answers at a ``HOST:PORT`` address (Ray
    itself would retry for minutes)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto", or an address for Ray to judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: nothing answers there "
                           f"({exc.strerror or exc}); start one with `ray start --head`, or give the address "
                           "it printed") from None


def _enroll(gallery: Gallery, archive: Archive, todo: list[str], consents: Mapping[tuple[str | None, str | None],
            Consent], known: Mapping[str, FileRecord], *, actors: int | None, batch: int,
            progress: Callable[[int, int], None] | None, category: dict[str, str], skipped: dict[str, str],
            nodes: Counter[tuple[str, str]]) -> int:
    """Embed the photos ``todo`` on the connected cluster and write them
    into the gallery as they come; fills in their categories and the work
    of each node; returns the faces added."""
    import ray

    store = gallery.store
    settings = {"model": gallery.model, "detector": gallery.detector, "keep_crops": store.meta.get("keep_crops", "0")}
    blocks = math.ceil(len(todo) / batch)  # a block is a batch: an actor's task, then one transaction
    pool = min(blocks, actors or max(1, int(ray.available_resources().get("CPU", 1))))
    items = ray.data.from_items([{"path": path} for path in todo], override_num_blocks=blocks)
    dataset = items.map_batches(
        _Embedder, batch_size=None, batch_format="pyarrow", num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=pool),
        fn_constructor_kwargs={"settings": settings, "erased": frozenset(store.tombstones()),
                               "licence": licence_policy(), "limits": imagelib.get_limits()})
    dataset.context.enable_progress_bars = False  # progress is the caller's
    dataset.context.wait_for_min_actors_s = ACTOR_START_SECONDS  # all start before work is handed out
    faces = done = 0
    if progress:
        progress(0, len(todo))
    with closing(_results(dataset)) as results:
        for table in results:
            photos: list[Photo] = []
            embedded = []
            for row in table.to_pylist():
                path, status = row["path"], row["status"]
                nodes[(row["node"], row["address"])] += 1
                if status == FAILED:  # results are pickled by this run's own actors
                    raise pickle.loads(row["result"])
                if status == UNREADABLE:
                    category[path], skipped[path] = SKIPPED, "cannot read the file"
                elif status == ERASED:  # its person was erased; read again on each run until deleted
                    category[path] = ERASED
                else:
                    entry = archive.entries[path]
                    photos.append(Photo(path, *archive.listed[path], row["sha256"], entry.identity,
                                        consents[(entry.purpose, entry.consent_ref)]))
                    embedded.append(pickle.loads(row["result"]))
            if photos:
                faces += write_batch(store, photos, embedded, actor=gallery.actor, known=known, category=category,
                                     skipped=skipped, detail={"ray": True})
            done += table.num_rows
            if progress:
                progress(done, len(todo))
    return faces


def _results(dataset: Any) -> Generator[pa.Table, None, None]:
    """The actors' results, a batch at a time as they come; Ray failing is
    a :class:`ClusterError` (never a Ray traceback)."""
    batches = iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow"))
    try:
        while True:
            try:
                table = next(batches)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - Ray's own errors, of many types
                raise ClusterError(f"the enrollment on Ray failed: {_first_line(exc)}") from None
            yield table
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # stops the actors when the caller stops early
            close()


class _Settings:
    """What a worker's gallery reads of its store to embed as the gallery
    does (model, detector, keep_crops); the store stays with the driver."""

    def __init__(self, meta: Mapping[str, str]):
        self.meta = meta


class _Embedder:
    """A Ray Data actor: loads the gallery's detector and model once, then
    for each batch of paths reads each photo, hashes it and embeds it as
    :meth:`prosopo.Gallery.embed` does (unless its content belongs to an
    erased person). A failure that is not a photo's own comes back as rows
    of status ``failed`` holding the error, for the driver to raise: an
    exception raised here would reach it only as a Ray traceback."""

    def __init__(self, settings: Mapping[str, str], erased: frozenset[str], licence: str,
                 limits: imagelib.Limits) -> None:
        import ray

        from ..detectors import DETECTORS
        from ..embed import RECOGNIZERS

        os.environ["PROSOPO_THREADS"] = "1"  # the actor holds one CPU; ONNX Runtime would use every core
        set_policy(licence)  # the driver's licence policy and image limits, wherever they were set
        imagelib.set_limits(**asdict(limits))
        self._erased = erased
        self._node = ray.get_runtime_context().get_node_id()
        self._address = ray.util.get_node_ip_address()
        self._gallery = Gallery(cast("Store", _Settings(settings)), detector=settings["detector"], actor="ray")
        self._failure: Exception | None = None
        try:
            RECOGNIZERS.get(settings["model"])
            DETECTORS.get(settings["detector"])
        except Exception as exc:  # noqa: BLE001 - reported with the first batch
            self._failure = exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        paths = batch.column("path").to_pylist()
        try:
            if self._failure is not None:
                raise self._failure
            rows = [self._one(path) for path in paths]
        except Exception as exc:  # noqa: BLE001 - not a photo's fault: a model missing, refused or failing
            error = exc if isinstance(exc, ProsopoError) else ClusterError(
                f"a Ray worker at {self._address} failed: {type(exc).__name__}: {exc}")
            rows = [(path, "", FAILED, pickle.dumps(error)) for path in paths]
        return pa.table({"path": paths, "sha256": [r[1] for r in rows], "status": [r[2] for r in rows],
                         "result": pa.array([r[3] for r in rows], pa.binary()),
                         "node": [self._node] * len(rows), "address": [self._address] * len(rows)})

    def _one(self, path: str) -> tuple[str, str, str, bytes]:
        """A photo's path, content hash, status and result (pickled: its
        faces, or the error that skips it)."""
        try:
            sha, data = _read(path, imagelib.get_limits().max_bytes)
        except OSError:
            return path, "", UNREADABLE, b""
        if sha in self._erased:
            return path, sha, ERASED, b""
        name = imagelib.describe(path)  # how the photo is named when embedded from its path
        result: list[Any] | ProsopoError
        try:
            result = [replace(face, source=name) for face in self._gallery.embed(path if data is None else data)]
        except (ImageError, NoFaceError) as exc:  # the photo's own fault: skipped, with the reason
            result = exc if data is None else type(exc)(str(exc).replace(imagelib.describe(data), name))
        return path, sha, READ, pickle.dumps(result)


def _read(path: str, limit: int) -> tuple[str, bytes | None]:
    """A file's SHA-256 (hex) and its bytes, read once; a file of more than
    ``limit`` bytes is hashed but not kept (None): it is refused unread."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
        digest.update(data)
        if len(data) <= limit:
            return digest.hexdigest(), data
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest(), None
