"""Command line for galleries: ``prosopo enroll``, ``prosopo find`` and
``prosopo gallery list|stats|remove|purge|audit|compact|keygen``.
Registered on the main app by :mod:`prosopo.cli`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..errors import ParameterError, ProsopoError, StoreError
from .common import Detector, Json, Model, _emit, _fail, progress_bar

T = TypeVar("T")

gallery_app = typer.Typer(help="Inspect and manage a gallery store.", no_args_is_help=True)

# a str, not a Path: a postgresql://user@host/db URL is a store too (a Path would fold its "//")
Store = Annotated[str, typer.Option("--db", help="Gallery store directory, or a postgresql:// URL.")]
KeyFile = Annotated[Path | None, typer.Option(
    "--key-file", help="Key of an encrypted store (or set PROSOPO_GALLERY_KEY / PROSOPO_GALLERY_KEY_FILE).")]
Threshold = Annotated[str | None, typer.Option(help="A cosine distance, or an operating point like fmr=1e-4.")]


def _open(db: str | Path, key_file: Path | None, create: bool = False, **options):
    from ..gallery import Gallery

    return Gallery.open(db, create=create, key_file=key_file, **options)


def _store_failed(db: str | Path, exc: OSError) -> StoreError:
    """A store the system would not let us read or write (no such folder, a
    file in the way, no permission, disk full), as the error to show."""
    return StoreError(f"cannot use the gallery store {db}: {exc.strerror or exc}")


def _on_gallery(db: str | Path, key_file: Path | None, json_out: bool, action: Callable[[Any], T],
                detector: str | None = None) -> T:
    """Open the existing store ``db``, return ``action(gallery)`` and close
    it; a ProsopoError becomes the command's message and exit code."""
    try:
        with _open(db, key_file, detector=detector) as gallery:
            return action(gallery)
    except ProsopoError as exc:
        _fail(exc, json_out)
    except OSError as exc:
        _fail(_store_failed(db, exc), json_out)


class EnrollCommand(TyperCommand):
    """``prosopo enroll``, whose ``--ray`` may come without an address (a
    local Ray for the run): given last, or followed by another option."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        args = list(args)
        for at, arg in enumerate(args):
            if arg == "--":
                break
            if arg == "--ray" and (at + 1 == len(args) or args[at + 1].startswith("-")):
                args.insert(at + 1, "local")
                break
        return super().parse_args(ctx, args)


def enroll(
    folder: Annotated[Path, typer.Argument(help="Photos: one sub-folder per person, or files named after them; with "
                                           "--ray also a manifest, .csv or .parquet, of path, identity and "
                                           "optionally consent_ref, purpose.")],
    db: Store,
    model: Model = DEFAULT_MODEL,
    detector: Detector = DEFAULT_DETECTOR,
    purpose: Annotated[str | None, typer.Option(help="Why these faces are enrolled (kept per identity).")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="Legal basis, e.g. consent or contract.")] = None,
    consent_ref: Annotated[str | None, typer.Option(help="Reference to the consent records.")] = None,
    expires: Annotated[str | None, typer.Option(help="When the identities expire: an ISO date, or a duration such as 365d, 12h or 2w.")] = None,
    workers: Annotated[int, typer.Option(help="Images processed at once (without --ray).")] = 2,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="[ADDRESS]",
        help="Embed on Ray (the 'ray' extra of prosopo): alone, on a local Ray with this machine's cores; with "
             "auto or HOST:PORT (the head's address), on that cluster. Exit code 10 if Ray fails.")] = None,
    actors: Annotated[int | None, typer.Option(
        help="With --ray: photos embedded at once, one CPU each (default: every free CPU of the cluster).")] = None,
    key_file: KeyFile = None,
    json_out: Json = False,
) -> None:
    """Enroll a folder of photos into a gallery (parallel, resumable: photos
    already enrolled are skipped, so an interrupted run can simply be rerun),
    on this machine or on a Ray cluster."""
    try:
        if ray is not None:
            from ..distributed import ray_enroll

            ray_enroll.quiet()  # Ray missing fails here, before a gallery is created
        with (_open(db, key_file, create=True, model=model, detector=detector, purpose=purpose,
                    legal_basis=legal_basis) as gallery,
              progress_bar(not json_out) as bar):
            task = bar.add_task("enrolling", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if ray is None:
                report = gallery.sync_folder(folder, delete_missing=False, workers=workers, consent_ref=consent_ref,
                                             expires=expires, progress=progress)
            else:
                report = ray_enroll.enroll_on_ray(gallery, folder, address=None if ray == "local" else ray,
                                                  actors=actors, consent_ref=consent_ref, expires=expires,
                                                  progress=progress)
    except ProsopoError as exc:
        _fail(exc, json_out)
    except OSError as exc:
        _fail(_store_failed(db, exc), json_out)
    lines = [report.summary()]
    lines += [f"  skipped {path}: {reason}" for path, reason in report.skipped[:20]]
    _emit(report.to_dict(), json_out, "\n".join(lines))


def find(
    image: Annotated[str, typer.Argument(help="Photo of the people to look for.")],
    db: Annotated[str, typer.Option(
        "--db", help="A folder of photos, a gallery store directory, or a postgresql:// URL.")],
    k: Annotated[int, typer.Option("-k", help="Identities per face.")] = 5,
    threshold: Threshold = None,
    model: Model = DEFAULT_MODEL,
    detector: Detector = DEFAULT_DETECTOR,
    key_file: KeyFile = None,
    json_out: Json = False,
) -> None:
    """Find the people in a photo among a folder of photos (synchronised
    first) or an enrolled gallery. Exit code 0 if anyone matched, 1 if not."""
    from .. import api
    from ..gallery.store import URL_SCHEMES

    if db.startswith(URL_SCHEMES) or (Path(db) / "gallery.db").is_file():
        found = _on_gallery(db, key_file, json_out,
                            lambda g: api.matches_only(g.search(image, k=k, threshold=threshold)), detector=detector)
    else:
        try:
            with progress_bar(not json_out) as bar:
                task = bar.add_task("updating the folder's gallery", total=None)
                found = api.find(image, db, model=model, detector=detector, k=k, threshold=threshold, key_file=key_file,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
        except ProsopoError as exc:
            _fail(exc, json_out)
        except OSError as exc:  # the folder's store, db/.prosopo/..., could not be written
            _fail(_store_failed(db, exc), json_out)
    lines = []
    for i, s in enumerate(found):
        lines.append(f"face {i} at {s.face.box.text()}:"
                     + ("" if s.matches else " no match"))
        lines += [f"  {m.identity:<30} distance {m.distance:.4f}  confidence {m.confidence:.4f}  {m.source or ''}"
                  for m in s.matches]
    _emit(found.to_dict(), json_out, "\n".join(lines))
    raise typer.Exit(0 if any(s.matches for s in found) else 1)


@gallery_app.command("list")
def list_(db: Store, key_file: KeyFile = None, json_out: Json = False) -> None:
    """Enrolled identities with face counts and consent records."""
    people = _on_gallery(db, key_file, json_out, lambda g: g.identities())
    lines = [f"{'identity':<30} {'faces':>5}  {'enrolled':<25} {'expires':<25} purpose / legal basis"]
    lines += [f"{p.name:<30} {p.faces:>5}  {p.to_dict()['enrolled_at'] or '':<25} "
              f"{(p.to_dict()['expires_at'] or '-') + (' (expired)' if p.expired else ''):<25} "
              f"{p.consent.purpose} / {p.consent.legal_basis}" for p in people]
    _emit([p.to_dict() for p in people], json_out, "\n".join(lines))


@gallery_app.command()
def stats(db: Store, key_file: KeyFile = None, json_out: Json = False) -> None:
    """Size, model, index, encryption and audit figures of a store."""
    info = _on_gallery(db, key_file, json_out, lambda g: g.stats().to_dict())
    _emit(info, json_out, "\n".join(f"{k:<14} {v}" for k, v in info.items()))


@gallery_app.command()
def remove(
    identity: Annotated[str, typer.Argument(help="Identity to remove.")],
    db: Store,
    key_file: KeyFile = None,
    json_out: Json = False,
) -> None:
    """Remove an identity and all its faces (and compact the store: nothing
    of it is left in the store's files)."""
    count = _on_gallery(db, key_file, json_out, lambda g: g.erase(identity))
    _emit({"identity": identity, "faces_removed": count}, json_out,
          f"erased {identity!r}: {count} face(s) removed, store compacted")


@gallery_app.command()
def purge(db: Store, key_file: KeyFile = None, json_out: Json = False) -> None:
    """Erase every identity whose consent has expired."""
    names = _on_gallery(db, key_file, json_out, lambda g: g.purge())
    _emit({"erased": names}, json_out, f"erased {len(names)} expired identit{'y' if len(names) == 1 else 'ies'}"
          + "".join(f"\n  {n}" for n in names))


@gallery_app.command("audit")
def audit_(
    db: Store,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain; exit code 1 if broken.")] = False,
    limit: Annotated[int, typer.Option(help="Entries to show.")] = 20,
    key_file: KeyFile = None,
    json_out: Json = False,
) -> None:
    """Show the audit log, or check that nobody edited it (--verify)."""
    if verify:
        report = _on_gallery(db, key_file, json_out, lambda g: g.verify_audit())
        text = (f"audit log intact: {report.entries} entries" if report.ok else
                "audit log BROKEN:\n" + "\n".join(f"  {p}" for p in report.problems))
        _emit(report.to_dict(), json_out, text)
        raise typer.Exit(0 if report.ok else 1)
    entries = _on_gallery(db, key_file, json_out, lambda g: g.audit(limit))
    _emit([e.to_dict() for e in entries], json_out, "\n".join(
        f"{e.seq:>6} {e.at} {e.action:<8} by {e.actor:<12} count {e.count:<5} {e.subject or ''}" for e in entries))


@gallery_app.command()
def compact(db: Store, key_file: KeyFile = None, json_out: Json = False) -> None:
    """Rewrite the store's files without deleted data."""
    def run(gallery) -> dict:
        gallery.compact()
        return gallery.stats().to_dict()

    info = _on_gallery(db, key_file, json_out, run)
    _emit(info, json_out, f"compacted: {info['disk_bytes']} bytes on disk")


@gallery_app.command()
def keygen(
    output: Annotated[Path, typer.Option("--output", "-o", help="Key file to create (mode 600).")],
) -> None:
    """Create a random key for encrypting a gallery at rest."""
    import os

    from ..privacy.crypto import new_key

    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
    except FileExistsError:
        _fail(ParameterError(f"{output} exists; not overwriting a key"), False)
    except OSError as exc:
        _fail(ParameterError(f"cannot write {output}: {exc.strerror or exc}"), False)
    typer.echo(f"key written to {output}; keep it safe: without it the gallery cannot be opened")
