"""Facial attributes: age, gender, emotion and (only when asked) race.

prosopo's attribute models are small heads trained here (``training/``) on
the feature map of SFace's trunk (:mod:`.trunk`): one trunk pass per face
feeds every head; race (opt-in) also reads the face's colour grid
(:mod:`.heads`). Each head is an ONNX file in ``models/`` with a model card
beside it.
"""

from __future__ import annotations

from typing import get_args

from ..defaults import DEFAULT_ACTIONS, Action
from ..errors import ParameterError

__all__ = [
    "ACTIONS",
    "COMMERCIAL_USE",
    "DEFAULT_ACTIONS",
    "EMOTIONS",
    "GENDERS",
    "GEOMETRY",
    "LICENCE",
    "MODELS",
    "RACES",
    "RACE_WARNING",
    "Action",
    "check_actions",
    "check_licence",
]

ACTIONS: tuple[str, ...] = get_args(Action)
# actions measured from the landmarks and the crop (prosopo.quality), with no
# attribute model and so no licence terms
GEOMETRY: tuple[str, ...] = ("pose", "quality")
GENDERS = ("male", "female")
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
RACES = ("white", "black", "asian", "indian", "other")

# The heads that ship (models/*.onnx) and what their held-out tests measured
# (training/reports/*.json; model cards beside the files).
MODELS = {
    "age-gender": "age and gender head; UTKFace test: age MAE 4.44 years, gender 95.4%",
    "emotion": "emotion head (7 classes); FER2013 PrivateTest: 69.8%",
    "race": "race head (5 UTKFace labels), opt-in only; UTKFace test: 85.3%",
}

# trained on UTKFace and FER2013; see the model cards
LICENCE = "non-commercial research only (trained on UTKFace and FER2013)"
COMMERCIAL_USE = False  # those terms forbid it (the licence policy reads this)

RACE_WARNING = (
    "race is inferred from appearance with UTKFace's five labels (white, black, asian, indian, other), which are "
    "coarse and annotator-assigned. Inferring race or ethnicity from faces is restricted or prohibited in some "
    "uses (for example the EU AI Act bans biometric categorisation by race); use it only for research or bias "
    "auditing where that is lawful."
)


def check_actions(actions) -> tuple[str, ...]:
    """``actions`` as a tuple of known names, in the canonical order."""
    if isinstance(actions, str):
        actions = [a for a in actions.replace(",", " ").split() if a]
    try:
        wanted = [str(a).strip().lower() for a in actions]
    except TypeError:
        raise ParameterError(f"actions must be a list of names from {ACTIONS}, got {actions!r}") from None
    unknown = [a for a in wanted if a not in ACTIONS]
    if unknown:
        raise ParameterError(f"unknown action(s) {unknown}; choose from {list(ACTIONS)}")
    if not wanted:
        raise ParameterError(f"actions is empty; choose from {list(ACTIONS)}")
    return tuple(a for a in ACTIONS if a in wanted)


def check_licence() -> None:
    """``ModelError`` if the licence policy is ``"commercial"``: every
    attribute head carries non-commercial terms, and none with commercial
    terms ships yet."""
    from ..models import check_terms

    check_terms(f"the attribute heads ({', '.join(MODELS)})", LICENCE, COMMERCIAL_USE,
                "No attribute model with commercial terms ships yet, so analyze() is unavailable under this "
                "policy; detection, verification and search still work with permissive models (see "
                "`prosopo models`).")
