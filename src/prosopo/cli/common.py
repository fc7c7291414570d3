"""Pieces shared by the command-line modules: option types, output, and the
lists of names shown in help (read from the registries, never written out
here)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ..attributes import ACTIONS
from ..defaults import DEFAULT_ACTIONS, DEFAULT_DETECTOR, DEFAULT_MODEL
from ..detectors import DETECTORS
from ..embed import RECOGNIZERS
from ..errors import ParameterError, ProsopoError
from ..metrics import DEFAULT_METRIC, METRICS

if TYPE_CHECKING:
    from rich.progress import Progress


T = TypeVar("T")


def choices(names: Iterable[str], default: str | None = None) -> str:
    """``names`` for a help text, the default marked."""
    return ", ".join(f"{n} (default)" if n == default else n for n in names)


Model = Annotated[str, typer.Option("--model", "-m",
                                    help=f"Recognizer: {choices(RECOGNIZERS.names(), DEFAULT_MODEL)}.")]
Detector = Annotated[str, typer.Option("--detector", "-d",
                                       help=f"Detector: {choices(DETECTORS.names(), DEFAULT_DETECTOR)}.")]
METRIC_HELP = f"Distance: {choices(METRICS, DEFAULT_METRIC)}."
ACTIONS_HELP = (f"Comma-separated, from: {', '.join(ACTIONS)}. Race only when named (see README: restricted uses).")
DEFAULT_ACTIONS_TEXT = ",".join(DEFAULT_ACTIONS)
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoAlign = Annotated[bool, typer.Option("--no-align", help="Crop the box without 5-point alignment.")]
AnyFace = Annotated[bool, typer.Option("--no-enforce", help="Use the whole image when no face is found.")]
Flip = Annotated[bool, typer.Option("--flip", help="Also embed the mirrored face (slower, more accurate).")]
AutoRotate = Annotated[bool, typer.Option("--auto-rotate", help="Also find faces in a photo turned by 90, 180 or 270 "
                                          "degrees with no EXIF orientation (a little slower).")]


def _emit(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        typer.echo(text)


def _fail(exc: ProsopoError, as_json: bool) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.code, "message": exc.message_for("cli")}, ensure_ascii=False) + "\n")
    else:
        typer.echo(f"error: {exc.message_for('cli')}", err=True)
    raise typer.Exit(exc.exit_code)


def write_output(path: Path, write: Callable[[Path], T]) -> T:
    """``write(path)``, with a failure to write (no such folder, no
    permission, a folder in the way, disk full) as a :class:`ParameterError`
    naming the path: exit code 2, one line, no traceback."""
    try:
        return write(path)
    except OSError as exc:
        raise ParameterError(f"cannot write {path}: {exc.strerror or exc}") from exc


def progress_bar(enabled: bool) -> Progress:
    """A transient progress bar on stderr, shown only when ``enabled`` and
    stderr is a terminal (so piped output gets nothing extra, not even a
    blank line)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, disable=not (enabled and console.is_terminal),
                    transient=True)
