"""Pieces shared by the command-line modules: option types and output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ..errors import ProsopoError

Model = Annotated[str, typer.Option("--model", "-m",
                                    help="Recognizer: arcface-mbf (default), sface, dlib, sface+dlib.")]
Detector = Annotated[str, typer.Option("--detector", "-d",
                                       help="Detector: scrfd (default), yunet, dlib-hog, haar, skip.")]
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


def _fail(exc: ProsopoError, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.code, "message": exc.message_for("cli")}, ensure_ascii=False) + "\n")
    else:
        typer.echo(f"error: {exc.message_for('cli')}", err=True)
    raise typer.Exit(exc.exit_code)
