"""``prosopo video``: follow the faces of a video file, a camera or a stream,
name them against a gallery, and write the events as JSON Lines, an
annotated (or anonymised) video and a contact sheet of the tracks.

Exit codes as the rest of the command line: 0 done, 2 bad option or output
not writable, 3 unreadable video (or camera, or stream), 5 model, 7 gallery
store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ParameterError, ProsopoError
from .common import ACTIONS_HELP, Json, _emit, _fail, progress_bar
from .gallery import KeyFile

OUT_HELP = ("Write the video with boxes, track ids and names drawn: .mp4 (MPEG-4 Part 2), .avi (Motion JPEG) or "
            ".webm (VP8), at the source's frame rate and size. No audio track (OpenCV writes pictures only).")
ANONYMIZE_HELP = ("Mask every tracked face in --out: blur, pixelate, solid or ellipse (detection at the high-recall "
                  "operating point; a face missed for a frame stays masked at its predicted place).")


def video(
    source: Annotated[str | None, typer.Argument(
        help="A video file, or an rtsp:// or http(s):// stream (with --allow-urls); omit it with --camera.")] = None,
    camera: Annotated[int | None, typer.Option(help="Read this camera (0 is the first) instead of a file.")] = None,
    gallery: Annotated[Path | None, typer.Option(help="A gallery store: name the faces against it.")] = None,
    key_file: KeyFile = None,
    events: Annotated[Path | None, typer.Option(
        help="Write the events (track_started, identified, track_ended) here, one JSON object a line.")] = None,
    every: Annotated[int, typer.Option(help="Run the detector on the whole of every n-th frame.")] = 1,
    follow: Annotated[bool, typer.Option(
        "--follow/--no-follow", help="Between whole-frame detections (--every), look for each tracked face near "
        "where it is expected; without, the tracker only predicts.")] = True,
    detector: Annotated[str | None, typer.Option(
        "--detector", "-d", help="Detector (default: the gallery's, else the default detector).")] = None,
    threshold: Annotated[str | None, typer.Option(help="A cosine distance, or an operating point like fpir=0.01.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Follow at most the largest N faces a frame.")] = None,
    allow_urls: Annotated[bool, typer.Option(help="Allow rtsp:// and http(s):// sources.")] = False,
    read_timeout: Annotated[float, typer.Option(help="Seconds to wait for a frame from a camera or a stream.")] = 10.0,
    out: Annotated[Path | None, typer.Option("--out", help=OUT_HELP)] = None,
    sheet: Annotated[Path | None, typer.Option(
        "--sheet", help="Write a contact sheet (PNG): each track's best shot, labelled with its id and name.")] = None,
    actions: Annotated[str | None, typer.Option(
        help=f"Attributes per track, on its best view. {ACTIONS_HELP}")] = None,
    anonymize: Annotated[str | None, typer.Option(help=ANONYMIZE_HELP)] = None,
    json_out: Json = False,
) -> None:
    """Follow the faces of a video: tracks, their names (with --gallery) and
    events as they happen (--events); optionally an annotated video (--out),
    attributes (--actions), masked faces (--anonymize) and a contact sheet
    (--sheet). Prints one line per track at the end."""
    import os
    from contextlib import ExitStack

    import cv2

    from .. import video as open_video
    from ..draw import check_writable
    from ..streams import JsonLinesWriter, VideoWriter, write_sheet
    from ..streams.annotate import write_frame
    from ..streams.writer import check_not_source, check_video_path

    # OpenCV and its FFmpeg print their own warnings (no camera, "moov atom
    # not found"); the command reports each failure once, as a typed error
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    if (source is None) == (camera is None):
        _fail(ParameterError("give a video (file or stream) or --camera N, not both or neither"), json_out)
    ended: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        if writer is not None:
            writer(event)
        if event.get("event") == "track_ended":
            ended.append(event)

    writer: Any = None
    try:
        with ExitStack() as stack:
            # outputs are checked before the video is read: a mistyped path does not waste the run
            if out is not None:
                check_not_source(check_video_path(out), source)
            elif anonymize is not None:
                raise ParameterError("--anonymize masks the faces of the video written with --out; give --out")
            if anonymize is not None and sheet is not None:
                raise ParameterError("--sheet shows each person's best view: it has no place in an anonymised run")
            if sheet is not None:
                check_writable(sheet)
            if events is not None:
                try:
                    writer = stack.enter_context(JsonLinesWriter(events))
                except OSError as exc:
                    raise ParameterError(f"cannot write the events to {events}: {exc.strerror or exc}") from None
            store = None
            if gallery is not None:
                from ..gallery import Gallery

                store = stack.enter_context(Gallery.open(gallery, create=False, key_file=key_file))
            stream = stack.enter_context(open_video(camera if camera is not None else source, store, detector=detector,
                                                every=every, follow=follow, threshold=threshold, max_faces=max_faces,
                                                allow_urls=allow_urls, read_timeout=read_timeout, on_event=on_event,
                                                actions=actions, anonymize=anonymize, keep_frames=out is not None,
                                                best_shots=sheet is not None))
            recording = stack.enter_context(VideoWriter(out, stream.fps)) if out is not None else None
            bar = stack.enter_context(progress_bar(not json_out))
            task = bar.add_task("following faces", total=getattr(stream.source, "frame_count", 0) or None)
            for result in stream:
                if recording is not None:
                    # anonymised frames are written as masked, with no names or boxes drawn on them
                    assert result.frame is not None  # kept for --out
                    if anonymize is not None:
                        recording.write(result.frame, result.index)
                    else:
                        write_frame(recording, result)
                bar.update(task, advance=1, description=f"following faces, {stream.stats.fps:.1f} FPS")
        if sheet is not None:
            write_sheet(stream.best_shots, sheet)
    except ProsopoError as exc:
        _fail(exc, json_out)
    stats = stream.stats
    skipped = f", {len(stats.skipped)} unreadable frame(s) skipped" if stats.skipped else ""
    lines = [f"{stats.frames} frame(s), {stats.tracks} track(s), {stats.fps:.1f} FPS{skipped}"]
    for e in ended:
        gist = _gist(e.get("attributes"))
        lines.append(f"track {e['track']}: {e['identity'] or 'unknown'}, "
                     f"{e['first_timestamp']:.2f}-{e['last_timestamp']:.2f} s, {e['views']} view(s)"
                     + (f", {gist}" if gist else ""))
    for path, what in ((events, "events"), (out, "video"), (sheet, "contact sheet")):
        if path is not None:
            lines.append(f"{what} written to {path}")
    outputs = {k: str(v) for k, v in (("events", events), ("out", out), ("sheet", sheet)) if v is not None}
    _emit({"stats": stats.to_dict(), "tracks": ended, **outputs}, json_out, "\n".join(lines))


def _gist(attributes: dict[str, Any] | None) -> str:
    """A track's attributes in a few words: "age 34, female, happy"."""
    a = attributes or {}
    parts = [f"age {a['age']:.0f}"] if "age" in a else []
    parts += [a[k] for k in ("dominant_gender", "dominant_emotion", "dominant_race") if a.get(k)]
    return ", ".join(parts)
