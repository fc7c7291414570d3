"""The galleries a worker serves, by name: :class:`GalleryPool` keeps them
open; a :class:`GalleryPlaces` says where each lives: a folder under the data
folder (:class:`FolderPlaces`), or a schema of the service's PostgreSQL
database (:class:`~.galleries_postgres.PostgresPlaces`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..gallery.store import DB_FILE
from .keys import Key
from .problems import Problem

if TYPE_CHECKING:
    from ..gallery import Gallery


class GalleryPlaces(Protocol):
    """Where the named galleries of a service live."""

    def find(self, name: str) -> str | Path | None:
        """The location of gallery ``name``, or None if there is none."""

    def make(self, name: str) -> str | Path:
        """The location for a new gallery ``name``, made ready for :meth:`Gallery.open`."""


class FolderPlaces:
    """Galleries in folders: ``<root>/<name>``."""

    def __init__(self, root: Path):
        self.root = root

    def find(self, name: str) -> Path | None:
        location = self.root / name
        return location if (location / DB_FILE).is_file() else None

    def make(self, name: str) -> Path:
        return self.root / name  # Gallery.open creates the folder


# a gallery in PostgreSQL unused this long gives back its connection (opened
# again at its next use), so that a worker serving many galleries does not
# hold a connection for each of them
IDLE_SECONDS = 60.0


class GalleryPool:
    """Open galleries, one per name, shared by the requests of a worker; each
    request acts through a view that records its key in the audit log."""

    def __init__(self, places: GalleryPlaces, model: str, detector: str):
        self.places, self.model, self.detector = places, model, detector  # for galleries created from now on
        self._open: dict[str, Gallery] = {}
        self._used: dict[str, float] = {}  # name -> time.monotonic() of its last get, while it holds a connection
        self._lock = threading.Lock()

    def get(self, name: str, key: Key, create: bool = False) -> Gallery:
        """Gallery ``name`` acting for ``key``; with ``create``, made if new (else 404)."""
        from ..gallery import Gallery

        with self._lock:
            if name not in self._open:
                location = self.places.find(name)
                new = location is None
                if location is None:
                    if not create:
                        raise Problem(404, "not_found", f"no gallery named {name!r}")
                    location = self.places.make(name)
                # a gallery keeps the models it was created with
                self._open[name] = Gallery.open(location, create=create, actor="server",
                                                model=self.model if new else None,
                                                detector=self.detector if new else None)
            self._release_idle(name)
            return self._open[name].acting_as(f"key:{key.id} ({key.name})")

    def _release_idle(self, name: str) -> None:
        """Mark ``name`` used; let the galleries unused for ``IDLE_SECONDS``
        close their database connections (those that have one to close)."""
        now = time.monotonic()
        for other, used in list(self._used.items()):
            if now - used > IDLE_SECONDS and other != name:
                idle = getattr(self._open[other].store, "idle", None)
                if idle is None or idle():  # else busy: tried again at a later get
                    del self._used[other]
        self._used[name] = now

    def close(self) -> None:
        with self._lock:
            for g in self._open.values():
                g.close()
            self._open.clear()
            self._used.clear()
