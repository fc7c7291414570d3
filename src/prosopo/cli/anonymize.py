"""``prosopo anonymize``: mask the faces of an image, of every image in a
folder (the output folder mirrors the input tree), or of a video (every
tracked face in every frame; see :func:`prosopo.streams.anonymize_video`).
Output images carry no metadata; output videos carry no audio track.

Exit codes: 0 every file written; otherwise the exit code of the error (2
bad option or output not writable, 3 unreadable image, 5 model, 7 gallery
store). In folder mode the files that can be done are written, the failures
are listed, and the exit code is that of the first failure.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from ..defaults import DEFAULT_DETECTOR
from ..errors import ProsopoError
from .common import Detector, Json, _emit, _fail, progress_bar

MODES_HELP = "blur (default), pixelate, solid (black box) or ellipse (a blurred ellipse)."


def anonymize(
    input: Annotated[Path, typer.Argument(help="An image, a folder of images, or a video.")],
    output: Annotated[Path, typer.Argument(
        help="The output image (its suffix names the format), folder, or video (.mp4, .avi or .webm; written "
             "without audio: OpenCV writes no sound, so voices are dropped too).")],
    mode: Annotated[str, typer.Option("--mode", help=MODES_HELP)] = "blur",
    keep: Annotated[Path | None, typer.Option(
        "--keep", help="Gallery store: its enrolled people stay visible (with --only: only they are masked).")] = None,
    only: Annotated[bool, typer.Option("--only", help="With --keep: mask only the enrolled people.")] = False,
    key_file: Annotated[Path | None, typer.Option("--key-file", help="Key of an encrypted --keep store.")] = None,
    detector: Detector = DEFAULT_DETECTOR,
    expand: Annotated[float, typer.Option(help="Scale of the margins added around each face for hair and chin "
                                               "(0: the detector's box).")] = 1.0,
    no_recall: Annotated[bool, typer.Option("--no-recall", help="Use the detector's usual score threshold instead "
                                                                "of the high-recall one (fewer false masks).")] = False,
    json_out: Json = False,
) -> None:
    """Blur, pixelate or black out every face; metadata is stripped from the output, and a video's audio too."""
    from .. import anonymizer as anon
    from ..errors import ImageError, ParameterError
    from ..streams.anonymize import is_video

    options: dict[str, Any] = {"mode": mode, "detector": detector, "expand": expand, "recall": not no_recall,
                               "keep_mode": "only" if only else "except"}
    try:
        if only and keep is None:
            raise ParameterError("--only needs --keep GALLERY")
        if not input.exists():
            raise ImageError(f"{input} does not exist")
        with ExitStack() as stack:
            if keep is not None:
                options["keep"] = stack.enter_context(_gallery(keep, key_file))
            if input.is_dir():
                report = _folder(anon, input, output, options, json_out)
            elif is_video(input):
                _video(input, output, options, json_out)
                return
            else:
                result = anon.anonymize_file(input, output, **options)
                _emit({"input": str(input), "output": str(output), **result.to_dict()}, json_out,
                      f"{output}: {len(result.boxes)} face(s) masked ({mode})"
                      + (f", {len(result.kept)} kept" if result.kept else ""))
                return
    except ProsopoError as exc:
        _fail(exc, json_out)
    if report.failed:
        raise typer.Exit(report.failed[0].exit_code)


def _gallery(db: Path, key_file: Path | None):
    from .gallery import _open, _store_failed

    try:
        return _open(db, key_file)
    except OSError as exc:
        raise _store_failed(db, exc) from exc


def _folder(anon, source: Path, target: Path, options: dict[str, Any], json_out: bool):
    with progress_bar(not json_out) as bar:
        task = bar.add_task("anonymising", total=None)

        def step(path: Path, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=path.name[:30])

        report = anon.anonymize_folder(source, target, progress=step, **options)
    summary = (f"{target}: {len(report.written)} image(s) written, {report.faces} face(s) masked, "
               f"{len(report.failed)} failed")
    lines = [summary]
    lines += [f"failed: {f.path}: {f.message}" for f in report.failed]
    if json_out:
        _emit({"input": str(source), "output": str(target), **report.to_dict()}, True, "")
    else:
        typer.echo(lines[0])
        for line in lines[1:]:
            typer.echo(line, err=True)
    return report


def _video(source: Path, target: Path, options: dict[str, Any], json_out: bool) -> None:
    import os

    import cv2

    from ..streams import anonymize_video

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # failures are reported once, as typed errors
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    with progress_bar(not json_out) as bar:
        task = bar.add_task("anonymising", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        stats = anonymize_video(source, target, progress=step, **options)
    skipped = f", {len(stats.skipped)} unreadable frame(s) replaced by the one before" if stats.skipped else ""
    _emit({"input": str(source), "output": str(target), "mode": options["mode"], "audio": False, **stats.to_dict()},
          json_out, f"{target}: {stats.frames} frame(s), {stats.tracks} face track(s), faces masked "
                    f"({options['mode']}), no audio{skipped}")
