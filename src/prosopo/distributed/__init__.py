"""Work spread over a cluster: enrolling a large photo archive on Ray
(:mod:`.ray_enroll`, ``pip install 'prosopo[ray]'``), from a folder or a
manifest (:mod:`.archive`). Importing this package imports no Ray."""

from .archive import Archive, Entry, read_archive
from .ray_enroll import ClusterError, RayReport, enroll_on_ray

__all__ = ["Archive", "ClusterError", "Entry", "RayReport", "enroll_on_ray", "read_archive"]
