"""Erasure after a folder sync leaves no trace of the name (issue 17,
defect 1), and a sync accounts for every photo of the folder (issue 17,
"27 already there" for a 30-photo folder)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prosopo import Gallery, NotFoundError
from prosopo.gallery import SyncReport

NAME = "Some_Name"


def _plain_jpeg(path: Path, colour: tuple[int, int, int] = (40, 120, 200)) -> None:
    Image.fromarray(np.full((120, 160, 3), colour, np.uint8)).save(path, "JPEG")


def _faces(lfw: Path, count: int) -> list[Path]:
    people = sorted(p for p in (lfw / "images").iterdir() if p.is_dir())
    return [min(person.glob("*.jpg")) for person in people[:count]]


def _traces(root: Path, needle: bytes) -> dict[str, int]:
    """Occurrences of ``needle`` in every file of the store directory
    (gallery.db, its -wal and -shm, the index, the anchor, ...)."""
    return {p.name: p.read_bytes().count(needle) for p in root.iterdir() if p.is_file()}


def _accounted(report: SyncReport) -> int:
    return report.added + report.changed + report.moved + report.unchanged + len(report.skipped) + report.erased


def test_erase_after_sync_leaves_no_name_in_any_file(tmp_path, lfw):
    photos = tmp_path / "photos"
    person = photos / NAME
    person.mkdir(parents=True)
    shutil.copy(_faces(lfw, 1)[0], person / f"{NAME}_0001.jpg")
    _plain_jpeg(person / f"{NAME}_0002.jpg")  # no face: skipped, its path and reason recorded
    other = photos / "Other_Person"
    other.mkdir()
    shutil.copy(_faces(lfw, 2)[1], other / "Other_Person_0001.jpg")
    root = tmp_path / "store"
    with Gallery.open(root) as gallery:
        report = gallery.sync_folder(photos)
        assert (report.added, len(report.skipped)) == (2, 1)
        assert NAME in report.skipped[0][0]
        assert sum(_traces(root, NAME.encode()).values()) > 0  # it was there
        gallery.erase(NAME)
        assert NAME not in gallery and "Other_Person" in gallery
        assert gallery.stats().files_tracked == 1
        erased = [e for e in gallery.audit() if e.action == "erase"]
        assert len(erased) == 1 and erased[0].subject == gallery.pseudonym(NAME)  # a pseudonym, not the name
        assert gallery.verify_audit().ok
        # while the gallery is still open, too: nothing in the WAL or free pages
        assert sum(_traces(root, NAME.encode()).values()) == 0, _traces(root, NAME.encode())
    assert sum(_traces(root, NAME.encode()).values()) == 0, _traces(root, NAME.encode())
    with sqlite3.connect(root / "gallery.db") as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                assert not any(NAME in str(value) for value in row), (table, row)
    conn.close()

    # syncing the folder again enrolls nothing of the erased person, and
    # stores neither their paths nor the skipped photo's reason again
    with Gallery.open(root) as gallery:
        again = gallery.sync_folder(photos)
        assert (again.added, again.unchanged, again.erased, len(again.skipped)) == (0, 1, 2, 0)
        assert dict(again.files)[str(person.resolve() / f"{NAME}_0002.jpg")] == "erased"
        assert NAME not in gallery
    assert sum(_traces(root, NAME.encode()).values()) == 0


def test_erase_forgets_a_person_whose_photos_were_all_skipped(tmp_path):
    photos = tmp_path / "photos"
    (photos / NAME).mkdir(parents=True)
    _plain_jpeg(photos / NAME / "a.jpg")
    _plain_jpeg(photos / "Loose_Name.jpg", (200, 10, 10))  # a loose file: its identity is its name
    root = tmp_path / "store"
    with Gallery.open(root) as gallery:
        report = gallery.sync_folder(photos)
        assert len(report.skipped) == 2 and report.added == 0 and NAME not in gallery
        assert gallery.erase(NAME) == 0  # no faces, but its file record is a trace of the name
        assert gallery.erase("Loose_Name") == 0
        with pytest.raises(NotFoundError):
            gallery.erase("Nobody_At_All")
    for needle in (NAME.encode(), b"Loose_Name"):
        assert sum(_traces(root, needle).values()) == 0


def test_sync_report_accounts_for_every_photo(tmp_path, gallery_location, lfw):
    faces = _faces(lfw, 4)
    photos = tmp_path / "photos"
    layout = {"A_Person": faces[:2], "B_Person": faces[2:3], "C_Person": faces[3:4]}
    for name, files in layout.items():
        (photos / name).mkdir(parents=True)
        for i, face in enumerate(files):
            shutil.copy(face, photos / name / f"{i}.jpg")
    _plain_jpeg(photos / "B_Person" / "blank.jpg")  # no face
    (photos / "C_Person" / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")  # unreadable
    with Gallery.open(gallery_location) as gallery:
        first = gallery.sync_folder(photos)
        assert first.photos == 6 and _accounted(first) == 6
        assert (first.added, len(first.skipped), first.faces) == (4, 2, 4)

        second = gallery.sync_folder(photos)  # nothing changed: skipped photos are still skipped, not "already there"
        assert (second.unchanged, len(second.skipped), second.added) == (4, 2, 0)
        assert _accounted(second) == second.photos == 6
        assert {Path(p).name for p, _ in second.skipped} == {"blank.jpg", "broken.jpg"}
        assert all(reason for _, reason in second.skipped)

        gallery.erase("B_Person")  # one face photo and the skipped blank one
        third = gallery.sync_folder(photos)
        assert (third.unchanged, third.erased, len(third.skipped), third.added) == (3, 2, 1, 0)
        assert _accounted(third) == third.photos == 6
        categories = {Path(p).relative_to(photos.resolve()).as_posix(): c for p, c in third.files}
        assert categories == {"A_Person/0.jpg": "unchanged", "A_Person/1.jpg": "unchanged",
                              "B_Person/0.jpg": "erased", "B_Person/blank.jpg": "erased",
                              "C_Person/0.jpg": "unchanged", "C_Person/broken.jpg": "skipped"}
        line = third.summary()
        assert line.startswith("6 photo(s): 0 enrolled") and "3 already there" in line
        assert "1 skipped" in line and "2 erased" in line
        assert third.to_dict()["photos"] == 6 and len(third.to_dict()["files"]) == 6


def test_a_changed_photo_logs_the_faces_it_replaces(tmp_path, gallery_location, lfw):
    first, second = _faces(lfw, 2)
    person = tmp_path / "photos" / "Some_Name"
    person.mkdir(parents=True)
    shutil.copy(first, person / "a.jpg")
    with Gallery.open(gallery_location) as gallery:
        gallery.sync_folder(tmp_path / "photos")
        shutil.copy(second, person / "a.jpg")  # the same file name, another photo
        os.utime(person / "a.jpg", ns=(1, 1))
        report = gallery.sync_folder(tmp_path / "photos")
        assert report.changed == 1
        actions = [(e.action, e.count) for e in gallery.audit()]
        assert ("remove", 1) in actions and actions.count(("enroll", 1)) == 2
        assert gallery.verify_audit().ok
