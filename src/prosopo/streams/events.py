"""Track events as dicts, and a JSON Lines writer for them.

Events: ``track_started`` (a track is confirmed), ``identified`` (a track's
identity is decided or changes), ``track_ended`` (a track is lost, with its
first and last timestamps, best-shot box and quality, and the votes). Each
carries ``event``, ``frame``, ``timestamp`` and ``track``.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, Self

from ..errors import ParameterError


class JsonLinesWriter:
    """Writes each event as one JSON line, flushed as it happens. Use as the
    ``on_event`` callback of :func:`prosopo.streams.video`; a path is opened
    (and closed by :meth:`close` or ``with``), a file object is left open."""

    def __init__(self, target: str | os.PathLike[str] | IO[str]):
        if isinstance(target, (str, os.PathLike)):
            self._file: IO[str] = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            self._owned = True
        elif hasattr(target, "write"):
            self._file = target
            self._owned = False
        else:
            raise ParameterError(f"events go to a path or a text file object, got {type(target).__name__}")
        self.count = 0

    def __call__(self, event: dict[str, Any]) -> None:
        self._file.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._owned and not self._file.closed:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a JSON Lines file written by :class:`JsonLinesWriter`."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
