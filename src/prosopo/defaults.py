"""Defaults named once for every layer (the library, the command line, the
web service and galleries all use these)."""

from typing import Literal

DEFAULT_MODEL = "arcface-mbf"
DEFAULT_DETECTOR = "scrfd"
# the attributes analyze() estimates unless told (race only when asked);
# "pose" and "quality" need no model (prosopo.quality)
Action = Literal["age", "gender", "emotion", "race", "pose", "quality"]
DEFAULT_ACTIONS: tuple[Action, ...] = ("age", "gender", "emotion")
# The defaults above carry non-commercial terms; these are the models whose
# terms allow commercial use, named by the licence policy's errors.
PERMISSIVE_DETECTOR = "yunet"
PERMISSIVE_MODEL = "sface"
