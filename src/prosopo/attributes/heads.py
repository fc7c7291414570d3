"""prosopo's attribute heads on SFace's trunk, run with ONNX Runtime.

``age-gender.onnx`` gives a distribution over ages 0..100 and the gender
probabilities (male, female), ``race.onnx`` five race probabilities,
``emotion.onnx`` seven emotion probabilities. All read the trunk's
1024 x 7 x 7 map of a face aligned to the 112x112 ArcFace template.

The emotion head learned from FER2013's grey 48x48 faces, so it is shown the
face as FER shows it: grey, and reduced to FER's resolution (its eyes are a
median 19.6 px apart against the template's 35.2) before being enlarged
back. The age and gender head was trained on that view too, so the default
attributes cost one trunk pass (a colour pass for age and gender doubled
the time, for 0.1 years of age error and 0.1 points of gender accuracy on
UTKFace's test split; see README, "Accuracy of attributes").
The race head needs colour (on the grey view it fell below its target), so
asking for race adds a colour pass, run beside the grey one (each on a core
of its own, when two threads are allowed).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..embed.onnx_session import session
from ..errors import ModelError
from . import EMOTIONS, GENDERS, RACES
from .trunk import Trunk

AGES = np.arange(101, dtype=np.float32)
AGE_INTERVAL = (0.1, 0.9)  # the age range reported: central 80% of the distribution
HEAD_FILES = {"age": "age-gender.onnx", "gender": "age-gender.onnx", "race": "race.onnx",
              "emotion": "emotion.onnx"}
COLOUR_HEADS = {"race.onnx"}  # the others read the FER-like view
LABELS = {"gender": GENDERS, "race": RACES, "emotion": EMOTIONS}
BATCH = 32
_SECOND = ThreadPoolExecutor(1, thread_name_prefix="prosopo-attributes")  # the second view of two
EMOTION_SCALE = 19.6 / 35.2


def model_file(name: str) -> Path:
    path = Path(str(resources.files("prosopo.attributes") / "models" / name))
    if not path.is_file():
        raise ModelError(f"attribute model {name} is missing from the prosopo package ({path}); reinstall prosopo")
    return path


def fer_like(crop: np.ndarray) -> np.ndarray:
    """The aligned crop as FER2013 would show it: grey, at FER's resolution."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    small = cv2.resize(grey, (round(w * EMOTION_SCALE), round(h * EMOTION_SCALE)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)


class Heads:
    """The trunk and the heads, loaded on first use; safe to share between
    threads."""

    template = Trunk.template

    def __init__(self) -> None:
        self._trunk = Trunk()
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    def _session(self, name: str):
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = session(model_file(name))
            return self._sessions[name]

    def predict(self, crops: list[np.ndarray], actions: tuple[str, ...]) -> list[dict]:
        """For each aligned crop, the asked attributes as plain values."""
        out: list[dict] = [{} for _ in crops]
        files = list(dict.fromkeys(HEAD_FILES[a] for a in actions))
        views = [v for v in (
            ("colour", [f for f in files if f in COLOUR_HEADS]),
            ("fer-like", [f for f in files if f not in COLOUR_HEADS])) if v[1]]
        runners, side_by_side = self._trunk.runners(len(views))
        for start in range(0, len(crops), BATCH):
            chunk = crops[start:start + BATCH]
            jobs = [(run, chunk if view == "colour" else [fer_like(c) for c in chunk], names)
                    for run, (view, names) in zip(runners, views)]
            if side_by_side:
                later = _SECOND.submit(self._describe, *jobs[1])
                results = [self._describe(*jobs[0]), later.result()]
            else:
                results = [self._describe(*job) for job in jobs]
            for values in results:
                for i, row in enumerate(range(start, start + len(chunk))):
                    self._fill(out[row], values, i, actions)
        return out

    def _describe(self, run, crops: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        """The trunk on one view of the crops, then the heads that read it:
        each head output's name and values."""
        maps = run(crops)
        values: dict[str, np.ndarray] = {}
        for name in names:
            sess = self._session(name)
            values.update(zip((o.name for o in sess.get_outputs()), sess.run(None, {"trunk": maps})))
        return values

    @staticmethod
    def _fill(result: dict, values: dict[str, np.ndarray], i: int, actions: tuple[str, ...]) -> None:
        for key, probs in values.items():
            if key not in actions:
                continue
            p = probs[i].astype(np.float64)
            if key == "age":
                cdf = np.cumsum(p / p.sum())
                result["age"] = float(p @ AGES)
                result["age_range"] = tuple(float(np.searchsorted(cdf, q)) for q in AGE_INTERVAL)
            else:
                result[key] = {label: float(v) for label, v in zip(LABELS[key], p)}
