"""The galleries of a service in its PostgreSQL database (``--db``): each
gallery is a schema of that database, named ``gallery_<name>``.

A :class:`~prosopo.gallery.postgres.PostgresStore` keeps one gallery in the
schema its connection's ``search_path`` names, so gallery ``staff`` of the
service at ``postgresql://host/db`` is the gallery
``postgresql://host/db?options=-csearch_path%3D%22gallery_staff%22``
(:func:`gallery_url`), which ``Gallery.open`` opens like any other. The name
is kept as written, case and ``-`` included (the schema name is quoted in
SQL); a name longer than 55 characters, too long for a PostgreSQL identifier
with the prefix (63 bytes), keeps its first 38 characters and adds 16 hex
digits of its SHA-256. The service's own tables are in the schema
``prosopo_service``, which no gallery's schema can be.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, quote, urlencode

from psycopg import sql

from .database import Database

PREFIX = "gallery_"
MAX_IDENTIFIER = 63  # bytes: PostgreSQL cuts longer names


def gallery_schema(name: str) -> str:
    """The schema of the service's gallery ``name`` (an ASCII gallery name)."""
    schema = PREFIX + name
    if len(schema) <= MAX_IDENTIFIER:
        return schema
    return f"{PREFIX}{name[:38]}_{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def gallery_url(url: str, name: str) -> str:
    """The URL of gallery ``name`` of the service whose database is at
    ``url``: the same URL, its ``search_path`` set to the gallery's schema
    (after any other ``options`` it has)."""
    base, _, query = url.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    options = [v for k, v in params if k == "options"] + [f'-csearch_path="{gallery_schema(name)}"']
    params = [(k, v) for k, v in params if k != "options"] + [("options", " ".join(options))]
    return f"{base}?{urlencode(params, quote_via=quote)}"


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
