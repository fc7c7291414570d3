#!/usr/bin/env python3
"""LFW 10-fold verification accuracy from an embeddings JSON (numpy only).

Usage:
    python lfw_accuracy.py images --pairs pairs.txt --root LFW_DIR > list.txt
        print the image paths pairs.txt needs (sorted, unique), to feed worker.py --images
    python lfw_accuracy.py eval EMB.json [EMB2.json ...] --pairs pairs.txt
        [--metrics cosine,euclidean] [--fixed euclidean=0.6 ...] [--use-fallback] [--json OUT]

EMB.json: {"embeddings": {path: [floats] or null}, ...} as written by worker.py (other keys
optional; "peer", "version", "median_ms" are shown when present). Paths are matched to
pairs.txt entries by their last two components: <Name>/<Name>_<NNNN>.<ext>.

Protocol (standard LFW "unrestricted / view 2" evaluation): pairs.txt holds 10 folds of
300 matched + 300 mismatched pairs. For each fold k, the distance threshold that maximises
accuracy on the other 9 folds is chosen (candidates: midpoints between consecutive sorted
distances) and accuracy on fold k is measured with it; mean ± std (population std, as
in the usual LFW reports) over the 10 folds is reported. A pair is predicted "same" when
distance < threshold.
Metrics: cosine distance (1 - cos) and euclidean distance on the raw embeddings
(face_recognition's own metric, default threshold 0.6: use --fixed euclidean=0.6 to also
report that fixed-threshold accuracy).
Missing embeddings (no face found, or image absent from the JSON): every pair involving one
is predicted "different" (not same), in threshold selection as well as in testing; so it is
right for mismatched pairs and wrong for matched ones. --use-fallback instead uses the
"no_face_fallback" vectors worker.py stores for DeepFace (its enforce_detection=False
whole-image embedding) where present.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Pair = Tuple[str, str, bool]  # (relpath a, relpath b, same)


def lfw_relpath(name: str, idx: int, ext: str = "jpg") -> str:
    return f"{name}/{name}_{int(idx):04d}.{ext}"


def read_pairs(path: str) -> Tuple[List[List[Pair]], int, int]:
    """Returns (folds, n_folds, n_per_half) ; each fold is a list of (rel_a, rel_b, same)."""
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip()]
    n_folds, n = int(lines[0][0]), int(lines[0][1])
    body = lines[1:]
    if len(body) != n_folds * 2 * n:
        raise ValueError(f"{path}: expected {n_folds * 2 * n} pairs, got {len(body)}")
    folds: List[List[Pair]] = []
    for k in range(n_folds):
        fold: List[Pair] = []
        for row in body[k * 2 * n:(k + 1) * 2 * n]:
            if len(row) == 3:
                fold.append((lfw_relpath(row[0], row[1]), lfw_relpath(row[0], row[2]), True))
            elif len(row) == 4:
                fold.append((lfw_relpath(row[0], row[1]), lfw_relpath(row[2], row[3]), False))
            else:
                raise ValueError(f"bad pairs line: {row}")
        folds.append(fold)
    return folds, n_folds, n


def pair_images(folds: Sequence[Sequence[Pair]]) -> List[str]:
    return sorted({p for fold in folds for a, b, _ in fold for p in (a, b)})


def _key(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def load_embeddings(path_or_obj, use_fallback: bool = False) -> Tuple[Dict[str, Optional[np.ndarray]], dict]:
    """Returns ({relpath: vector or None}, meta) from a worker.py JSON (path or loaded dict)."""
    if isinstance(path_or_obj, dict):
        obj = path_or_obj
    else:
        with open(path_or_obj) as f:
            obj = json.load(f)
    fb = obj.get("no_face_fallback", {}) if use_fallback else {}
    out: Dict[str, Optional[np.ndarray]] = {}
    for p, v in obj["embeddings"].items():
        if v is None and p in fb:
            v = fb[p]
        out[_key(p)] = None if v is None else np.asarray(v, dtype=np.float64)
    meta = {k: obj.get(k) for k in ("peer", "version", "median_ms", "n_images", "n_no_face")}
    return out, meta


def distances(emb: Dict[str, Optional[np.ndarray]], pairs: Sequence[Pair], metric: str) -> np.ndarray:
    """Distance per pair; +inf when either embedding is missing (=> predicted different)."""
    d = np.full(len(pairs), np.inf)
    for i, (a, b, _) in enumerate(pairs):
        ea, eb = emb.get(a), emb.get(b)
        if ea is None or eb is None:
            continue
        if metric == "cosine":
            na, nb = np.linalg.norm(ea), np.linalg.norm(eb)
            if na == 0 or nb == 0:
                continue
            d[i] = 1.0 - float(ea @ eb) / (na * nb)
        elif metric == "euclidean":
            d[i] = float(np.linalg.norm(ea - eb))
        else:
            raise ValueError(metric)
    return d


def _accuracy(d: np.ndarray, same: np.ndarray, thr: float) -> float:
    return float(np.mean((d < thr) == same))


def best_threshold(d: np.ndarray, same: np.ndarray) -> Tuple[float, float]:
    """Threshold maximising accuracy of (d < thr) == same. Returns (thr, accuracy)."""
    finite = np.sort(np.unique(d[np.isfinite(d)]))
    if finite.size == 0:
        return 0.0, float(np.mean(~same))
    cands = np.concatenate(([finite[0] - 1e-6], (finite[:-1] + finite[1:]) / 2.0, [finite[-1] + 1e-6]))
    # vectorised: for sorted candidate thresholds count correct decisions
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], same[order]
    # number of pairs with d < thr for each candidate
    k = np.searchsorted(ds, cands, side="left")
    same_cum = np.concatenate(([0], np.cumsum(ss)))
    diff_total = int(np.sum(~ss))
    diff_cum = np.concatenate(([0], np.cumsum(~ss)))
    correct = same_cum[k] + (diff_total - diff_cum[k])
    j = int(np.argmax(correct))
    return float(cands[j]), float(correct[j]) / len(d)


def ten_fold(emb: Dict[str, Optional[np.ndarray]], folds: Sequence[Sequence[Pair]], metric: str,
             fixed: Optional[float] = None) -> dict:
    dist = [distances(emb, f, metric) for f in folds]
    same = [np.array([s for _, _, s in f]) for f in folds]
    accs, thrs = [], []
    for k in range(len(folds)):
        dtr = np.concatenate([dist[i] for i in range(len(folds)) if i != k])
        str_ = np.concatenate([same[i] for i in range(len(folds)) if i != k])
        thr, _ = best_threshold(dtr, str_)
        thrs.append(thr)
        accs.append(_accuracy(dist[k], same[k], thr))
    res = {
        "metric": metric,
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "fold_acc": accs,
        "thresholds": thrs,
        "threshold_mean": float(np.mean(thrs)),
        "n_pairs": int(sum(len(f) for f in folds)),
        "n_pairs_missing": int(sum(int(np.sum(~np.isfinite(x))) for x in dist)),
    }
    if fixed is not None:
        alld, alls = np.concatenate(dist), np.concatenate(same)
        res["fixed_threshold"] = fixed
        res["fixed_acc"] = _accuracy(alld, alls, fixed)
        res["fixed_fold_std"] = float(np.std([_accuracy(dist[k], same[k], fixed) for k in range(len(folds))]))
    return res


def evaluate(emb_json, pairs_path: str, metrics: Sequence[str] = ("cosine", "euclidean"),
             fixed: Optional[Dict[str, float]] = None, use_fallback: bool = False) -> dict:
    folds, _, _ = read_pairs(pairs_path)
    emb, meta = load_embeddings(emb_json, use_fallback=use_fallback)
    needed = pair_images(folds)
    missing = [p for p in needed if emb.get(p) is None]
    return {
        **meta,
        "use_fallback": use_fallback,
        "n_needed_images": len(needed),
        "n_missing_images": len(missing),
        "missing_images": missing,
        "results": [ten_fold(emb, folds, m, (fixed or {}).get(m)) for m in metrics],
    }


def _table(reports: Sequence[dict]) -> str:
    hdr = f"{'peer':<18} {'version':<9} {'metric':<9} {'10-fold acc':>16} {'thr(mean)':>9} " \
          f"{'fixed thr acc':>17} {'miss img':>8} {'miss pairs':>10} {'median ms':>9}"
    lines = [hdr, "-" * len(hdr)]
    for r in reports:
        for m in r["results"]:
            fx = f"{m['fixed_acc'] * 100:6.2f}% @{m['fixed_threshold']:<6g}" if "fixed_acc" in m else "-"
            med = f"{r['median_ms']:.1f}" if r.get("median_ms") is not None else "-"
            lines.append(
                f"{str(r.get('peer') or '?'):<18} {str(r.get('version') or '?'):<9} {m['metric']:<9} "
                f"{m['mean'] * 100:7.2f}% ± {m['std'] * 100:4.2f}% {m['threshold_mean']:9.4f} "
                f"{fx:>17} {r['n_missing_images']:>8} {m['n_pairs_missing']:>10} {med:>9}")
    lines.append("Pairs with a missing embedding (no face / not embedded) are counted as predicted "
                 "'different'" + (" (DeepFace whole-image fallback used where present)."
                                  if any(r.get("use_fallback") for r in reports) else "."))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="LFW 10-fold verification accuracy (numpy only)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("images", help="list the image paths pairs.txt needs")
    a.add_argument("--pairs", required=True)
    a.add_argument("--root", required=True, help="LFW dir holding <Name>/<Name>_NNNN.jpg")
    e = sub.add_parser("eval", help="10-fold accuracy of embeddings JSON file(s)")
    e.add_argument("emb", nargs="+")
    e.add_argument("--pairs", required=True)
    e.add_argument("--metrics", default="cosine,euclidean")
    e.add_argument("--fixed", action="append", default=[], metavar="METRIC=THR",
                   help="also report accuracy at a fixed threshold, e.g. euclidean=0.6")
    e.add_argument("--use-fallback", action="store_true",
                   help="use DeepFace's whole-image embedding where no face was detected")
    e.add_argument("--json", help="write the full reports (per-fold numbers) here")
    args = ap.parse_args(argv)

    if args.cmd == "images":
        folds, _, _ = read_pairs(args.pairs)
        for p in pair_images(folds):
            print(os.path.join(args.root, p))
        return 0

    fixed = {}
    for s in args.fixed:
        m, v = s.split("=", 1)
        fixed[m.strip()] = float(v)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    reports = [evaluate(p, args.pairs, metrics, fixed, args.use_fallback) for p in args.emb]
    print(_table(reports))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
