"""``prosopo video``: follow the faces of a video file, a camera or a stream,
name them against a gallery, and write the events as JSON Lines.

Exit codes as the rest of the command line: 0 done, 2 bad option or output
not writable, 3 unreadable video (or camera, or stream), 5 model, 7 gallery
store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ParameterError, ProsopoError
from .common import Json, _emit, _fail, progress_bar
from .gallery import KeyFile


def video(
    source: Annotated[str | None, typer.Argument(
        help="A video file, or an rtsp:// or http(s):// stream (with --allow-urls); omit it with --camera.")] = None,
    camera: Annotated[int | None, typer.Option(help="Read this camera (0 is the first) instead of a file.")] = None,
    gallery: Annotated[Path | None, typer.Option(help="A gallery store: name the faces against it.")] = None,
    key_file: KeyFile = None,
    events: Annotated[Path | None, typer.Option(
        help="Write the events (track_started, identified, track_ended) here, one JSON object a line.")] = None,
    every: Annotated[int, typer.Option(help="Run the detector on every n-th frame (the tracker predicts between).")] = 1,
    detector: Annotated[str | None, typer.Option(
        "--detector", "-d", help="Detector (default: the gallery's, else the default detector).")] = None,
    threshold: Annotated[str | None, typer.Option(help="A cosine distance, or an operating point like fpir=0.01.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Follow at most the largest N faces a frame.")] = None,
    allow_urls: Annotated[bool, typer.Option(help="Allow rtsp:// and http(s):// sources.")] = False,
    read_timeout: Annotated[float, typer.Option(help="Seconds to wait for a frame from a camera or a stream.")] = 10.0,
    json_out: Json = False,
) -> None:
    """Follow the faces of a video: tracks, their names (with --gallery) and
    events as they happen (--events). Prints one line per track at the end."""
    import os
    from contextlib import ExitStack

    import cv2

    from .. import video as follow
    from ..streams import JsonLinesWriter

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
            if events is not None:
                try:
                    writer = stack.enter_context(JsonLinesWriter(events))
                except OSError as exc:
                    raise ParameterError(f"cannot write the events to {events}: {exc.strerror or exc}") from None
            store = None
            if gallery is not None:
                from ..gallery import Gallery

                store = stack.enter_context(Gallery.open(gallery, create=False, key_file=key_file))
            stream = stack.enter_context(follow(camera if camera is not None else source, store, detector=detector,
                                                every=every, threshold=threshold, max_faces=max_faces,
                                                allow_urls=allow_urls, read_timeout=read_timeout, on_event=on_event))
            bar = stack.enter_context(progress_bar(not json_out))
            task = bar.add_task("following faces", total=getattr(stream.source, "frame_count", 0) or None)
            for _ in stream:
                bar.update(task, advance=1, description=f"following faces, {stream.stats.fps:.1f} FPS")
    except ProsopoError as exc:
        _fail(exc, json_out)
    stats = stream.stats
    skipped = f", {len(stats.skipped)} unreadable frame(s) skipped" if stats.skipped else ""
    lines = [f"{stats.frames} frame(s), {stats.tracks} track(s), {stats.fps:.1f} FPS{skipped}"]
    for e in ended:
        lines.append(f"track {e['track']}: {e['identity'] or 'unknown'}, "
                     f"{e['first_timestamp']:.2f}-{e['last_timestamp']:.2f} s, {e['views']} view(s) embedded")
    if events is not None:
        lines.append(f"events written to {events}")
    _emit({"stats": stats.to_dict(), "tracks": ended}, json_out, "\n".join(lines))
