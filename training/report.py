"""Held-out metrics of an attribute model: overall, per age band, per
UTKFace gender x race group, per class; with the largest group gaps."""

from __future__ import annotations

import numpy as np

from data import GENDERS, RACES, Prepared, age_band
from extract import FER_CLASSES
from heads import AGES


def _gap(groups: dict[str, dict], key: str) -> dict:
    values = {g: v[key] for g, v in groups.items() if key in v}
    lo, hi = min(values, key=values.get), max(values, key=values.get)
    return {"metric": key, "largest_gap": round(values[hi] - values[lo], 4), "best_or_lowest": lo, "highest": hi}


def _recalls(pred: np.ndarray, truth: np.ndarray, classes: tuple[str, ...]) -> tuple[dict, list]:
    recall = {c: round(float((pred[truth == i] == i).mean()), 4) for i, c in enumerate(classes) if (truth == i).any()}
    confusion = [[int(((truth == i) & (pred == j)).sum()) for j in range(len(classes))] for i in range(len(classes))]
    return recall, confusion


def report(task: str, data: Prepared, idx: np.ndarray, probs: dict[str, np.ndarray]) -> dict:
    out: dict = {"test_images": len(idx), "test_images_without_detection": int((~data.detected[idx]).sum())}
    if task == "emotion":
        truth = data.labels("emotion")[idx]
        pred = probs["emotion"].argmax(1)
        recall, confusion = _recalls(pred, truth, FER_CLASSES)
        out.update({"emotion_accuracy": round(float((pred == truth).mean()), 4), "classes": list(FER_CLASSES),
                    "recall": recall, "confusion": confusion})
        return out
    age, gender, race = (data.labels(k)[idx] for k in ("age", "gender", "race"))
    group_names = np.array([f"{GENDERS[g]} {RACES[r]}" for g, r in zip(gender, race)])
    bands = np.array([age_band(a) for a in age])
    groups: dict[str, dict] = {g: {"n": int((group_names == g).sum())} for g in sorted(set(group_names))}
    by_band: dict[str, dict] = {b: {"n": int((bands == b).sum())} for b in dict.fromkeys(age_band(a) for a in
                                                                                          sorted(set(age)))}
    if "age" in probs:
        est = probs["age"] @ np.arange(AGES)
        err = np.abs(est - age)
        out["age_mae"] = round(float(err.mean()), 3)
        out["age_mae_0_100_clipped_truth"] = round(float(np.abs(est - np.minimum(age, AGES - 1)).mean()), 3)
        for g in groups:
            groups[g]["age_mae"] = round(float(err[group_names == g].mean()), 3)
        for b in by_band:
            by_band[b]["age_mae"] = round(float(err[bands == b].mean()), 3)
    if "gender" in probs:
        ok = probs["gender"].argmax(1) == gender
        out["gender_accuracy"] = round(float(ok.mean()), 4)
        out["gender_accuracy_adults_18plus"] = round(float(ok[age >= 18].mean()), 4)
        for g in groups:
            groups[g]["gender_accuracy"] = round(float(ok[group_names == g].mean()), 4)
        for b in by_band:
            by_band[b]["gender_accuracy"] = round(float(ok[bands == b].mean()), 4)
    if "race" in probs:
        pred = probs["race"].argmax(1)
        recall, confusion = _recalls(pred, race, RACES)
        out.update({"race_accuracy": round(float((pred == race).mean()), 4), "classes": list(RACES),
                    "recall": recall, "confusion": confusion})
        for g in groups:
            groups[g]["race_accuracy"] = round(float((pred == race)[group_names == g].mean()), 4)
    out["groups"] = groups
    out["age_bands"] = by_band
    out["gaps"] = [_gap(groups, k) for k in ("age_mae", "gender_accuracy", "race_accuracy")
                   if any(k in v for v in groups.values())]
    return out
