"""Video: frame sources and their errors, the tracker, per-track
identification and events, on a synthetic clip whose truth is known."""

from __future__ import annotations

import gc
import io
import itertools
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import absent

from prosopo.errors import ImageError, ModelError, ParameterError
from prosopo.gallery import Gallery
from prosopo.streams import stream as stream_module
from prosopo.streams.assign import assign, assign_allowed
from prosopo.streams.events import JsonLinesWriter, read_events
from prosopo.streams.metrics import tracking_scores
from prosopo.streams.sources import ReadAhead, _bounded, open_source
from prosopo.streams.stream import video
from prosopo.streams.tracker import Tracker
from prosopo.streams.writer import VideoWriter
from prosopo.types import Box, Face

CROWD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video" / "crowd.mp4"


@pytest.fixture(scope="module")
def run(clip, clip_gallery):
    """The clip through video() with the gallery: frames and events."""
    events: list[dict] = []
    buffer = io.StringIO()
    writer = JsonLinesWriter(buffer)
    with Gallery.open(clip_gallery) as g:
        stream = video(clip.frames, g, fps=clip.fps, on_event=lambda e: (events.append(e), writer(e)))
        frames = list(stream)
    return frames, events, stream, buffer.getvalue()


def test_clip_has_the_hard_parts(clip):
    """Crossing with occlusion, leaving and coming back: the truth shows them."""
    seen = [{name for name, _, _ in objects} for objects in clip.truth]
    behind, leaver = clip.people[1], clip.people[2]
    assert len(clip.frames) == 100 and clip.frames[0].shape == (360, 640, 3)
    hidden = [k for k, names in enumerate(seen) if behind not in names]
    assert hidden and 0 < min(hidden) and max(hidden) < 99  # hidden in the middle, behind the other
    away = [k for k, names in enumerate(seen) if leaver not in names]
    assert len(away) >= 20 and min(away) > 0 and max(away) < 99  # leaves, then comes back


def test_tracking_on_synthetic_clip(run, clip):
    frames, _, _, _ = run
    hyps = [[(t.track_id, t.box) for t in f.tracks if t.detected] for f in frames]
    scores = tracking_scores(clip.truth, hyps)
    print("synthetic clip:", scores.to_dict())  # measured: IDF1 0.993, MOTA 0.987, 0 switches
    assert scores.idf1 >= 0.9
    assert scores.mota >= 0.9
    assert scores.id_switches * 10 <= scores.true_ids  # at most 1 switch per 10 tracks
    assert scores.track_ids == scores.true_ids  # the one who left and came back kept the id


def test_identification_latency_and_no_wrong_name(run, clip):
    frames, _, _, _ = run
    truth_at = {f.index: objects for f, objects in zip(frames, clip.truth)}
    first_seen: dict[int, float] = {}
    named: dict[int, float] = {}
    person_of: dict[int, str] = {}
    for f in frames:
        for t in f.tracks:
            first_seen.setdefault(t.track_id, f.timestamp)
            if not t.detected:
                continue
            match = [name for name, box, _ in truth_at[f.index] if box.iou(t.box) >= 0.5]
            if match:
                person_of.setdefault(t.track_id, match[0])
            if t.identity is not None:
                named.setdefault(t.track_id, f.timestamp)
                assert match and t.identity == match[0], f"frame {f.index}: track {t.track_id} named {t.identity}"
                assert 0 < t.confidence <= 1
    enrolled, stranger = set(clip.people[:3]), clip.people[3]
    for track, person in person_of.items():
        if person in enrolled:
            assert track in named, f"{person} (track {track}) never named"
            assert named[track] - first_seen[track] <= 0.3
        else:
            assert person == stranger and track not in named
    assert enrolled <= set(person_of.values())


def test_events_in_order(run, tmp_path):
    frames, events, stream, jsonl = run
    kinds = [e["event"] for e in events]
    assert set(kinds) <= {"track_started", "identified", "track_ended"}
    assert [json.loads(line) for line in jsonl.splitlines()] == events
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    started, ended = set(), set()
    for e in events:
        if e["event"] == "track_started":
            started.add(e["track"])
        elif e["event"] == "identified":
            assert e["track"] in started and e["track"] not in ended and e["identity"]
        else:
            assert e["track"] in started
            ended.add(e["track"])
            assert e["first_timestamp"] <= e["last_timestamp"]
            assert e["best_shot"]["box"] and e["best_shot"]["quality"] > 0 and e["views"] >= 1
    assert started == ended == {t.track_id for f in frames for t in f.tracks}
    assert stream.final_events and all(e["event"] == "track_ended" for e in stream.final_events)
    path = tmp_path / "events.jsonl"
    with JsonLinesWriter(path) as writer:
        for e in events:
            writer(e)
    assert read_events(path) == events


def test_detecting_every_third_frame_keeps_tracks(clip):
    stream = video(clip.frames[:40], fps=clip.fps, every=3, follow=False, reid=False)
    frames = list(stream)
    assert [f.detected for f in frames[:4]] == [True, False, False, True]
    assert stream.stats.detections == 14
    ids = {t.track_id for f in frames[5:] for t in f.tracks}
    assert any(not t.detected for f in frames for t in f.tracks)  # predicted between detections
    assert len(ids) == len({name for objects in clip.truth[5:40] for name, _, _ in objects})


def _covered(frames, truth) -> tuple[int, int]:
    """Truth boxes (not ignored) that a track's box covers at IoU >= 0.5, and all of them."""
    hit = total = 0
    for f, objects in zip(frames, truth):
        for _, box, ignore in objects:
            if not ignore:
                total += 1
                hit += any(box.iou(t.box) >= 0.5 for t in f.tracks)
    return hit, total


def test_following_near_the_tracks_between_detections(clip):
    """every=3: between whole-frame detections the detector looks near each
    track (follow, the default); the faces stay covered, where the
    tracker's predictions alone drift (measured: 5 and 15 of 318 missed)."""
    runs = {}
    for follow in (True, False):
        stream = video(clip.frames, fps=clip.fps, every=3, follow=follow, reid=False)
        runs[follow] = (list(stream), stream.stats)
    frames, stats = runs[True]
    assert [f.detected for f in frames[:4]] == [True, False, False, True]
    assert stats.detections == 34 and 50 <= stats.followed <= 66
    assert stats.to_dict()["followed"] == stats.followed
    assert runs[False][1].followed == 0
    assert sum(t.detected for f in frames if not f.detected for t in f.tracks) > 100  # found between
    hit, total = _covered(frames, clip.truth)
    coasting, _ = _covered(runs[False][0], clip.truth)
    assert hit >= 0.95 * total and hit > coasting, (hit, coasting, total)
    with pytest.raises(ParameterError, match="follow"):
        video(clip.frames[:2], follow="yes")


def test_too_many_tracks_to_follow_detects_the_whole_frame(clip, monkeypatch):
    import prosopo.streams.stream as stream_module

    monkeypatch.setattr(stream_module, "MAX_TILES", 1)  # the clip has up to 4 faces at once
    stream = video(clip.frames, fps=clip.fps, every=3, reid=False)
    frames = list(stream)
    assert stream.stats.detections > 34 and stream.stats.detections + stream.stats.followed <= 100
    assert sum(f.detected for f in frames) == stream.stats.detections


def test_detect_near_finds_the_faces_where_expected(clip):
    from prosopo.detectors import DETECTORS
    from prosopo.frontend import detect
    from prosopo.streams.follow import detect_near

    backend = DETECTORS.get("scrfd")
    frame = clip.frames[30]
    whole = detect(backend, frame)
    assert len(whole) >= 2
    # the boxes a frame earlier, shifted a few pixels: each face is found again, closely
    expected = [Box(f.box.x + 4, f.box.y - 3, f.box.w, f.box.h) for f in whole]
    near = detect_near(backend, frame, expected)
    for f in whole:
        best = max(near, key=lambda g: g.box.iou(f.box))
        assert best.box.iou(f.box) > 0.8 and best.landmarks is not None
        assert max(math.dist(a, b) for a, b in zip(best.landmarks, f.landmarks)) < 0.1 * f.box.w
    assert detect_near(backend, frame, []) == []
    # a window that left the frame, or lies on its edge, is looked at without error
    outside = [Box(-500, -500, 40, 40), Box(630, 350, 40, 40), Box(-20, 100, 60, 60)]
    assert detect_near(backend, frame, outside) == []


def test_tracker_survives_a_short_occlusion():
    tracker = Tracker(min_hits=2, max_missed=5)
    ids = []
    for k in range(20):
        box = Box(10.0 + 4 * k, 50.0, 40.0, 40.0)
        alive, _ = tracker.step([] if 8 <= k < 12 else [Face(box, 0.9)])
        ids.append(tuple(t.id for t in alive))
    assert ids[1] == (1,) and all(i == (1,) for i in ids[1:])  # confirmed after 2 hits, kept through 4 misses
    assert abs(tracker.tracks[0].box.x - (10 + 4 * 19)) < 3


def test_only_a_track_with_an_embedding_is_kept_to_come_back():
    """A lost track without an embedding could never be recognised again:
    the tracker does not keep it (a crowd's short false tracks piled up)."""
    tracker = Tracker(min_hits=1, max_missed=0)
    look = np.eye(8)[0]
    tracker.step([Face(Box(10.0, 10.0, 40.0, 40.0), 0.9), Face(Box(200.0, 10.0, 40.0, 40.0), 0.9)], [look, None])
    _, ended = tracker.step([])
    assert sorted(t.id for t in ended) == [1, 2] and [t.id for t in tracker.lost] == [1]
    alive, _ = tracker.step([Face(Box(400.0, 10.0, 40.0, 40.0), 0.9)])
    assert tracker.add_embedding(alive[0], look) is not None and alive[0].id == 1


@pytest.mark.parametrize("small", [80, 0], ids=["lists", "numpy"])
def test_assign_is_optimal(small, monkeypatch):
    from prosopo.streams import assign as module

    monkeypatch.setattr(module, "SMALL", small)
    rng = np.random.default_rng(1)
    for _ in range(100):
        n, m = (int(v) for v in rng.integers(1, 6, 2))
        cost = rng.random((n, m))
        pairs = assign(cost)
        best = min(sum(cost[i, j] for i, j in zip(rows, cols))
                   for rows in itertools.permutations(range(n), min(n, m))
                   for cols in itertools.permutations(range(m), min(n, m)))
        assert len(pairs) == min(n, m)
        assert abs(sum(cost[i, j] for i, j in pairs) - best) < 1e-9


def test_assign_gives_the_same_pairs_on_lists_and_on_arrays(monkeypatch):
    """Small matrices are solved on Python lists, large ones with numpy:
    the same steps, so the same pairs, ties included."""
    from prosopo.streams import assign as module

    rng = np.random.default_rng(3)
    for _ in range(60):
        n, m = (int(v) for v in rng.integers(1, 30, 2))
        cost = rng.integers(0, 4, (n, m)).astype(float) if rng.random() < 0.5 else rng.normal(size=(n, m))
        monkeypatch.setattr(module, "SMALL", 10**6)
        on_lists = assign(cost)
        monkeypatch.setattr(module, "SMALL", 0)
        assert assign(cost) == on_lists
    for bad in (np.inf, np.nan):  # the method would never end on them
        with pytest.raises(ValueError, match="finite"):
            assign(np.array([[0.0, bad], [0.0, bad]]))


def test_assign_allowed_finds_the_most_allowed_pairs_at_the_least_cost():
    """Solved group by group, against every matching of allowed pairs."""
    rng = np.random.default_rng(2)
    for _ in range(300):
        n, m = (int(v) for v in rng.integers(0, 6, 2))
        cost = rng.normal(size=(n, m))
        allowed = rng.random((n, m)) < rng.random()
        pairs = assign_allowed(cost, allowed)
        assert all(allowed[i, j] for i, j in pairs)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
        best: tuple[int, float] = (0, 0.0)  # most pairs, then least cost
        for k in range(1, min(n, m) + 1):
            for rows in itertools.combinations(range(n), k):
                for cols in itertools.permutations(range(m), k):
                    if all(allowed[i, j] for i, j in zip(rows, cols)):
                        total = float(sum(cost[i, j] for i, j in zip(rows, cols)))
                        best = min(best, (-k, total)) if best[0] else (-k, total)
        assert len(pairs) == -best[0]
        assert abs(sum(cost[i, j] for i, j in pairs) - best[1]) < 1e-9
    with pytest.raises(ValueError):
        assign_allowed(np.zeros((2, 3)), np.ones((3, 2), bool))


# -- bad input ------------------------------------------------------------------


def test_nonexistent_file(tmp_path):
    with pytest.raises(ImageError, match="no such video file"):
        video(tmp_path / "missing.mp4")


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    with pytest.raises(ImageError, match="notes.mp4"):
        list(video(fake))


def test_text_file_is_not_read_as_frames_of_text(tmp_path):
    # FFmpeg opens a .txt file as video (its tty demuxer draws the text)
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a video\n" * 200)
    with pytest.raises(ImageError, match="notes.txt: not a video"):
        video(notes)


def test_truncated_video_ends_or_fails_cleanly(tmp_path):
    if not CROWD.is_file():
        pytest.skip(f"{CROWD} is absent")
    data = CROWD.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    started = time.monotonic()
    try:
        frames = sum(1 for _ in open_source(cut))
    except ImageError as exc:
        assert "cut.mp4" in str(exc)
    else:
        assert frames < 105
    assert time.monotonic() - started < 30


def _mjpg(tmp_path: Path, count: int = 20) -> tuple[bytes, list[int]]:
    """The bytes of an MJPG .avi of ``count`` frames (a gradient and a
    moving square; no face needed), and where each frame's JPEG starts
    (its SOI marker); the file is ``clip.avi`` in ``tmp_path``."""
    from prosopo.streams import VideoWriter

    yy, xx = np.mgrid[0:96, 0:128]
    path = tmp_path / "clip.avi"
    with VideoWriter(path, 25) as out:
        for k in range(count):
            frame = np.stack([xx * 2, yy * 2, np.full_like(xx, 10 * k)], 2).astype(np.uint8)
            frame[30:60, 4 * k:4 * k + 30] = 255
            out.write(frame)
    data = path.read_bytes()
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(starts) == count
    assert len(list(video(path, reid=False))) == count  # whole, every frame reads
    return data, starts


def test_corrupt_frame_inside_a_video_file_is_skipped(tmp_path):
    data, starts = _mjpg(tmp_path)
    # frame 10's JPEG (SOI to EOI) overwritten: no picture left in it
    end = data.rindex(b"\xff\xd9", starts[10], starts[11]) + 2
    broken = tmp_path / "broken.avi"
    broken.write_bytes(data[:starts[10]] + bytes(end - starts[10]) + data[end:])
    stream = video(broken, reid=False)
    results = list(stream)
    assert [r.index for r in results] == [i for i in range(20) if i != 10]  # on to the end
    assert stream.stats.skipped == [(10, "undecodable frame")] and stream.stats.frames == 20
    assert results[-1].timestamp == pytest.approx(19 / 25)


def test_truncated_video_file(tmp_path):
    data, starts = _mjpg(tmp_path)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:starts[8]])  # the header announces 20 frames; 8 are there
    stream = video(cut, reid=False)
    started = time.monotonic()
    results = list(stream)
    assert [r.index for r in results] == list(range(8))
    assert [i for i, _ in stream.stats.skipped] == list(range(8, 20))  # the missing ones, reported
    assert time.monotonic() - started < 10
    header_only = tmp_path / "header.avi"
    header_only.write_bytes(data[:starts[0]])
    with pytest.raises(ImageError, match="header.avi"):
        list(video(header_only))


def test_video_file_without_frames(tmp_path):
    import cv2

    empty = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter.fourcc(*"MJPG"), 25, (64, 48)).release()
    assert empty.stat().st_size > 0  # a header, no frame
    with pytest.raises(ImageError, match="no frame could be read"):
        list(video(empty))


def test_zero_frames():
    with pytest.raises(ImageError, match="no frame"):
        list(video([]))


def test_bad_frame_in_iterable_is_skipped_and_reported(clip):
    frames = list(clip.frames[:6])
    frames[2] = np.zeros((360, 640), dtype=np.float64) + 7  # wrong shape and values
    frames[4] = "not a frame"
    stream = video(frames, reid=False)
    results = list(stream)
    assert [r.index for r in results] == [0, 1, 3, 5]
    assert [i for i, _ in stream.stats.skipped] == [2, 4]
    assert "expected" in stream.stats.skipped[0][1] and stream.stats.frames == 6


def test_all_frames_bad():
    with pytest.raises(ImageError, match="none of the 2 frames"):
        list(video([np.zeros((4, 4)), np.zeros((4, 4))]))


def test_bgr_frames(clip):
    rgb = next(iter(video(clip.frames[:3], reid=False)))
    bgr = next(iter(video([f[:, :, ::-1] for f in clip.frames[:3]], bgr=True, reid=False)))
    assert rgb == bgr


def test_url_needs_allow_urls():
    for url in ("rtsp://127.0.0.1:1/stream", "http://127.0.0.1:1/video.mjpg"):
        with pytest.raises(ParameterError, match="allow_urls=True"):
            video(url)
    with pytest.raises(ParameterError, match="URL scheme"):
        video("ftp://example.invalid/a.mp4")


def test_missing_camera_fails_quickly():
    started = time.monotonic()
    with pytest.raises(ImageError, match="camera 9"):
        video(9, read_timeout=3)
    assert time.monotonic() - started < 5


def test_stalled_read_is_bounded():
    started = time.monotonic()
    with pytest.raises(ImageError, match="within 0.2 s"):
        _bounded(lambda: time.sleep(5), 0.2, "reading camera 0")
    assert time.monotonic() - started < 1


def test_frame_too_large():
    from prosopo.image import get_limits, set_limits

    before = get_limits().max_pixels
    set_limits(max_pixels=10_000)
    try:
        stream = video([np.zeros((360, 640, 3), np.uint8)] * 2)
        with pytest.raises(ImageError, match="none of the 2 frames"):
            list(stream)
        assert "too large" in stream.stats.skipped[0][1]
    finally:
        set_limits(max_pixels=before)


@pytest.mark.parametrize("bad", [{"every": 0}, {"max_faces": 0}, {"read_timeout": 0}, {"fps": -1},
                                 {"min_hits": 0}])
def test_bad_parameters(bad):
    with pytest.raises(ParameterError):
        video([np.zeros((32, 32, 3), np.uint8)], **bad)


def test_file_detected_ahead_tracks_alike(clip, tmp_path):
    """A file's frames are detected ahead of the tracking, two at a time by
    its reader's threads: the same results as the same frames given one by
    one."""
    path = tmp_path / "clip.avi"
    with VideoWriter(path, clip.fps) as writer:
        for frame in clip.frames:
            writer.write(frame)
    decoded = [raw.rgb for raw in open_source(path)]
    from_file = [r.to_dict() for r in video(path, reid=False)]
    given = [r.to_dict() for r in video(decoded, fps=clip.fps, reid=False)]
    assert from_file == given
    assert sum(len(r["tracks"]) for r in given) > 100


def test_detector_error_in_the_readers_pool_reaches_the_caller(clip, tmp_path, monkeypatch):
    path = tmp_path / "clip.avi"
    with VideoWriter(path, clip.fps) as writer:
        for frame in clip.frames[:10]:
            writer.write(frame)

    threads = []

    def broken(*args, **kwargs):
        threads.append(threading.current_thread().name)
        raise ModelError("the detector broke")

    monkeypatch.setattr(stream_module, "detect_whole", broken)
    before = set(threading.enumerate())
    with pytest.raises(ModelError, match="the detector broke"):
        list(video(path, reid=False))
    # detected in the reader's pool (frames ahead may have failed too), which ends with the error
    assert threads and all(name.startswith("prosopo-video-work") for name in threads)
    assert not [t.name for t in set(threading.enumerate()) - before if t.name.startswith("prosopo-video-")]


def test_abandoned_file_stream_stops_its_reading_thread(clip, tmp_path):
    """Iterating a file and leaving the loop without closing the stream:
    once the stream is collected, its reading thread ends."""
    path = tmp_path / "clip.avi"
    with VideoWriter(path, clip.fps) as writer:
        for frame in clip.frames[:30]:
            writer.write(frame)

    before = set(threading.enumerate())
    for _ in video(path, reid=False):
        break
    ours = [t for t in threading.enumerate() if t not in before and t.name.startswith("prosopo-video-")]
    names = [t.name for t in ours]  # the reader, and the detecting pool's threads it has started so far
    assert names.count("prosopo-video-read-ahead") == 1
    assert all(n.startswith("prosopo-video-work_") for n in names if n != "prosopo-video-read-ahead")
    gc.collect()
    for thread in ours:
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_crowd_smoke():
    if not CROWD.is_file():
        absent(f"{CROWD} is absent (see ../shared/data/README.md)")
    stream = video(CROWD, every=2)
    results = list(itertools.islice(stream, 24))
    stream.close()
    assert results[0].timestamp == 0 and results[1].timestamp == pytest.approx(1 / 25)
    assert max(len(r.tracks) for r in results) > 0
    assert all(t.box.w > 0 for r in results for t in r.tracks)


def test_command_line(clip, clip_gallery, tmp_path):
    import subprocess
    import sys

    import cv2

    path = tmp_path / "clip.avi"  # OpenCV's wheel writes MJPG (not H.264)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), clip.fps,
                             (clip.frames[0].shape[1], clip.frames[0].shape[0]))
    for frame in clip.frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()

    def prosopo_video(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "prosopo.cli", "video", *args], capture_output=True, text=True,
                              timeout=300, check=False, stdin=subprocess.DEVNULL)

    done = prosopo_video(str(path), "--gallery", str(clip_gallery), "--events", str(tmp_path / "ev.jsonl"), "--json")
    assert done.returncode == 0, done.stderr
    named = {t["identity"] for t in json.loads(done.stdout)["tracks"]} - {None}
    assert named == set(clip.people[:3])
    kinds = [e["event"] for e in read_events(tmp_path / "ev.jsonl")]
    assert kinds[0] == "track_started" and "identified" in kinds and "track_ended" in kinds
    for flag, followed in (("--follow", True), ("--no-follow", False)):
        done = prosopo_video(str(path), "--every", "3", flag, "--json")
        assert done.returncode == 0, done.stderr
        stats = json.loads(done.stdout)["stats"]
        assert stats["detections"] == 34 and (stats["followed"] > 0) == followed
    for args, code in ((("--camera", "97"), 3), ((), 2), (("rtsp://127.0.0.1/x",), 2), ((str(tmp_path),), 3)):
        bad = prosopo_video(*args, "--read-timeout", "2")
        assert bad.returncode == code and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr, args
    assert "--allow-urls" in prosopo_video("rtsp://127.0.0.1/x").stderr


def test_read_ahead_keeps_the_order_of_work_done_in_parallel(clip, tmp_path):
    """Frames worked on three at a time, the later ones often finishing
    first, come out in order, each with its own result."""
    path = tmp_path / "clip.avi"
    with VideoWriter(path, clip.fps) as writer:
        for frame in clip.frames[:20]:
            writer.write(frame)

    def work(rgb):
        time.sleep(float(rgb[0, 0, 0]) % 7 / 1000)  # a few milliseconds, differing between frames
        return float(rgb.mean())

    reader = ReadAhead(open_source(path), work=work, workers=3)
    frames = list(reader)
    assert [raw.index for raw in frames] == list(range(20))
    assert all(raw.ahead == float(raw.rgb.mean()) for raw in frames)
    with pytest.raises(ParameterError):
        ReadAhead(open_source(path), work=work, workers=0)
