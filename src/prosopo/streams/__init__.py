"""Video streams (``prosopo.video`` is the function; this package is its
machinery): faces followed through a stream of frames (a file, a camera, a
network stream or any iterable of numpy frames), each track named by votes
over its best views, with events as they happen.

- :mod:`.sources`: frame sources and their errors (never a hang)
- :mod:`.tracker`: the tracker (motion, overlap and appearance)
- :mod:`.stream`: :func:`video`, per-track identity decisions
- :mod:`.events`: JSON Lines events
- :mod:`.synthetic`, :mod:`.metrics`: a clip whose truth is known, and
  tracking metrics (MOTA, IDF1, ID switches)
"""

from .events import JsonLinesWriter, read_events
from .sources import FrameSource, open_source
from .stream import FrameResult, TrackedFace, VideoStats, VideoStream, video
from .tracker import Tracker

__all__ = ["FrameResult", "FrameSource", "JsonLinesWriter", "TrackedFace", "Tracker", "VideoStats", "VideoStream",
           "open_source", "read_events", "video"]
