"""Video streams (``prosopo.video`` is the function; this package is its
machinery): faces followed through a stream of frames (a file, a camera, a
network stream or any iterable of numpy frames), each track named by votes
over its best views, with events as they happen.

- :mod:`.sources`: frame sources and their errors (never a hang)
- :mod:`.tracker`: the tracker (motion, overlap and appearance)
- :mod:`.stream`: :func:`video`, per-track identity decisions, attributes
  and masks
- :mod:`.events`: JSON Lines events
- :mod:`.writer`, :mod:`.annotate`, :mod:`.sheet`, :mod:`.anonymize`:
  video files written (annotated, or anonymised) and contact sheets of
  each track's best shot
- :mod:`.synthetic`, :mod:`.metrics`: a clip whose truth is known, and
  tracking metrics (MOTA, IDF1, ID switches)
"""

from .annotate import annotate, write_annotated
from .anonymize import anonymize_video
from .events import JsonLinesWriter, read_events
from .sheet import BestShot, contact_sheet, write_sheet
from .sources import FrameSource, open_source
from .stream import FrameResult, TrackedFace, VideoStats, VideoStream, video
from .tracker import Tracker
from .writer import CODECS, VideoWriter

__all__ = ["CODECS", "BestShot", "FrameResult", "FrameSource", "JsonLinesWriter", "TrackedFace", "Tracker",
           "VideoStats", "VideoStream", "VideoWriter", "annotate", "anonymize_video", "contact_sheet",
           "open_source", "read_events", "video", "write_annotated", "write_sheet"]
