"""Enrolling photo archives on Ray (prosopo.distributed): on a real local
Ray started here with two CPUs, and on a real two-node cluster started on
this machine with ``ray start``. The Ray path must give what the folder
sync gives, and survive a stopped run and a killed actor with every photo
stored exactly once."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from prosopo import Gallery, ModelError, ParameterError
from prosopo.gallery.folder import SyncReport
from prosopo.privacy.licence import set_licence_policy

ray = pytest.importorskip("ray", reason="the Ray tests need pip install 'prosopo[ray]'")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from prosopo.distributed import ClusterError, RayReport, enroll_on_ray


class Stop(Exception):
    """Raised from a progress callback to stop a run midway."""


@pytest.fixture(scope="module")
def cluster():
    """A local Ray with two CPUs for this module; its address."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=200_000_000)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _photos(lfw: Path, root: Path, people: int) -> Path:
    """A folder of lfw-mini's first ``people`` people, one sub-folder each."""
    folder = root / "photos"
    for person in sorted(p for p in (lfw / "images").iterdir() if p.is_dir())[:people]:
        shutil.copytree(person, folder / person.name)
    return folder


def _faces(gallery: Gallery) -> list:
    """Every stored face of a small gallery (ids below 10,000)."""
    return gallery.store.faces(range(1, 10_000))


def _each_photo_once(gallery: Gallery, photos: int, skipped: int) -> None:
    sources = [face.source for face in _faces(gallery)]
    assert len(sources) == len(set(sources)) == photos - skipped
    assert gallery.stats().files_tracked == photos
    assert gallery.verify_audit().ok


def _wait_for_free_cpus(cpus: float, seconds: float = 60) -> None:
    """Wait until the run's actors are gone and their CPUs free again."""
    deadline = time.time() + seconds
    while ray.available_resources().get("CPU", 0) < cpus:
        assert time.time() < deadline, f"the actors still hold CPUs: {ray.available_resources()}"
        time.sleep(0.2)


def _actor_pids() -> list[int]:
    """Ray Data's actor processes among this process's descendants."""
    parent: dict[int, int] = {}
    title: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                title[int(entry.name)] = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, cmdline in title.items() if cmdline.startswith(b"ray::MapWorker") and ours(pid)]


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, check=False)


def test_ray_enrolls_what_the_folder_sync_enrolls(cluster, lfw, tmp_path):
    from PIL import Image

    folder = _photos(lfw, tmp_path, 12)
    Image.new("RGB", (160, 160), (128, 128, 128)).save(folder / "Nobody.jpg")  # no face in it
    first = min(folder.iterdir())
    (first / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    with Gallery.open(tmp_path / "sync") as gallery:
        expected = gallery.sync_folder(folder)
        people = {i.name: i.faces for i in gallery.identities()}
        vectors = {face.source: face.vector for face in _faces(gallery)}
    assert expected.added >= 20 and len(expected.skipped) == 2
    with Gallery.open(tmp_path / "ray") as gallery:
        report = enroll_on_ray(gallery, folder, batch=8)
        assert isinstance(report, RayReport) and isinstance(report, SyncReport)
        assert (report.added, report.faces, report.photos) == (expected.added, expected.faces, expected.photos)
        assert report.files == expected.files and report.skipped == expected.skipped  # the same reasons too
        assert "no face found" in dict(report.skipped)[str(folder / "Nobody.jpg")]
        assert {i.name: i.faces for i in gallery.identities()} == people
        got = {face.source: face.vector for face in _faces(gallery)}
        assert got.keys() == vectors.keys()
        assert max(float(np.abs(got[s] - vectors[s]).max()) for s in got) < 1e-5
        assert sum(photos for _, _, photos in report.nodes) == report.photos  # each photo read once
        assert report.to_dict()["nodes"][0]["photos"] == report.photos

        again = enroll_on_ray(gallery, folder)  # nothing new: Ray is not even needed
        assert (again.added, again.unchanged, again.skipped, again.nodes) == (0, expected.added, expected.skipped, ())
        _each_photo_once(gallery, report.photos, len(report.skipped))
        assert next(e.detail for e in gallery.audit() if e.action == "enroll")["ray"] is True

        erased = sorted(people)[1]
        gallery.erase(erased)  # its photos are read again, and recognised as an erased person's
        after = enroll_on_ray(gallery, folder)
        assert (after.added, after.erased) == (0, len(list((folder / erased).iterdir())))
        assert erased not in gallery


def test_a_stopped_run_resumes_with_every_photo_once(cluster, lfw, tmp_path, gallery_location):
    folder = _photos(lfw, tmp_path, 14)
    total = sum(1 for _ in folder.rglob("*.jpg"))

    def stop_after_two_batches(done: int, todo: int) -> None:
        if done >= 8:
            raise Stop

    with Gallery.open(gallery_location) as gallery:  # a directory, and a PostgreSQL database
        with pytest.raises(Stop):
            enroll_on_ray(gallery, folder, batch=4, progress=stop_after_two_batches)
        assert 8 <= gallery.stats().files_tracked < total
        _wait_for_free_cpus(2)  # the stopped run's actors are gone
        report = enroll_on_ray(gallery, folder, batch=4)
        assert report.unchanged >= 8 and report.added == total - report.unchanged - len(report.skipped)
        _each_photo_once(gallery, total, len(report.skipped))


def test_killed_actors_lose_and_duplicate_nothing(cluster, lfw, tmp_path, gallery_location):
    folder = _photos(lfw, tmp_path, 14)
    total = sum(1 for _ in folder.rglob("*.jpg"))
    before: set[int] = set()  # the actors, killed once the first batch is written
    later: set[int] = set()  # the actors seen after

    def kill_the_actors(done: int, todo: int) -> None:
        if before:
            later.update(_actor_pids())
        elif done:
            before.update(_actor_pids())
            assert before, "no actor process found"
            for pid in before:
                os.kill(pid, signal.SIGKILL)

    with Gallery.open(gallery_location) as gallery:
        report = enroll_on_ray(gallery, folder, batch=2, progress=kill_the_actors)
        assert later - before, "no actor was started again to finish the run"
        assert report.added + len(report.skipped) == total
        _each_photo_once(gallery, total, len(report.skipped))


def test_manifests_carry_identities_and_consent_per_row(cluster, lfw, tmp_path):
    folder = _photos(lfw, tmp_path, 3)
    a, b, c = (sorted(p.iterdir()) for p in sorted(folder.iterdir()))
    csv_file = tmp_path / "list.csv"
    lines = ["path,identity,consent_ref,purpose"]
    lines += [f"{p.relative_to(tmp_path)},Person A,form-A,door access" for p in a]
    lines += [f"{p.relative_to(tmp_path)},Person B,," for p in b] + ["gone.jpg,Person B,,"]
    csv_file.write_text("\n".join(lines) + "\n")
    with Gallery.open(tmp_path / "g", purpose="tests", legal_basis="consent") as gallery:
        report = enroll_on_ray(gallery, csv_file, consent_ref="run-ref")
        assert report.added == len(a) + len(b) and report.photos == len(a) + len(b) + 1
        assert report.skipped == ((str(tmp_path / "gone.jpg"), "cannot read the file"),)
        person_a, person_b = gallery.identity("Person A"), gallery.identity("Person B")
        assert (person_a.faces, person_a.consent.consent_ref, person_a.consent.purpose) == (len(a), "form-A",
                                                                                             "door access")
        assert (person_b.faces, person_b.consent.consent_ref, person_b.consent.purpose) == (len(b), "run-ref", "tests")

        parquet_file = tmp_path / "list.parquet"
        rows = [(str(p), "Person C", "form-C") for p in c] + [(str(p), "Person A", "form-A") for p in a]
        pq.write_table(pa.table({"path": [r[0] for r in rows], "identity": [r[1] for r in rows],
                                 "consent_ref": [r[2] for r in rows]}), parquet_file)
        report = enroll_on_ray(gallery, parquet_file)
        assert (report.added, report.unchanged) == (len(c), len(a))  # Person A's photos are already there
        assert gallery.identity("Person C").consent.consent_ref == "form-C"
        _each_photo_once(gallery, len(a) + len(b) + len(c), 0)


BAD_MANIFESTS = [
    ("m.csv", b"path,name\na.jpg,x\n", "missing column(s) identity"),
    ("m.csv", b"path,identity,notes\na.jpg,x,y\n", "unknown column(s) 'notes'"),
    ("m.csv", b"path,identity\na.jpg,  \n", "line 2: empty identity"),
    ("m.csv", b"path,identity\n,x\n", "line 2: empty path"),
    ("m.csv", b"path,identity\na.jpg,x,extra\n", "2 values expected"),
    ("m.csv", b"path,identity\na.jpg,x\nb.jpg,y\na.jpg,y\n", "'a.jpg' is listed again"),
    ("m.csv", b"path,identity,consent_ref\na.jpg,x,f1\nb.jpg,x,f2\n", "a person has one consent record"),
    ("m.csv", b"", "is empty"),
    ("m.csv", b"path,identity\n\xff\xfe.jpg,x\n", "is not UTF-8 text"),
    ("m.parquet", b"PAR1 not really", "is not a valid Parquet file"),
    ("m.parquet", None, "missing column(s) identity"),
    ("m.json", b"[]", "unknown file type '.json'"),
    ("absent.csv", False, "neither a folder of photos nor a manifest"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_MANIFESTS)
def test_bad_manifests_are_parameter_errors(tmp_path, name, content, message):
    manifest = tmp_path / name
    if content is None:
        pq.write_table(pa.table({"path": ["a.jpg"]}), manifest)
    elif content is not False:
        manifest.write_bytes(content)
    with Gallery.open(tmp_path / "g") as gallery:
        with pytest.raises(ParameterError) as caught:
            enroll_on_ray(gallery, manifest)
        assert message in str(caught.value)
        assert gallery.stats().files_tracked == 0


def test_bad_arguments_and_missing_consent_are_parameter_errors(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,identity,consent_ref\na.jpg,x,form-1\nb.jpg,y,\n")
    with Gallery.open(tmp_path / "g", require_consent=True) as gallery:
        with pytest.raises(ParameterError, match="requires a legal_basis or consent_ref"):
            enroll_on_ray(gallery, manifest)  # y has no consent reference
        for bad in ({"actors": 0}, {"batch": -1}, {"batch": True}, {"address": "ray://head:10001"}, {"address": 6379}):
            with pytest.raises(ParameterError):
                enroll_on_ray(gallery, manifest, legal_basis="consent", **bad)


def test_a_model_refused_on_the_workers_stops_with_a_model_error(cluster, lfw, tmp_path):
    folder = _photos(lfw, tmp_path, 2)
    set_licence_policy("commercial")  # the default recognizer's weights are for non-commercial use only
    try:
        with Gallery.open(tmp_path / "g") as gallery, pytest.raises(ModelError, match="licen"):
            enroll_on_ray(gallery, folder)
    finally:
        set_licence_policy(None)
    with Gallery.open(tmp_path / "g") as gallery:
        assert gallery.stats().files_tracked == 0


def test_command_line(cluster, lfw, tmp_path):
    folder = _photos(lfw, tmp_path, 4)
    store = tmp_path / "g"
    auth = {"RAY_AUTH_MODE": "token"}  # the test's Ray asks for the token in ~/.ray/auth_token
    out = _cli("enroll", str(folder), "--db", str(store), "--ray", cluster, "--json", env=auth)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    with Gallery.open(tmp_path / "sync") as gallery:
        shape = gallery.sync_folder(folder).to_dict()
    assert set(report) == set(shape) | {"nodes"} and report["files"] == shape["files"]
    assert report["added"] == shape["added"] and [n["photos"] for n in report["nodes"]] == [report["photos"]]
    assert "Traceback" not in out.stderr

    again = _cli("enroll", str(folder), "--db", str(store), "--ray")  # all there: no Ray started
    assert again.returncode == 0 and "0 enrolled" in again.stdout
    missing = _cli("enroll", str(tmp_path / "absent"), "--db", str(store), "--ray", "--json")
    assert missing.returncode == 2 and json.loads(missing.stdout)["error"] == "bad_parameter"
    (folder / "new").mkdir()
    shutil.copy(next(folder.rglob("*.jpg")), folder / "new" / "1.jpg")
    refused = _cli("enroll", str(folder), "--db", str(store), "--ray", "127.0.0.1:1", "--json")
    assert refused.returncode == ClusterError.exit_code == 10
    assert json.loads(refused.stdout)["error"] == "cluster_error" and "Traceback" not in refused.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``ray start ... --block`` in its own process group; returns once the
    node is up."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    deadline = time.time() + 120
    while b"Ray runtime started" not in log.read_bytes():
        assert proc.poll() is None and time.time() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    return proc


def _stop_node(proc: subprocess.Popen) -> None:
    """Stop a node started by :func:`_start_node`, with the processes it started."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_two_nodes_share_the_work(lfw, tmp_path):
    folder = _photos(lfw, tmp_path, 35)  # 69 photos: three batches for two actors
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),  # this cluster's own
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # stop at once
    ray_cli = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(_start_node([ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false",
                                  f"--temp-dir={temp}", *common], env, tmp_path / "head.log"))
        nodes.append(_start_node([ray_cli, "start", f"--address=127.0.0.1:{port}", *common], env,
                                 tmp_path / "worker.log"))
        out = _cli("enroll", str(folder), "--db", str(tmp_path / "g"), "--ray", f"127.0.0.1:{port}", "--json",
                   env=env)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["added"] + len(report["skipped"]) == report["photos"] > 20
        work = [n["photos"] for n in report["nodes"]]
        assert len(work) == 2 and min(work) > 0 and sum(work) == report["photos"]  # both nodes read photos
    finally:
        for node in reversed(nodes):
            _stop_node(node)
        shutil.rmtree(temp, ignore_errors=True)
    with Gallery.open(tmp_path / "g") as gallery:
        _each_photo_once(gallery, report["photos"], len(report["skipped"]))
