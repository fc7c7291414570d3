"""What models prosopo knows: installed or not, file sizes, licence terms,
measured accuracy."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from . import liveness
from .attributes import COMMERCIAL_USE as ATTRIBUTE_COMMERCIAL_USE
from .attributes import LICENCE as ATTRIBUTE_LICENCE
from .attributes import MODELS as ATTRIBUTE_MODELS
from .detectors import DETECTORS
from .embed import RECOGNIZERS
from .errors import ModelError
from .models import is_installed, licence_policy, terms
from .thresholds import CALIBRATED_WITH, LFW_ACCURACY


def catalog() -> list[dict[str, Any]]:
    """One row per detector, recognizer, attribute head and anti-spoofing
    model (nothing is loaded).

    Each row has ``licence`` (the weights' terms as their publisher states
    them), ``commercial_use`` (whether those terms allow it), ``terms``
    (``"permissive"`` or ``"non-commercial"``) and ``allowed`` (whether the
    licence policy in force lets it load). ``location`` is where a model the
    user places must go (None for the others).
    """
    policy = licence_policy()
    rows: list[dict[str, Any]] = []

    def row(kind: str, name: str, summary: str, installed: bool, extra: str | None, sizes: dict[str, int],
            licence: str, commercial_use: bool, **more: Any) -> None:
        rows.append({
            "kind": kind, "name": name, "summary": summary, "installed": installed, "extra": extra,
            "files": sizes, "bytes": sum(sizes.values()), "licence": licence, "commercial_use": commercial_use,
            "terms": terms(commercial_use), "allowed": commercial_use or policy != "commercial",
            "lfw_accuracy": None, "lfw_detector": None, "location": None, **more,
        })

    for kind, registry in (("detector", DETECTORS), ("recognizer", RECOGNIZERS)):
        for entry in registry.entries():
            installed = is_installed(entry)
            row(kind, entry.name, entry.summary, installed, entry.extra, entry.file_sizes() if installed else {},
                entry.licence, entry.commercial_use,
                lfw_accuracy=LFW_ACCURACY.get(entry.name) if kind == "recognizer" else None,
                lfw_detector=CALIBRATED_WITH.get(entry.name) if kind == "recognizer" else None)
    for name, summary in ATTRIBUTE_MODELS.items():
        path = Path(str(resources.files("prosopo.attributes") / "models" / f"{name}.onnx"))
        installed = path.is_file()
        row("attributes", name, summary, installed, None, {path.name: path.stat().st_size} if installed else {},
            ATTRIBUTE_LICENCE, ATTRIBUTE_COMMERCIAL_USE)
    folder = liveness.folder()
    try:
        sizes = {path.name: path.stat().st_size for path in liveness.installed().values()}  # hashes checked
    except ModelError:
        sizes = {}
    row("anti-spoofing", "minifasnet", "MiniFASNet V2 and V1SE (Minivision): live face or printed photo; files the "
        "user places", bool(sizes), None, sizes, liveness.LICENCE, liveness.COMMERCIAL_USE, location=str(folder),
        source=liveness.SOURCE)
    return rows
