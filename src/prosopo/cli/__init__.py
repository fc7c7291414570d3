"""The ``prosopo`` command line: :mod:`.app` holds the face commands and wires
the gallery (:mod:`.gallery`) and service (:mod:`.server`) commands in."""

from .app import app, main

__all__ = ["app", "main"]
