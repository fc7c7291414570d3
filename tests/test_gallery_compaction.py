"""Erasure while another process reads the gallery: compaction waits for
the reader's snapshot to end (up to the store's busy timeout) instead of
failing at once, and no copy of the erased name survives."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np

import prosopo


def _reader(db, hold: float, started: threading.Event) -> None:
    conn = sqlite3.connect(db)  # another connection: SQLite treats it as another process would be
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM faces").fetchall()  # a read snapshot, which keeps the log alive
    started.set()
    time.sleep(hold)
    conn.rollback()
    conn.close()


def _gallery(tmp_path):
    gallery = prosopo.Gallery.open(tmp_path / "g", model="sface")
    rng = np.random.default_rng(0)
    gallery.enroll_embeddings(["Some_Name", "Other"], rng.standard_normal((2, 128)).astype(np.float32))
    return gallery


def test_erase_waits_for_a_short_reader(tmp_path):
    with _gallery(tmp_path) as gallery:
        started = threading.Event()
        reader = threading.Thread(target=_reader, args=(tmp_path / "g" / "gallery.db", 0.5, started))
        reader.start()
        started.wait(10)
        assert gallery.erase("Some_Name") == 1  # no StoreError: the reader finished within the wait
        reader.join()
    assert b"Some_Name" not in b"".join(p.read_bytes() for p in (tmp_path / "g").iterdir() if p.is_file())
