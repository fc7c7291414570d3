"""What an archive enrollment reads: a folder of photos, or a manifest that
lists them.

A folder is read as :meth:`prosopo.Gallery.sync_folder` reads it: identity
= the first sub-folder's name (``photos/alice/1.jpg`` is ``alice``), or the
file name without extension for photos directly in the folder.

A manifest is a CSV file (``.csv``: UTF-8, a header row, comma-separated)
or a Parquet file (``.parquet`` or ``.pq``) with one row per photo and the
columns

- ``path`` (required): the photo; a relative path is relative to the
  manifest's folder. Each photo is listed once;
- ``identity`` (required): who is in it, 1 to 200 printable characters;
- ``consent_ref`` (optional): the consent record of that person, kept with
  the identity when the enrollment creates it (empty: the run's own);
- ``purpose`` (optional): why the face is enrolled (empty: the run's own).

The rows of one identity must agree on ``consent_ref`` and ``purpose``
(a gallery keeps one consent record per identity). Any other column, a
missing one, an empty path or identity, or a file that cannot be read as a
manifest is a :class:`~prosopo.ParameterError` naming the line or row.
A photo that is listed but cannot be read is not an error of the
manifest: it is reported as skipped, as a broken photo in a folder is.

    path,identity,consent_ref
    alice/2019-04.jpg,Alice Martin,form-2026-118
    /archive/scans/0001.png,Bob Stone,form-2026-119
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError
from ..gallery.folder import identity_of, scan
from ..gallery.gallery import MAX_NAME

REQUIRED = ("path", "identity")
OPTIONAL = ("consent_ref", "purpose")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Entry:
    """What one photo is enrolled as: its identity, and the purpose and
    consent reference given for it (None: the run's own)."""

    identity: str
    purpose: str | None = None
    consent_ref: str | None = None


@dataclass(frozen=True)
class Archive:
    """The photos of an archive: ``entries`` maps each photo's absolute
    path to its :class:`Entry`, ``listed`` each photo that could be listed
    to its size and modification time (ns); a photo in ``entries`` but not
    in ``listed`` could not be read. ``prefix`` is a path prefix shared by
    every photo (where the gallery's records of them are looked up)."""

    source: str
    prefix: str
    entries: dict[str, Entry]
    listed: dict[str, tuple[int, int]]


def read_archive(source: str | os.PathLike[str]) -> Archive:
    """The photos of ``source``: a folder, or a CSV or Parquet manifest
    (see the module's documentation); :class:`~prosopo.ParameterError`
    when it is neither, or a manifest is malformed."""
    path = Path(source)
    if path.is_dir():
        folder = path.resolve()
        listed = scan(folder)
        return Archive(str(folder), str(folder) + os.sep, {p: Entry(identity_of(folder, p)) for p in listed}, listed)
    if not path.is_file():
        raise ParameterError(f"{str(path)!r} is neither a folder of photos nor a manifest file "
                             f"({', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        rows = _csv_rows(path)
    elif suffix in PARQUET_SUFFIXES:
        rows = _parquet_rows(path)
    else:
        raise ParameterError(f"manifest {str(path)!r}: unknown file type {suffix or '(none)'!r}; "
                             f"use {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}")
    entries = _entries(rows, path.resolve().parent)
    found: dict[str, tuple[int, int]] = {}
    for photo in entries:
        try:
            st = os.stat(photo)
        except OSError:
            continue
        found[photo] = (st.st_size, st.st_mtime_ns)
    prefix = os.path.join(os.path.commonpath(list(entries)), "") if entries else os.sep
    return Archive(str(path.resolve()), prefix, entries, found)


def _check_columns(columns: Iterable[str], where: str) -> None:
    present = list(columns)
    missing = [c for c in REQUIRED if c not in present]
    unknown = [c for c in present if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        problem = (f"missing column(s) {', '.join(missing)}" if missing else
                   f"unknown column(s) {', '.join(repr(c) for c in unknown)}")
        raise ParameterError(f"manifest {where}: {problem}; a manifest has the columns "
                             f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}")


def _csv_rows(path: Path) -> list[tuple[str, Mapping[str, str | None]]]:
    """The rows of a CSV manifest, each with where it is (its line)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, restkey="\0extra")
            if reader.fieldnames is None:
                raise ParameterError(f"manifest {str(path)!r} is empty: it needs a header row "
                                     f"({','.join(REQUIRED)}) and a row per photo")
            _check_columns(reader.fieldnames, repr(str(path)))
            rows: list[tuple[str, Mapping[str, str | None]]] = []
            for row in reader:
                where = f"{str(path)!r}, line {reader.line_num}"
                if "\0extra" in row or None in row.values():
                    raise ParameterError(f"manifest {where}: {len(reader.fieldnames)} values expected "
                                         f"({','.join(reader.fieldnames)})")
                rows.append((where, row))
            return rows
    except UnicodeDecodeError as exc:
        raise ParameterError(f"manifest {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ParameterError(f"manifest {str(path)!r} is not a valid CSV file: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"cannot read manifest {str(path)!r}: {exc.strerror or exc}") from None


def _parquet_rows(path: Path) -> list[tuple[str, Mapping[str, str | None]]]:
    """The rows of a Parquet manifest, each with where it is (its row)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ParameterError("a Parquet manifest needs pyarrow: pip install 'prosopo[ray]'") from None
    try:
        table = pq.read_table(path)
    except OSError as exc:
        raise ParameterError(f"cannot read manifest {str(path)!r}: {exc.strerror or exc}") from None
    except pa.ArrowException as exc:
        raise ParameterError(f"manifest {str(path)!r} is not a valid Parquet file: {exc}") from None
    _check_columns(table.column_names, repr(str(path)))
    columns = {}
    for name in table.column_names:
        try:
            columns[name] = table.column(name).cast(pa.string()).to_pylist()
        except pa.ArrowException:
            raise ParameterError(f"manifest {str(path)!r}: column {name!r} holds {table.schema.field(name).type}, "
                                 "not text") from None
    return [(f"{str(path)!r}, row {i + 1}", {name: values[i] for name, values in columns.items()})
            for i in range(table.num_rows)]


def _entries(rows: list[tuple[str, Mapping[str, str | None]]], base: Path) -> dict[str, Entry]:
    """Each photo's absolute path and entry, checked: non-empty paths and
    identities, each photo once, one consent record per identity."""
    entries: dict[str, Entry] = {}
    where_listed: dict[str, str] = {}
    consent: dict[str, tuple[str, Entry]] = {}
    for where, row in rows:
        given = (row.get("path") or "").strip()
        identity = (row.get("identity") or "").strip()
        if not given:
            raise ParameterError(f"manifest {where}: empty path")
        if not identity:
            raise ParameterError(f"manifest {where}: empty identity (every photo needs the name of its person)")
        if len(identity) > MAX_NAME or any(ord(c) < 32 for c in identity):
            raise ParameterError(f"manifest {where}: an identity must be at most {MAX_NAME} printable characters")
        path = os.path.normpath(os.path.join(base, given))
        if path in entries:
            raise ParameterError(f"manifest {where}: {given!r} is listed again (first at {where_listed[path]})")
        entry = Entry(identity, (row.get("purpose") or "").strip() or None,
                      (row.get("consent_ref") or "").strip() or None)
        first = consent.setdefault(identity, (where, entry))
        if (first[1].purpose, first[1].consent_ref) != (entry.purpose, entry.consent_ref):
            raise ParameterError(f"manifest {where}: identity {identity!r} has purpose {entry.purpose!r} and "
                                 f"consent_ref {entry.consent_ref!r}, but {first[1].purpose!r} and "
                                 f"{first[1].consent_ref!r} at {first[0]}; a person has one consent record")
        entries[path] = entry
        where_listed[path] = where
    return entries
