"""prosopo's web service (``prosopo serve``): see :mod:`.app`.

Nothing here is imported eagerly: :mod:`.keys` (used by ``prosopo keys``)
works without the ``[server]`` extra; :func:`create_app` and
:class:`Settings` load FastAPI on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
