"""Video output: files written per codec, annotated video, contact sheets,
attributes per track, and anonymised video (masks carried by the tracker)
on the synthetic clip whose truth is known."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import prosopo
from prosopo.errors import ParameterError
from prosopo.gallery import Gallery
from prosopo.streams import (
    CODECS,
    VideoWriter,
    annotate,
    anonymize_video,
    contact_sheet,
    video,
    write_annotated,
    write_sheet,
)
from prosopo.streams.annotate import DETECTED, PREDICTED
from prosopo.streams.sheet import THUMB


def read_back(path: Path) -> tuple[list[np.ndarray], float]:
    """The RGB frames of a video file and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[:, :, ::-1])
    cap.release()
    return frames, fps


def moving_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """Frames with a smooth gradient and a moving square (no faces needed)."""
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for k in range(n):
        f = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 40 + 10 * k)], 2).astype(np.uint8)
        f[20:50, 10 + 8 * k:40 + 8 * k] = 255
        out.append(f)
    return out


def write_mjpg(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    with VideoWriter(path, fps) as out:
        for f in frames:
            out.write(f)
    return path


# -- writing files ---------------------------------------------------------------


@pytest.mark.parametrize("ext", sorted(CODECS))
def test_each_codec_writes_and_reads_back(ext, tmp_path):
    frames = moving_frames(12, 160, 96)
    path = tmp_path / f"out{ext}"
    with VideoWriter(path, 12.5) as out:
        for f in frames:
            out.write(f)
    back, fps = read_back(path)
    assert len(back) == 12 and fps == pytest.approx(12.5)
    assert back[0].shape == (96, 160, 3)
    errors = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(back, frames)]
    assert max(errors) < 8, errors  # the same pictures, up to compression
    assert errors[5] < np.abs(back[5].astype(int) - frames[0]).mean()  # and in order


def test_odd_size_is_padded_and_skipped_frames_repeated(tmp_path):
    frames = moving_frames(4, 161, 97)
    with VideoWriter(tmp_path / "odd.avi", 25) as out:
        for index in (0, 1, 3):  # frame 2 could not be decoded
            out.write(frames[index], index)
    assert out.frames == 4 and out.size == (161, 97)
    back, _ = read_back(tmp_path / "odd.avi")
    assert len(back) == 4 and back[0].shape == (98, 162, 3)
    assert np.abs(back[2].astype(int) - back[1]).mean() < 1  # the one before, repeated
    assert np.abs(back[3][:97, :161].astype(int) - frames[3]).mean() < 8


def test_writer_after_close_dropped_and_leading_gaps(tmp_path):
    frames = moving_frames(6, 160, 96)
    path = write_mjpg(frames, tmp_path / "a.avi", 25)
    closed = VideoWriter(path, 25)
    closed.close()
    with pytest.raises(ParameterError, match="closed"):
        closed.write(frames[0])  # would have opened the file again, empty
    assert len(read_back(path)[0]) == 6  # the file written before is left whole
    # a writer dropped without close() still ends its thread and finishes its file
    dropped = VideoWriter(tmp_path / "dropped.mp4", 25)
    for f in frames:
        dropped.write(f)
    del dropped
    gc.collect()
    for _ in range(50):
        if _threads("prosopo-video-write") == 0:
            break
        time.sleep(0.05)
    assert _threads("prosopo-video-write") == 0
    assert len(read_back(tmp_path / "dropped.mp4")[0]) == 6
    # frames missing before the first: the first stands in for them, so timing holds
    with VideoWriter(tmp_path / "late.avi", 25) as out:
        out.write(frames[2], 2)
        out.write(frames[3], 3)
    assert out.frames == 4 and len(read_back(tmp_path / "late.avi")[0]) == 4


def test_writer_overlay_draws_in_its_thread(tmp_path):
    frames = moving_frames(4, 160, 96)
    originals = [f.copy() for f in frames]
    frames = [f.copy() for f in frames]

    def mark(bgr):  # a red square, drawn on the BGR copy
        bgr[60:90, 100:150] = (0, 0, 255)

    with VideoWriter(tmp_path / "o.avi", 25) as out:
        for f in frames:
            out.write(f, overlay=mark)
            f[:] = 0  # the caller may reuse its buffer at once: the writer has its own copy
    back, _ = read_back(tmp_path / "o.avi")
    assert len(back) == 4
    assert all(np.abs(b[:50].astype(int) - o[:50]).mean() < 8 for b, o in zip(back, originals))
    assert all(np.abs(b[65:85, 105:145].astype(int) - (255, 0, 0)).mean() < 20 for b in back)

    def broken(bgr):
        raise ValueError("drawing failed")

    failing = VideoWriter(tmp_path / "f.avi", 25)
    failing.write(originals[0], overlay=broken)
    with pytest.raises(ParameterError, match="drawing failed"):
        for f in originals * 5:  # reported by a later write, or by close
            failing.write(f)
        failing.close()


def _threads(name: str) -> int:
    """Threads whose name starts with ``name``."""
    import threading

    return sum(t.name.startswith(name) for t in threading.enumerate())


def test_file_reader_and_writer_threads_end(tmp_path):
    """A file is decoded ahead and encoded behind, in threads: every frame
    arrives once, in order, and the threads end with the stream (also one
    closed early) and with the writer."""
    frames = moving_frames(30, 160, 96)
    path = write_mjpg(frames, tmp_path / "in.avi", 25)
    assert _threads("prosopo-video-write") == 0
    with prosopo.video(path, keep_frames=True) as stream:
        indices = [r.index for r in stream]
        assert indices == list(range(30)) and stream.stats.frames == 30
    assert _threads("prosopo-video-") == 0  # the reader, its detecting pool and the writer
    stream = prosopo.video(path)
    assert next(stream).index == 0 and next(stream).index == 1
    stream.close()
    assert _threads("prosopo-video-") == 0
    assert list(stream) == []


def test_bad_output_paths(tmp_path):
    with pytest.raises(ParameterError, match=r"\.mp4 \(mp4v\), \.avi \(MJPG\), \.webm \(VP80\)"):
        VideoWriter(tmp_path / "out.mkv", 25)
    with pytest.raises(ParameterError, match="no such folder"):
        VideoWriter(tmp_path / "missing" / "out.mp4", 25)
    with pytest.raises(ParameterError, match="fps"):
        VideoWriter(tmp_path / "out.mp4", 0)
    out = VideoWriter(tmp_path / "out.avi", 25)
    out.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ParameterError, match="32x32"):
        out.write(np.zeros((32, 48, 3), np.uint8))
    out.close()


# -- annotated video and contact sheet -------------------------------------------------


def test_annotated_video_on_clip(clip, clip_gallery, tmp_path):
    """Every frame read is written (also those the detector skipped, with
    predicted boxes), at the source's rate and size, with names drawn."""
    with Gallery.open(clip_gallery) as g:
        stream = video(clip.frames, g, fps=clip.fps, every=2, follow=False, keep_frames=True)
        results = list(stream)
    drawn = [annotate(r) for r in results]
    assert len(results) == 100 and all(r.frame is not None for r in results)
    predicted = [(r, d) for r, d in zip(results, drawn) if any(not t.detected for t in r.tracks)]
    assert predicted and not predicted[0][0].detected  # frames without detection have boxes too
    on_box = boxes = 0
    for r, d in zip(results, drawn):
        assert np.array_equal(r.frame, clip.frames[r.index])  # annotate draws on a copy
        for t in r.tracks:
            x, y = round(t.box.x), round(t.box.y)
            if x < 0 or y < 0 or x + t.box.w >= 640 or y + t.box.h >= 360:
                continue
            boxes += 1  # the box's top edge, in its colour (unless another track's label covers it)
            on_box += tuple(d[y, x + 2]) == (DETECTED if t.detected else PREDICTED)
    assert boxes > 200 and on_box / boxes >= 0.95, (on_box, boxes)
    named = {t.identity for r in results for t in r.tracks} - {None}
    assert named == set(clip.people[:3])

    # the same through write_annotated, to a file
    with Gallery.open(clip_gallery) as g:
        writer = write_annotated(video(clip.frames, g, fps=clip.fps, every=2, follow=False, keep_frames=True),
                                 tmp_path / "a.mp4")
    back, fps = read_back(tmp_path / "a.mp4")
    assert writer.frames == len(back) == 100 and fps == pytest.approx(clip.fps)
    assert back[0].shape == clip.frames[0].shape
    errors = [float(np.abs(b.astype(int) - d).mean()) for b, d in zip(back, drawn)]
    assert max(errors) < 8  # the annotated frames, in order
    with pytest.raises(ParameterError, match="keep_frames"):
        write_annotated(video(clip.frames[:3]), tmp_path / "b.mp4")


def test_contact_sheet_one_best_shot_per_track(clip, clip_gallery, identification, tmp_path):
    with Gallery.open(clip_gallery) as g:
        stream = video(clip.frames, g, fps=clip.fps, best_shots=True)
        results = list(stream)
    shots = stream.best_shots
    ids = {t.track_id for r in results for t in r.tracks}
    assert [s.track_id for s in shots] == sorted(ids)
    for s in shots:
        assert s.image.shape == (THUMB, THUMB, 3) and s.quality > 0
        # the thumbnail is the face of the person the track was named after
        if s.identity is not None:
            assert prosopo.verify(s.image, identification[s.identity][3]).verified, s.track_id
    assert {s.identity for s in shots} == set(clip.people[:3]) | {None}
    sheet = write_sheet(shots, tmp_path / "sheet.png")
    assert sheet.shape[1] == THUMB * len(shots) and (tmp_path / "sheet.png").is_file()
    assert np.array_equal(cv2.imread(str(tmp_path / "sheet.png"))[:, :, ::-1], sheet)
    assert np.array_equal(sheet[:THUMB, :THUMB], shots[0].image)
    assert contact_sheet([]).shape[1] == THUMB  # no track: one empty cell
    assert video(clip.frames[:2]).best_shots == []  # off by default


# -- attributes per track ------------------------------------------------------------


def test_attributes_per_track_on_best_view(clip, identification):
    events: list[dict] = []
    stream = video(clip.frames, fps=clip.fps, actions="age,gender", reid=False, on_event=events.append)
    results = list(stream)
    computed = [e for e in events if e["event"] == "attributes"]
    tracks = {t.track_id for r in results for t in r.tracks}
    assert {e["track"] for e in computed} == tracks
    # once per best view, not every frame
    frames_seen = sum(len(r.tracks) for r in results)
    assert len(computed) <= 6 * len(tracks) < frames_seen
    ended = {e["track"]: e for e in events if e["event"] == "track_ended"}
    for e in computed:
        assert set(e["attributes"]) >= {"age", "age_range", "gender", "dominant_gender", "reliable"}
        assert "emotion" not in e["attributes"] and "box" not in e["attributes"]
    last = {e["track"]: e["attributes"] for e in computed}
    assert all(ended[k]["attributes"] == v for k, v in last.items())
    # the same estimates as prosopo.analyze on the person's photograph
    truth = {name: prosopo.analyze(identification[name][0], actions=("gender",))[0].dominant_gender
             for name in clip.people}
    agree = total = 0
    for r, objects in zip(results, clip.truth):
        for t in r.tracks:
            match = [name for name, box, _ in objects if t.detected and box.iou(t.box) >= 0.5]
            if match and t.attributes:
                total += 1
                agree += t.attributes["dominant_gender"] == truth[match[0]]
    assert total > 200 and agree / total >= 0.9, (agree, total)


def test_unknown_action_is_refused():
    with pytest.raises(ParameterError, match="unknown action"):
        video([np.zeros((32, 32, 3), np.uint8)], actions="age,shoe_size")


# -- anonymisation -----------------------------------------------------------------


def coverage(results, truth) -> tuple[int, int, int]:
    """Face-frames of the ground truth (not ignored) with >= 80% of the box
    masked, face-frames counted, and the longest run of consecutive frames
    a face stays unmasked."""
    masked = counted = longest = 0
    run: dict[str, int] = {}
    for r, objects in zip(results, truth):
        h, w = r.frame.shape[:2]
        mask = np.zeros((h, w), bool)
        for b in r.masked:
            mask[int(b.y):int(b.y + b.h), int(b.x):int(b.x + b.w)] = True
        for name, box, ignore in objects:
            if ignore:
                run[name] = 0
                continue
            x0, y0 = int(box.x), int(box.y)
            x1, y1 = int(np.ceil(box.x + box.w)), int(np.ceil(box.y + box.h))
            covered = mask[y0:y1, x0:x1].mean() >= 0.8
            counted += 1
            masked += covered
            run[name] = 0 if covered else run.get(name, 0) + 1
            longest = max(longest, run[name])
    return masked, counted, longest


def test_anonymised_clip_leaves_no_face_unmasked(clip):
    stream = video(clip.frames, fps=clip.fps, anonymize="blur", reid=False)
    results = list(stream)
    masked, counted, longest = coverage(results, clip.truth)
    print(f"{masked}/{counted} face-frames masked, longest unmasked run {longest}")
    # measured: 307/307, longest run 0
    assert longest <= 1 and masked / counted >= 0.98
    for r in results:  # the masked rectangles were really changed
        for b in r.masked or ():
            if min(b.w, b.h) < 8:
                continue  # a blurred speck of a few pixels may change nothing
            x0, y0, x1, y1 = int(b.x), int(b.y), int(b.x + b.w), int(b.y + b.h)
            source = clip.frames[r.index][y0:y1, x0:x1].astype(int)
            assert np.abs(r.frame[y0:y1, x0:x1].astype(int) - source).mean() > 3
    # detection at anonymize's high-recall operating point; plain video keeps the default one
    assert stream.recall and not video(clip.frames[:2]).recall


def test_anonymise_needs_detection_on_every_frame(clip):
    # a face appearing between two detections would go unmasked: refused
    with pytest.raises(ParameterError, match="every frame"):
        video(clip.frames, anonymize="blur", every=3)
    with pytest.raises(ParameterError, match="recall must be"):
        video(clip.frames, anonymize="blur", recall="bogus")
    with pytest.raises(ParameterError, match="recall must be"):
        prosopo.anonymize(clip.frames[0], recall=[1])
    from prosopo.anonymizer import OperatingPoint

    for bad in ((0.1, float("nan")), (0.1, float("inf")), (0, 0.5), (True, 0.5)):
        with pytest.raises(ParameterError):
            OperatingPoint(*bad)
    # recall="max" reaches the detector (not taken for True): it finds at least as much
    first = clip.frames[:1]
    high = next(iter(video(first, anonymize="solid"))).masked or ()
    most = next(iter(video(first, anonymize="solid", recall="max"))).masked or ()
    assert len(most) >= len(high) >= 1


def test_anonymised_clip_keeps_enrolled_people_visible(clip, clip_gallery):
    with Gallery.open(clip_gallery) as g:
        results = list(video(clip.frames, g, fps=clip.fps, anonymize="solid", keep_mode="except"))
    stranger = clip.people[3]
    hidden = {name: 0 for name in clip.people}
    seen = {name: 0 for name in clip.people}
    for r, objects in zip(results, clip.truth):
        for name, box, ignore in objects:
            if ignore:
                continue
            seen[name] += 1
            cx, cy = (int(v) for v in box.center)
            hidden[name] += bool((r.frame[cy - 2:cy + 3, cx - 2:cx + 3] == 0).all())  # solid: black
    assert hidden[stranger] == seen[stranger] > 0
    # the enrolled are visible once named; masked before (the first frame)
    # and where the mask of an unnamed track beside them (a face partly
    # hidden behind theirs) covers them. Measured: 1/76, 1/82, 14/49 masked
    # (3, 1 and 10 with the detector's threshold at 0.1 instead of 0.08: the
    # lower one finds the hidden face more often, and masks it).
    enrolled = clip.people[:3]
    assert all(hidden[name] <= 0.3 * seen[name] for name in enrolled), hidden
    assert sum(hidden[name] for name in enrolled) <= 0.1 * sum(seen[name] for name in enrolled), hidden


def test_anonymize_parameters():
    frames = [np.zeros((32, 32, 3), np.uint8)]
    with pytest.raises(ParameterError, match="smudge"):
        video(frames, anonymize="smudge")
    with pytest.raises(ParameterError, match="keep_mode"):
        video(frames, anonymize="blur", keep_mode="except")  # no gallery
    with pytest.raises(ParameterError, match="expand"):
        video(frames, anonymize="blur", expand=-1)


def test_anonymize_video_file(clip, tmp_path):
    src = write_mjpg(clip.frames, tmp_path / "clip.avi", clip.fps)
    pools: list[int] = []  # OpenCV's threads, seen while the job runs
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        stats = anonymize_video(src, tmp_path / "anon.mp4", mode="pixelate",
                                progress=lambda done, total: pools.append(cv2.getNumThreads()))
        assert cv2.getNumThreads() == 3  # given back after the job
    finally:
        cv2.setNumThreads(before)
    assert len(pools) == 100 and set(pools) == {1}
    back, fps = read_back(tmp_path / "anon.mp4")
    assert stats.frames == len(back) == 100 and fps == pytest.approx(clip.fps)
    assert back[0].shape == clip.frames[0].shape
    # no face is found where a true face is, as in the anonymize tests
    for k in range(0, 100, 10):
        truth = [box for _, box, ignore in clip.truth[k] if not ignore]
        assert any(box.iou(f.box) > 0.3 for f in prosopo.detect(clip.frames[k]) for box in truth)
        assert not any(box.iou(f.box) > 0.3 for f in prosopo.detect(back[k]) for box in truth), k
    with pytest.raises(ParameterError, match="must not be the input"):
        anonymize_video(src, src)


# -- the command line ----------------------------------------------------------------


def prosopo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)


def test_command_line_outputs(clip, clip_gallery, tmp_path):
    src = write_mjpg(clip.frames, tmp_path / "clip.avi", clip.fps)
    out, sheet = tmp_path / "annotated.webm", tmp_path / "sheet.png"
    done = prosopo_cli("video", str(src), "--gallery", str(clip_gallery), "--out", str(out), "--sheet", str(sheet),
                       "--actions", "age,emotion", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not even OpenCV's note about the WebM codec tag
    report = json.loads(done.stdout)
    assert {t["identity"] for t in report["tracks"]} - {None} == set(clip.people[:3])
    assert all("age" in t["attributes"] and "emotion" in t["attributes"] for t in report["tracks"])
    back, fps = read_back(out)
    assert len(back) == 100 and fps == pytest.approx(clip.fps) and back[0].shape == (360, 640, 3)
    assert cv2.imread(str(sheet)).shape[0] > THUMB

    masked = tmp_path / "masked.avi"
    done = prosopo_cli("anonymize", str(src), str(masked), "--mode", "solid", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["audio"] is False and json.loads(done.stdout)["frames"] == 100
    assert len(read_back(masked)[0]) == 100
    assert "audio" in prosopo_cli("anonymize", "--help").stdout and "audio" in prosopo_cli("video", "--help").stdout

    # the output may not be the input: it would be destroyed while read
    before = src.read_bytes()
    for args in (("video", str(src), "--out", str(src)), ("anonymize", str(src), str(src))):
        same = prosopo_cli(*args)
        assert same.returncode == 2 and "must not be the input" in same.stderr, same.stderr
    assert src.read_bytes() == before
    refused = prosopo_cli("video", str(src), "--out", str(tmp_path / "m.avi"), "--anonymize", "blur", "--sheet",
                          str(tmp_path / "s.png"))
    assert refused.returncode == 2 and "--sheet" in refused.stderr

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (("video", str(src), "--out", str(blocker / "x.mp4")),
                 ("video", str(src), "--out", str(tmp_path / "x.mkv")),
                 ("video", str(src), "--sheet", str(blocker / "s.png")),
                 ("video", str(src), "--anonymize", "blur"),  # masks nothing without --out
                 ("video", str(src), "--actions", "age,shoe_size"),
                 ("anonymize", str(src), str(tmp_path / "x.jpg"))):
        bad = prosopo_cli(*args)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, bad.stderr)
    assert ".mp4 (mp4v), .avi (MJPG), .webm (VP80)" in prosopo_cli(*("video", str(src), "--out", "x.mkv")).stderr
