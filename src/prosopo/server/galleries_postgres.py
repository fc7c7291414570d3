"""The galleries of a service in its PostgreSQL database (``--db``): each
gallery is a schema of that database, named ``gallery_<name>``.

A :class:`~prosopo.gallery.postgres.PostgresStore` keeps one gallery in the
schema its connection's ``search_path`` names, so gallery ``staff`` of the
service at ``postgresql://host/db`` is the gallery
``postgresql://host/db?options=-csearch_path%3D%22gallery_staff%22``
(:func:`gallery_url`), which ``Gallery.open`` opens like any other. The name
is kept as written, case and ``-`` included (the schema name is quoted in
SQL); a name longer than 55 characters, too long for a PostgreSQL identifier
with the prefix (63 bytes), keeps its first 38 characters and adds ``_``
and 16 hex digits of its SHA-256. A name short enough to keep that has that
very shape (38 characters, ``_``, 16 hex digits) could be the schema of a
long name, so it is shortened too, with ``~`` (which no gallery name holds)
before its hash: no two names share a schema. The service's own tables are
in the schema ``prosopo_service``, which no gallery's schema can be.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, unquote

from psycopg import sql

from .database import Database

PREFIX = "gallery_"
MAX_IDENTIFIER = 63  # bytes: PostgreSQL cuts longer names
KEPT = 38            # characters of a shortened name kept before its hash
# what follows the prefix in the schema of a shortened long name
SHORTENED = re.compile(rf".{{{KEPT}}}_[0-9a-f]{{16}}", re.DOTALL)


def gallery_schema(name: str) -> str:
    """The schema of the service's gallery ``name`` (an ASCII gallery name):
    a different one for each name."""
    fits = len(PREFIX + name) <= MAX_IDENTIFIER
    if fits and not SHORTENED.fullmatch(name):
        return PREFIX + name
    # a long name; or a short one shaped like a long name's schema, marked by a character names never hold
    mark = "~" if fits else "_"
    return f"{PREFIX}{name[:KEPT]}{mark}{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def gallery_url(url: str, name: str) -> str:
    """The URL of gallery ``name`` of the service whose database is at
    ``url``: the same URL, its ``search_path`` set to the gallery's schema
    (after any other ``options`` it has). The other query parameters are
    kept exactly as written (libpq reads ``+`` as itself, not as a space)."""
    base, _, query = url.partition("?")
    kept, options = [], []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        if unquote(key) == "options":  # libpq decodes the keys too
            options.append(unquote(value))
        elif pair:
            kept.append(pair)
    options.append(f'-csearch_path="{gallery_schema(name)}"')
    kept.append("options=" + quote(" ".join(options), safe=""))
    return f"{base}?{'&'.join(kept)}"


class PostgresPlaces:
    """:class:`~.galleries.GalleryPlaces` in the service's database."""

    def __init__(self, db: Database):
        self.db = db

    def find(self, name: str) -> str | None:
        row = self.db.one("SELECT to_regclass(format('%%I.meta', %s::text)) IS NOT NULL", (gallery_schema(name),))
        return gallery_url(self.db.url, name) if row and row[0] else None

    def make(self, name: str) -> str:
        self.db.setup(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(gallery_schema(name))))
        return gallery_url(self.db.url, name)
