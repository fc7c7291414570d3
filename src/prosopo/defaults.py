"""The default recognizer and detector, named once for every layer (the
library, the command line, the web service and galleries all use these)."""

DEFAULT_MODEL = "arcface-mbf"
DEFAULT_DETECTOR = "scrfd"
