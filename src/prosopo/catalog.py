"""What models prosopo knows: installed or not, file sizes, measured accuracy."""

from __future__ import annotations

from importlib import resources
from typing import Any

from .attributes import LICENCE as ATTRIBUTE_LICENCE
from .attributes import MODELS as ATTRIBUTE_MODELS
from .detectors import DETECTORS
from .embed import RECOGNIZERS
from .models import is_installed
from .thresholds import CALIBRATED_WITH, LFW_ACCURACY


def catalog() -> list[dict[str, Any]]:
    """One row per detector, recognizer and attribute head (nothing is loaded)."""
    rows = []
    for kind, registry in (("detector", DETECTORS), ("recognizer", RECOGNIZERS)):
        for entry in registry.entries():
            installed = is_installed(entry)
            sizes = entry.file_sizes() if installed else {}
            rows.append({
                "kind": kind,
                "name": entry.name,
                "summary": entry.summary,
                "installed": installed,
                "extra": entry.extra,
                "files": sizes,
                "bytes": sum(sizes.values()),
                "licence": entry.licence,
                "lfw_accuracy": LFW_ACCURACY.get(entry.name) if kind == "recognizer" else None,
                "lfw_detector": CALIBRATED_WITH.get(entry.name) if kind == "recognizer" else None,
            })
    for name, summary in ATTRIBUTE_MODELS.items():
        path = resources.files("prosopo.attributes") / "models" / f"{name}.onnx"
        installed = path.is_file()
        size = path.stat().st_size if installed else 0
        rows.append({"kind": "attributes", "name": name, "summary": summary, "installed": installed, "extra": None,
                     "files": {f"{name}.onnx": size} if installed else {}, "bytes": size, "lfw_accuracy": None,
                     "lfw_detector": None, "licence": ATTRIBUTE_LICENCE})
    return rows
