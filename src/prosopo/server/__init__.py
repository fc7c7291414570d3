"""prosopo's web service (``prosopo serve``): see :mod:`.app`."""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
