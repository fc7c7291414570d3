"""Galleries on real faces: 1:N identification, open-set rejection, folder
sync, erasure, encryption, the audit chain, concurrency and crash safety."""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import prosopo
from prosopo import Gallery, NoFaceError, NotFoundError, ParameterError, StoreError
from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from prosopo.embed import RECOGNIZERS
from prosopo.privacy.crypto import new_key

DIM = RECOGNIZERS.backend_class(DEFAULT_MODEL).dim  # what a default gallery stores


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, identification):
    """40 people, 3 photos each; the 4th photo of each is the probe."""
    location = tmp_path_factory.mktemp("gallery")
    with Gallery.open(location, purpose="tests", legal_basis="consent") as gallery:
        for name, photos in identification.items():
            gallery.enroll(name, photos[:3])
    return location


def test_rank1_identification(enrolled, identification):
    with Gallery.open(enrolled) as gallery:
        hits = [gallery.identify(photos[3])[0].identity == name for name, photos in identification.items()]
        assert gallery.stats().faces == 120
    assert sum(hits) / len(hits) >= 0.97


def test_search_ranks_identities(enrolled, identification):
    name, photos = next(iter(identification.items()))
    with Gallery.open(enrolled) as gallery:
        (search,) = gallery.search(photos[3], k=3, max_faces=1)
    assert search.matches[0].identity == name
    assert len(search.matches) == 3 and len({m.identity for m in search.matches}) == 3
    distances = [m.distance for m in search.matches]
    assert distances == sorted(distances)
    best = search.matches[0]
    assert best.is_match and 0.99 < best.confidence <= 1 and best.source.endswith(".jpg")
    assert not search.matches[2].is_match


def test_unknown_people_are_rejected(tmp_path, identification):
    names = sorted(identification)
    members, strangers = names[:20], names[20:]
    with Gallery.open(tmp_path / "g") as gallery:
        for name in members:
            gallery.enroll(name, identification[name][:3])
        wrong = [r for name in strangers for r in gallery.identify(identification[name][3])]
        right = [gallery.identify(identification[name][3])[0].identity == name for name in members]
    assert sum(r.known for r in wrong) <= 1  # FPIR target 1%: 20 strangers
    assert all(r.to_dict()["identity"] is None for r in wrong if not r.known)
    assert sum(right) >= 19


def test_model_mismatch_and_settings_kept(enrolled):
    with pytest.raises(StoreError, match=f"built with model '{DEFAULT_MODEL}', not 'dlib'"):
        Gallery.open(enrolled, model="dlib")
    with Gallery.open(enrolled, purpose="ignored for an existing gallery") as gallery:
        assert gallery.model == DEFAULT_MODEL
        person = gallery.identities()[0]
        assert person.consent.purpose == "tests" and person.consent.legal_basis == "consent"


def test_consent_record_expiry_and_purge(tmp_path, identification):
    (a, pa), (b, pb) = list(identification.items())[:2]
    with Gallery.open(tmp_path / "g", require_consent=True) as gallery:
        with pytest.raises(ParameterError, match="legal_basis"):
            gallery.enroll(a, pa[0])
        gallery.enroll(a, pa[0], legal_basis="consent", consent_ref="form-17", purpose="door", expires=-1)
        gallery.enroll(b, pb[0], legal_basis="contract", expires="2999-01-01")
        record = gallery.identity(a)
        assert record.expired and record.consent.consent_ref == "form-17" and record.consent.purpose == "door"
        assert record.consent.enrolled_by
        # an expired identity is no longer found, even before the purge
        assert gallery.identify(pa[1])[0].identity is None
        assert gallery.purge() == [a]
        assert a not in gallery and b in gallery
        assert [e.action for e in gallery.audit()][-1] == "erase"


def test_bad_inputs(tmp_path, lfw, identification):
    photos = next(iter(identification.values()))
    with Gallery.open(tmp_path / "g") as gallery:
        with pytest.raises(NoFaceError):
            gallery.enroll("nobody", np.full((200, 200, 3), 127, np.uint8))
        assert len(gallery) == 0  # nothing stored
        result = gallery.enroll("someone", [photos[0], b"not an image"])
        assert result.added == 1 and len(result.skipped) == 1
        with pytest.raises(NoFaceError):
            gallery.search(np.full((200, 200, 3), 127, np.uint8))
        with pytest.raises(ParameterError):
            gallery.enroll("", photos[0])
        with pytest.raises(ParameterError):
            gallery.search(photos[1], k=0)
        with pytest.raises(NotFoundError):
            gallery.erase("nobody")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "gallery.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="damaged"):
        Gallery.open(damaged)
    assert (damaged / "gallery.db").read_bytes().startswith(b"this is not")  # left as it was
    with pytest.raises(StoreError, match="no gallery"):
        Gallery.open(tmp_path / "missing", create=False)


def _stored_bytes(root: Path, needle: bytes) -> dict[str, int]:
    return {p.name: p.read_bytes().count(needle) for p in root.iterdir() if p.is_file()}


def test_erase_leaves_no_bytes_behind(tmp_path, identification):
    (a, pa), (b, pb) = list(identification.items())[:2]
    root = tmp_path / "g"
    with Gallery.open(root, keep_crops=True) as gallery:
        gallery.enroll(a, pa[:2])
        gallery.enroll(b, pb[:2])
        faces = [e for p in pa[:2] for e in gallery.embed(p)]
        vectors = [e.vector.tobytes() for e in faces] + [e.crop[-64:] for e in faces]
        # the start of the embedding (a whole 2 KB one may straddle SQLite pages when a crop shares its row)
        assert sum(_stored_bytes(root, vectors[0][:32]).values()) >= 1
        assert sum(_stored_bytes(root, vectors[-1]).values()) >= 1  # the crop is kept
        gallery.erase(a)
        for vector in vectors:
            assert sum(_stored_bytes(root, vector).values()) == 0
            assert sum(_stored_bytes(root, vector[:32]).values()) == 0
        assert a not in gallery and b in gallery
        assert gallery.identify(pa[2])[0].identity is None
        assert gallery.identify(pb[2])[0].identity == b
        erased = gallery.audit()[-3]
        assert erased.action == "erase" and erased.subject == gallery.pseudonym(a)
    everything = b"".join(p.read_bytes() for p in root.iterdir() if p.is_file())
    assert a.encode() not in everything  # not even the name, in the audit log


def test_erase_from_ann_index(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    root = tmp_path / "g"
    with Gallery.open(root, index="ann") as gallery:
        for i in range(0, 300, 3):
            gallery.enroll_embeddings(f"p{i}", vectors[i:i + 3])
        found = gallery.search_embeddings(vectors[:30], k=1, threshold=0.01)
        assert [m[0].identity for m in found] == [f"p{i - i % 3}" for i in range(30)]
        assert gallery.stats().index == "ann"
        gallery.erase("p0")
        assert gallery.search_embeddings(vectors[0], k=1)[0][0].identity != "p0"
        with pytest.raises(ParameterError):
            gallery.search_embeddings(np.full(DIM, np.nan))
        with pytest.raises(ParameterError):
            gallery.search_embeddings(vectors[0], threshold="fpir=2")
    assert (root / "index.ann").is_file()
    for v in vectors[:3]:
        int8 = np.rint(v * (127.0 / np.abs(v).max())).astype(np.int8)  # as the approximate index holds it
        for needle in (v.tobytes()[:32], v.astype(np.float16).tobytes()[:32], int8.tobytes()[:32]):
            assert sum(_stored_bytes(root, needle).values()) == 0
    with Gallery.open(root) as gallery:  # the saved index is reused and still right
        assert gallery.search_embeddings(vectors[3], k=1)[0][0].identity == "p3"


def test_damaged_or_old_index_file_is_rebuilt(tmp_path):
    """The saved index is derived data: a damaged file, or one in an older
    format, is rebuilt from the database, and nothing enrolled is lost."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    root = tmp_path / "g"
    with Gallery.open(root, index="ann") as gallery:
        gallery.enroll_embeddings([f"p{i}" for i in range(60)], vectors)
        gallery.search_embeddings(vectors[0], k=1)  # builds the index, saved on close
    saved = (root / "index.ann").read_bytes()
    header = saved.split(b"\n", 1)[0]
    old = io.BytesIO()  # laid out as format 2 (binary codes) was
    np.savez(old, ids=np.arange(60), vectors=np.zeros((60, DIM), np.int8), scales=np.zeros(60, np.float32),
             codes=np.zeros((60, 64), np.uint8), mean=np.zeros(0, np.float32), bits=np.array([512, 20261123, 2]))
    for damage in (saved[: len(saved) // 2], header + b"\n" + b"\0" * 100, b"not an index",
                   header + b"\n" + old.getvalue()):
        (root / "index.ann").write_bytes(damage)
        with Gallery.open(root) as gallery:
            found = gallery.search_embeddings(vectors, k=1)
            assert [m[0].identity for m in found] == [f"p{i}" for i in range(60)]
            assert gallery.stats().faces == 60


def _code_slots(part) -> np.ndarray:
    """Every code slot of a faiss fast-scan index, in use or left past its end."""
    import faiss

    packer = part.get_CodePacker()
    size = part.codes.round_capacity(part.codes.size())
    block = faiss.rev_swig_ptr(part.codes.get(), size).reshape(-1, packer.block_size)
    return np.array([packer.unpack_1(block, slot) for slot in range(size // packer.block_size * packer.nvec)])


def test_approximate_index_finds_the_exact_nearest_stranger(tmp_path, monkeypatch):
    from prosopo.gallery import ann as ann_module

    # 500 candidates of 5,000 faces, so that the codes choose (a large 512-D gallery keeps 4,000)
    monkeypatch.setattr(ann_module, "layout", lambda dim: (dim // 4, 500))
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(5000, DIM)).astype(np.float32) + 0.05  # a shared offset, like real embeddings
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(200, DIM)).astype(np.float32) + 0.05  # strangers: nobody enrolled is close
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with Gallery.open(tmp_path / "g", index="ann", key=new_key()) as gallery:
        gallery.enroll_embeddings([f"p{i}" for i in range(5000)], vectors)
        found = gallery.search_embeddings(queries, k=1)
        index = gallery._store.index()
        assert index.kind == "ann" and sum(part.ntotal for part in index._parts) == 5000  # the codes were used
        sims = queries @ vectors.T
        nearest = sims.argmax(axis=1)
        assert [m[0].identity for m in found] == [f"p{i}" for i in nearest]
        # the distances are the float32 ones, not the int8 copies' (about 0.001 off)
        assert np.allclose([m[0].distance for m in found], 1 - sims.max(axis=1), atol=1e-5)

        # removing a face blanks its code: no slot still holds it, in use or
        # past the end (where faiss leaves the last faces' codes when it compacts)
        part = index._parts[0]
        gone = [m[0].face_id for m in found[:3]] + [int(index._ids[len(index) - 1])] + [found[3][0].face_id]
        rows = [int(np.flatnonzero(index._ids[: len(index)] == face_id)[0]) for face_id in gone]
        codes = part.sa_encode(index._decoded(np.array(rows)))
        assert all((_code_slots(part)[r] == code).all() for r, code in zip(rows, codes))  # there before
        for name in [m[0].identity for m in found[:3]] + ["p4999"]:
            gallery.remove(name)
        assert len(gallery._store.index()) == 4996
        left = _code_slots(part)
        assert not any((left == code).all(axis=1).any() for code in codes[:4])
        again = gallery.search_embeddings(queries[:3], k=1)
        assert all(m[0].identity != f"p{i}" for m, i in zip(again, nearest[:3]))

        erased = vectors[nearest[3]]
        int8 = np.rint(erased * (127.0 / np.abs(erased).max())).astype(np.int8)  # as the index holds it
        assert (index._vectors == int8).all(axis=1).sum() == 1
        gallery.erase(found[3][0].identity)  # rebuilds the index from what is left
        index = gallery._store.index()
        assert len(index) == 4995 and not (index._vectors == int8).all(axis=1).any()
        assert not any((_code_slots(part) == codes[4]).all(axis=1).any() for part in index._parts)


def test_encryption_at_rest(tmp_path, identification, monkeypatch):
    (a, pa), (b, pb) = list(identification.items())[:2]
    key = new_key()
    root = tmp_path / "g"
    with Gallery.open(root, key=key) as gallery:
        gallery.enroll(a, pa[:2])
        gallery.enroll(b, pb[:2])
        vector = gallery.embed(pa[0])[0].vector.tobytes()
        assert gallery.stats().encrypted
    assert sum(_stored_bytes(root, vector[:32]).values()) == 0
    with pytest.raises(StoreError, match="encrypted"):
        Gallery.open(root)
    with pytest.raises(StoreError, match="wrong gallery key"):
        Gallery.open(root, key=new_key())
    monkeypatch.setenv("PROSOPO_GALLERY_KEY", key)
    with Gallery.open(root) as gallery:
        assert gallery.identify(pa[3])[0].identity == a
    # a sealed embedding moved to another row does not open
    conn = sqlite3.connect(root / "gallery.db")
    with conn:
        rows = conn.execute("SELECT id, embedding FROM faces ORDER BY id").fetchall()
        conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (rows[0][1], rows[-1][0]))
    conn.close()
    with Gallery.open(root) as gallery, pytest.raises(StoreError, match="does not open"):
        gallery.identify(pa[3])


def test_audit_chain_detects_tampering(tmp_path, identification):
    (a, pa), (b, pb) = list(identification.items())[:2]
    root = tmp_path / "g"
    with Gallery.open(root) as gallery:
        gallery.enroll(a, pa[:2])
        gallery.enroll(b, pb[:2])
        gallery.identify(pa[3])
        gallery.search(pb[3])
        report = gallery.verify_audit()
        assert report.ok and report.entries == 4
        assert [e.action for e in gallery.audit()] == ["enroll", "enroll", "identify", "search"]
    db = root / "gallery.db"
    pristine = tmp_path / "pristine.db"
    shutil.copy(db, pristine)

    def restore() -> None:
        for stale in root.glob("gallery.db-*"):
            stale.unlink()
        shutil.copy(pristine, db)

    def tamper(sql: str) -> list[str]:
        restore()
        conn = sqlite3.connect(db)
        with conn:
            conn.execute(sql)
        conn.close()
        with Gallery.open(root) as g:
            result = g.verify_audit()
        assert not result.ok
        return list(result.problems)

    assert "modified" in " ".join(tamper("UPDATE audit SET count = 0 WHERE seq = 2"))
    assert "missing" in " ".join(tamper("DELETE FROM audit WHERE seq = 2"))
    assert "cut from the end" in " ".join(tamper("DELETE FROM audit WHERE seq = 4"))
    restore()
    with Gallery.open(root) as g:
        assert g.verify_audit().ok


def _photo_folder(photos: Path, identification: dict, names: list[str], each: int = 2) -> Path:
    """A folder of photos, one sub-folder per person, ``each`` photos each."""
    for name in names:
        (photos / name).mkdir(parents=True)
        for p in identification[name][:each]:
            shutil.copy(p, photos / name / p.name)
    return photos


def test_folder_sync_is_incremental(tmp_path, identification):
    names = sorted(identification)[:3]
    photos = _photo_folder(tmp_path / "photos", identification, names)
    probe = identification[names[0]][3]
    found = prosopo.find(probe, photos)
    assert found.sync.added == 6 and found.sync.faces == 6
    assert found[0].matches[0].identity == names[0]
    assert (photos / ".prosopo" / f"{DEFAULT_MODEL}-{DEFAULT_DETECTOR}" / "gallery.db").is_file()

    again = prosopo.find(probe, photos)
    assert (again.sync.added, again.sync.changed, again.sync.removed, again.sync.unchanged) == (0, 0, 0, 6)

    extra = identification[names[1]][2]
    shutil.copy(extra, photos / names[1] / extra.name)  # new
    first = photos / names[2] / identification[names[2]][0].name
    shutil.copy(identification[names[2]][3], first)  # changed content
    gone = photos / names[0] / identification[names[0]][1].name
    gone.unlink()  # deleted
    touched = photos / names[0] / identification[names[0]][0].name
    os.utime(touched, ns=(time.time_ns(), time.time_ns()))  # same content, new time
    (photos / "notes.txt").write_text("not a photo")
    (photos / names[1] / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    report = prosopo.find(probe, photos).sync
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 4)
    assert [Path(p).name for p, _ in report.skipped] == ["broken.jpg"]

    moved = photos / names[1] / "renamed.jpg"
    (photos / names[1] / extra.name).rename(moved)
    report = prosopo.find(probe, photos).sync
    assert (report.added, report.moved, report.removed) == (0, 1, 0)
    with Gallery.open(photos / ".prosopo" / f"{DEFAULT_MODEL}-{DEFAULT_DETECTOR}") as gallery:
        assert gallery.stats().faces == 6
        assert {i.name: i.faces for i in gallery.identities()} == {names[0]: 1, names[1]: 3, names[2]: 2}

    shutil.rmtree(photos / names[0])
    assert prosopo.find(probe, photos).sync.removed == 1
    with Gallery.open(photos / ".prosopo" / f"{DEFAULT_MODEL}-{DEFAULT_DETECTOR}") as gallery:
        assert names[0] not in gallery


def test_to_pandas(tmp_path, identification):
    pd = pytest.importorskip("pandas")
    name, photos = next(iter(identification.items()))
    folder = tmp_path / "photos" / name
    folder.mkdir(parents=True)
    shutil.copy(photos[0], folder / photos[0].name)
    table = prosopo.find(photos[1], tmp_path / "photos", store=tmp_path / "store").to_pandas()
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    assert table.loc[0, "identity"] == name and table.loc[0, "distance"] < table.loc[0, "threshold"]


WRITER = """
import sys, numpy as np
from prosopo import Gallery
root, tag, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(int(tag))
with Gallery.open(root, actor=f"writer-{tag}") as g:
    for i in range(150):
        g.enroll_embeddings(f"{tag}-{i}", rng.normal(size=(2, dim)))
"""


def test_two_concurrent_writers_lose_nothing(gallery_location):
    root = gallery_location  # a directory, or a PostgreSQL database
    Gallery.open(root).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, root, tag, str(DIM)]) for tag in ("1", "2")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with Gallery.open(root) as gallery:
        names = {i.name for i in gallery.identities()}
        assert names == {f"{t}-{i}" for t in ("1", "2") for i in range(150)}
        assert gallery.stats().faces == 600
        assert gallery.verify_audit().ok and gallery.verify_audit().entries == 300
        actors = {e.actor for e in gallery.audit()}
        assert actors == {"writer-1", "writer-2"}


def test_killed_enrollment_resumes(tmp_path, lfw):
    photos = tmp_path / "photos"
    people = sorted(p for p in (lfw / "images").iterdir() if p.is_dir())[:60]
    for person in people:
        shutil.copytree(person, photos / person.name)
    total = sum(1 for _ in photos.rglob("*.jpg"))
    assert total > 64
    root = tmp_path / "g"
    proc = subprocess.Popen([sys.executable, "-m", "prosopo.cli", "enroll", str(photos), "--db", str(root),
                             "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(f"file:{root / 'gallery.db'}?mode=ro", uri=True, timeout=5) as conn:
                done = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.Error:
            continue
        if done >= 32:
            break
    assert proc.poll() is None, "enrollment finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 32 <= done < total
    with Gallery.open(root) as gallery:  # usable, and what was committed is there
        assert gallery.stats().files_tracked >= done
    rerun = subprocess.run([sys.executable, "-m", "prosopo.cli", "enroll", str(photos), "--db", str(root),
                            "--json"], capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr
    with Gallery.open(root) as gallery:
        stats = gallery.stats()
        assert stats.files_tracked == total
        with sqlite3.connect(root / "gallery.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            sources = [r[0] for r in conn.execute("SELECT source FROM faces")]
        assert len(sources) == len(set(sources)) == stats.faces  # nothing enrolled twice
        assert gallery.verify_audit().ok


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, check=False)


def test_command_line(tmp_path, identification, gallery_location):
    import json

    names = sorted(identification)[:3]
    photos = _photo_folder(tmp_path / "photos", identification, names)
    store = gallery_location  # a directory, or a postgresql:// URL
    out = _cli("enroll", str(photos), "--db", str(store), "--purpose", "tests", "--legal-basis", "consent",
               "--expires", "2999-12-31", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["faces"] == 6
    probe = str(identification[names[0]][3])
    for db in (store, photos):  # an enrolled store, or a photo folder synced on the fly
        out = _cli("find", probe, "--db", str(db), "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)[0]["matches"][0]["identity"] == names[0]
    stranger = str(identification[max(identification)][0])
    assert _cli("find", stranger, "--db", str(store)).returncode == 1  # nobody matched
    listed = json.loads(_cli("gallery", "list", "--db", str(store), "--json").stdout)
    assert [p["name"] for p in listed] == names
    assert listed[0]["purpose"] == "tests" and listed[0]["expires_at"].startswith("2999-12-31")
    assert json.loads(_cli("gallery", "stats", "--db", str(store), "--json").stdout)["faces"] == 6
    assert _cli("gallery", "remove", names[1], "--db", str(store)).returncode == 0
    assert _cli("gallery", "remove", names[1], "--db", str(store)).returncode == 8
    assert _cli("gallery", "purge", "--db", str(store)).returncode == 0
    audit = _cli("gallery", "audit", "--db", str(store), "--verify")
    assert audit.returncode == 0 and "intact" in audit.stdout
    assert _cli("find", probe, "--db", str(tmp_path / "photos" / names[0] / "x.jpg")).returncode != 0

    key = tmp_path / "key"
    assert _cli("gallery", "keygen", "-o", str(key)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    secret = tmp_path / "secret"
    out = _cli("enroll", str(photos), "--db", str(secret), "--key-file", str(key))
    assert out.returncode == 0, out.stderr
    denied = _cli("gallery", "stats", "--db", str(secret), "--json")
    assert denied.returncode == 7 and json.loads(denied.stdout)["error"] == "bad_store"
    allowed = _cli("gallery", "stats", "--db", str(secret), "--json", env={"PROSOPO_GALLERY_KEY_FILE": str(key)})
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["encrypted"] is True


def test_approximate_index_finds_mated_faces(monkeypatch):
    from prosopo.gallery import ann as ann_module
    from prosopo.gallery.ann import AnnIndex
    from prosopo.gallery.exact import ExactIndex

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(5000, 128)).astype(np.float32) + 3.0  # a shared offset, like real embeddings
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def photo(c):
        x = c + rng.normal(scale=0.06, size=c.shape).astype(np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    ids = np.arange(10, 5010)
    ann, exact = AnnIndex(128), ExactIndex(128)
    for part in np.array_split(np.arange(5000), 7):  # added in batches, as a growing gallery is
        ann.add(ids[part], photo(centres[part]))
    exact.add(ann._ids[: len(ann)], ann.vectors())
    probes = photo(centres[:300])
    agree = [ann.search(q, 3)[0][0] == exact.search(q, 1)[0][0] for q in probes]
    assert np.mean(agree) >= 0.99 and ann.search(probes[0], 3)[0][0] == 10
    whole = [ann.search(q, 3) for q in probes[:50]]
    monkeypatch.setattr(ann_module, "SPLIT_FROM", 1000)  # large galleries: two halves scanned at once
    for q, (ids, sims) in zip(probes[:50], whole):
        got = ann.search(q, 3)
        assert (got[0] == ids).all() and np.allclose(got[1], sims)
    ann.remove(np.array([10, 11]))
    assert len(ann) == 4998 and ann.search(probes[0], 3)[0][0] not in (10, 11)
    copy = AnnIndex.from_bytes(128, ann.to_bytes())
    for q in probes[2:20]:
        got, want = copy.search(q, 5), ann.search(q, 5)
        assert (got[0] == want[0]).all() and np.allclose(got[1], want[1])
    for damaged in (b"garbage", copy.to_bytes()[:300]):
        with pytest.raises(StoreError):
            AnnIndex.from_bytes(128, damaged)


def test_erasing_a_folder_person_forgets_the_paths(tmp_path, identification):
    names = sorted(identification)[:2]
    photos = _photo_folder(tmp_path / "photos", identification, names)
    store = tmp_path / "store"
    prosopo.find(identification[names[0]][3], photos, store=store)
    with Gallery.open(store) as gallery:
        gallery.erase(names[0])
    everything = b"".join(p.read_bytes() for p in store.iterdir() if p.is_file())
    assert names[0].encode() not in everything
    again = prosopo.find(identification[names[1]][3], photos, store=store)
    assert (again.sync.added, again.sync.erased) == (0, 2)  # the same photos are not enrolled again
    with Gallery.open(store) as gallery:
        assert names[0] not in gallery and names[1] in gallery


def test_two_processes_syncing_one_folder_store_each_photo_once(tmp_path, identification):
    photos = _photo_folder(tmp_path / "photos", identification, sorted(identification)[:4])
    probe = str(identification[min(identification)][3])
    code = f"import prosopo; prosopo.find({probe!r}, {str(photos)!r}, workers=1)"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with Gallery.open(photos / ".prosopo" / f"{DEFAULT_MODEL}-{DEFAULT_DETECTOR}") as gallery:
        assert gallery.stats().faces == 8 and gallery.stats().files_tracked == 8


def test_acting_as_records_another_actor_and_leaves_the_store_open(tmp_path, identification):
    (a, pa), = list(identification.items())[:1]
    with Gallery.open(tmp_path / "g", actor="owner") as gallery:
        gallery.enroll(a, pa[:1])
        view = gallery.acting_as("key:abc (shop)")
        assert view.identify(pa[1])[0].identity == a
        view.close()
        assert gallery.identify(pa[2])[0].identity == a  # the owner's store is still open
        actors = [(e.action, e.actor) for e in gallery.audit()]
    assert actors == [("enroll", "owner"), ("identify", "key:abc (shop)"), ("identify", "owner")]
