"""What models prosopo knows: installed or not, file sizes, measured accuracy."""

from __future__ import annotations

from typing import Any

from .detectors import DETECTORS
from .embed import RECOGNIZERS
from .models import is_installed
from .thresholds import LFW_ACCURACY


def catalog() -> list[dict[str, Any]]:
    """One row per detector and recognizer (nothing is loaded)."""
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
                "lfw_accuracy": LFW_ACCURACY.get(entry.name) if kind == "recognizer" else None,
            })
    return rows
