"""Enrolled identities: :class:`Gallery` over the embedded local store
(:mod:`.store`) or a PostgreSQL database (:mod:`.postgres`), with exact
(:mod:`.exact`) or approximate (:mod:`.ann`) vector search and folder
synchronisation (:mod:`.folder`)."""

from .folder import SyncReport
from .gallery import Enrollment, Gallery, GalleryStats, Identity

__all__ = ["Enrollment", "Gallery", "GalleryStats", "Identity", "SyncReport"]
