"""Typed errors. Every failure a user can cause is one of these, never a raw
OpenCV, dlib or ONNX Runtime exception."""

from __future__ import annotations

import re

# Messages name options as Python spells them; the CLI and the web service
# show their own spelling of the same option instead: first these phrases,
SPELLINGS: dict[str, dict[str, str]] = {
    "enforce_detection=False": {"cli": "--no-enforce", "http": '"enforce_detection": false'},
    "auto_rotate=True": {"cli": "--auto-rotate", "http": '"auto_rotate": true'},
    "threshold=<float>": {"cli": "--threshold <number>", "http": '"threshold": <number>'},
    "detector='yunet'": {"cli": "--detector yunet", "http": '"detector": "yunet"'},
    "model='sface'": {"cli": "--model sface", "http": '"model": "sface"'},
    "threshold must be": {"cli": "--threshold must be", "http": '"threshold" must be'},
}
# then every remaining argument name with an underscore (never a common word),
# alone or as ``name=value``: --max-faces / --max-faces 3, "max_faces" / "max_faces": 3
# (not one a phrase above has already spelled: "--" or a quote before it)
_ARGUMENT = re.compile(r'(?<![-"])\b(min_face_size|max_faces|auto_rotate|enforce_detection|legal_basis|consent_ref|'
                       r'allow_urls|read_timeout|min_quality)\b(?!")(=)?')


def _spell(match: re.Match[str], interface: str) -> str:
    name, assigned = match.group(1), match.group(2)
    if interface == "cli":
        return "--" + name.replace("_", "-") + (" " if assigned else "")
    return f'"{name}"' + (": " if assigned else "")


class ProsopoError(Exception):
    """Base class of every error prosopo raises on purpose.

    ``code`` is a stable machine-readable name (used by the CLI exit codes and
    the web service); the message says what was wrong and what to do.
    """

    code = "prosopo_error"
    exit_code = 1

    def message_for(self, interface: str) -> str:
        """The message with each option spelled as ``interface`` ("cli" or
        "http") spells it; ``str(error)`` spells them as Python arguments."""
        text = str(self)
        for python, spelled in SPELLINGS.items():
            text = text.replace(python, spelled[interface])
        return _ARGUMENT.sub(lambda m: _spell(m, interface), text)


class ImageError(ProsopoError, ValueError):
    """The input could not be read as an image, or breaks a size limit."""

    code = "bad_image"
    exit_code = 3


class NoFaceError(ProsopoError):
    """No face was found where one was required."""

    code = "no_face"
    exit_code = 4


class ModelError(ProsopoError):
    """A model is unknown, not installed, or failed to load or run."""

    code = "model_error"
    exit_code = 5


class ParameterError(ProsopoError, ValueError):
    """A parameter has a value outside the allowed ones."""

    code = "bad_parameter"
    exit_code = 2


class DataError(ProsopoError):
    """An evaluation dataset or pairs file is missing or malformed."""

    code = "bad_data"
    exit_code = 6


class StoreError(ProsopoError):
    """A gallery store is corrupt, was built for another model, is locked,
    or is encrypted and the key is missing or wrong."""

    code = "bad_store"
    exit_code = 7


class SpoofDetected(ProsopoError):
    """Anti-spoofing was asked to reject, and a face looks like a
    presentation attack (a photo or a screen), not a live face."""

    code = "spoof"
    exit_code = 9


class NotFoundError(ProsopoError, KeyError):
    """An identity (or other named item) is not in the gallery."""

    code = "not_found"
    exit_code = 8

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
