"""Photos of every kind, not only LFW's: detection and verification across
face sizes, image sizes, degradations, crowds and real portraits, beside the
peers run on the same files in the same run.

    python benchmarks/realworld.py [--lfw DIR --pairs FILE] [--n 100] \
        [--peers-python ~/peers-venv/bin/python] [--peer-n 30] \
        [--wider DIR] [--london DIR] [--sections sweep,typical,degrade,wider,portraits,speed] \
        [--cells plain,id,selfie,phone] [--out benchmarks/results/realworld.json]
    python benchmarks/realworld.py --report RESULT.json [MORE.json ...]   # the tables again

Defaults read ``../shared/data`` (lfw-mini: fold 1 of the LFW pairs, 600
pairs). For the full LFW protocol pass ``--lfw ~/datasets/lfw/data/lfw-deepfunneled
--pairs ~/datasets/lfw/pairs.txt``; ``--london`` takes the London face set's
``inst`` folder (see ../shared/data/README.md).

Scenes are made by ``scenes.py`` from LFW images: the face (its box is what
the default detector finds on the original image, the face nearest the
centre) is scaled to a fraction of the width of a 3:4 portrait image with a
given long side, cropped or padded with a blurred border, and saved as a
JPEG (quality 92): the files every library reads. A face counts as found
when a detected box is centred inside the true box and within a factor 2.5 of
its size (the libraries' boxes cover different parts of the head).

Sections:

* ``sweep``: detection rate for face widths 5-90% of the image width x long
  sides 320-4032 px (``--n`` faces a cell; the peers ``--peer-n``);
* ``typical``: LFW pair accuracy rendered as a phone photo (4032 px, face
  30%), a selfie (2560 px, 70%) and an ID photo (640 px, 50%), beside the
  plain images, same pairs, same run;
* ``degrade``: a 640-px scene (face 30% of the width, about 144 px) made
  grey, dark, blurred, compressed, noisy, tilted, turned (with
  ``auto_rotate``), and faces of 24 and 16 px: detection rate and pair
  accuracy each;
* ``wider``: WIDER-mini recall by face size (IoU >= 0.5);
* ``portraits``: the London face set (1350-px studio portraits) at its own
  size and at 320, 640 and 4032 px: detection, and neutral-vs-smiling
  verification of every person against every other at the default threshold;
* ``speed``: median ``represent`` time of a 250-px LFW image and of a
  12-megapixel phone JPEG (decode, detect, align, embed), and
  face_recognition on the same 12-megapixel files.

Accuracy with one fold (lfw-mini) is at the model's calibrated threshold, as
``prosopo evaluate`` reports it; with ten folds, the standard protocol. A
pair whose face is not found counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import prosopo
from prosopo import image as imagelib
from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from prosopo.evaluate import detection_recall, kfold, read_pairs, read_wider

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenes  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
FRACS = (0.05, 0.15, 0.30, 0.50, 0.70, 0.90)
SIDES = (320, 640, 1280, 2560, 4032)
TYPICAL = {"phone 4032 px / face 30%": (0.30, 4032), "selfie 2560 px / face 70%": (0.70, 2560),
           "ID photo 640 px / face 50%": (0.50, 640)}
BASE = (0.30, 640)  # the scene the degradations start from
PEERS = ("face_recognition", "deepface-sface")
OPTIONS = {"detector": DEFAULT_DETECTOR}  # what prosopo runs with (--detector)


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def boxes_of(faces) -> list[tuple[float, float, float, float]]:
    return [(f.box.x, f.box.y, f.box.w, f.box.h) for f in faces]


class Sources:
    """LFW images and the subject's face box in each (found once, at 250 px)."""

    def __init__(self, root: Path):
        self.root = root
        self._box: dict[str, tuple[float, float, float, float] | None] = {}

    def get(self, name: str) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
        rgb = imagelib.load(self.root / name)
        if name not in self._box:
            faces = prosopo.detect(rgb)
            h, w = rgb.shape[:2]
            central = min(faces, key=lambda f: (f.box.center[0] - w / 2) ** 2 + (f.box.center[1] - h / 2) ** 2,
                          default=None)
            self._box[name] = None if central is None else (central.box.x, central.box.y, central.box.w, central.box.h)
        return rgb, self._box[name]


def subject(faces, truth):
    """The face of ``faces`` that is the subject at ``truth``, or None."""
    hits = [f for f in faces if scenes.found(boxes_of([f]), truth)]
    return hits[0] if hits else None


# --- peers -------------------------------------------------------------------------


def run_peer(python: str, peer: str, listing: Path, out: Path) -> dict | None:
    """``benchmarks/peers/worker.py`` over the images of ``listing``: its JSON, or None if it failed."""
    proc = subprocess.run([python, str(HERE / "peers" / "worker.py"), "--peer", peer, "--images", str(listing),
                           "--out", str(out), "--warmup", "1", "--progress", "0"], capture_output=True, text=True)
    if proc.returncode:
        log(proc.stderr[-2000:])
        return None
    return json.loads(out.read_text())


class PeerBatch:
    """Scenes written to disk for the peers, run once at the end of a section."""

    def __init__(self, folder: Path, python: str | None):
        self.folder, self.python = folder, python
        self.items: list[tuple[str, str, tuple]] = []  # (group, path, truth)

    def add(self, group: str, rgb_or_bytes, truth) -> None:
        if not self.python:
            return
        path = self.folder / f"{len(self.items):06d}.jpg"
        path.write_bytes(rgb_or_bytes if isinstance(rgb_or_bytes, bytes) else jpeg(rgb_or_bytes))
        self.items.append((group, str(path), truth))

    def rates(self) -> dict[str, dict[str, float]]:
        """peer -> group -> detection rate."""
        if not self.python or not self.items:
            return {}
        listing = self.folder / "list.txt"
        listing.write_text("\n".join(p for _, p, _ in self.items) + "\n")
        out: dict[str, dict[str, float]] = {}
        for peer in PEERS:
            log(f"  {peer} on {len(self.items)} images ...")
            ran = run_peer(self.python, peer, listing, self.folder / f"{peer}.json")
            if ran is None:
                continue
            boxes = ran["boxes"]
            hits: dict[str, list[bool]] = {}
            for group, path, truth in self.items:
                hits.setdefault(group, []).append(scenes.found(boxes.get(path) or [], truth))
            out[peer] = {g: float(np.mean(v)) for g, v in hits.items()}
        return out


# --- sections ----------------------------------------------------------------------


def sweep(src: Sources, names: list[str], peer_n: int, peers_python: str | None, tmp: Path) -> dict:
    batch = PeerBatch(tmp, peers_python)
    cells = {}
    for frac in FRACS:
        for side in SIDES:
            hits = []
            for i, name in enumerate(names):
                rgb, box = src.get(name)
                scene = scenes.frame(rgb, box, frac, side)
                data = jpeg(scene.rgb)
                hits.append(scenes.found(boxes_of(prosopo.detect(data, **OPTIONS)), scene.box))
                if i < peer_n:
                    batch.add(f"{frac}|{side}", data, scene.box)
            face_px = frac * round(side * scenes.ASPECT)
            cells[f"{frac}|{side}"] = {"face_frac": frac, "long_side": side, "face_px": face_px,
                                       "rate": float(np.mean(hits)), "n": len(hits)}
            log(f"  sweep face {frac:.0%} of {side} px ({face_px:.0f} px): {np.mean(hits):.3f}")
    return {"cells": cells, "peers": batch.rates(), "peer_n": min(peer_n, len(names))}


def embed_scenes(src: Sources, pairs, make, **options) -> tuple[dict[str, np.ndarray | None], list[bool]]:
    """The subject's embedding in the scene ``make(rgb, box)`` of every pair
    image, and per image whether the subject was found."""
    vectors: dict[str, np.ndarray | None] = {}
    for name in sorted({p.left for p in pairs} | {p.right for p in pairs}):
        rgb, box = src.get(name)
        if box is None:
            vectors[name] = None
            continue
        scene = make(rgb, box)
        reps = prosopo.represent(jpeg(scene.rgb), enforce_detection=False, **OPTIONS, **options)
        face = subject([r.face for r in reps], scene.box)
        vectors[name] = next((r.embedding for r in reps if r.face is face), None) if face else None
    return vectors, [v is not None for v in vectors.values()]


def pair_accuracy(pairs, vectors: dict[str, np.ndarray | None]) -> dict:
    """Accuracy (``kfold``) with every pair missing a face counted wrong."""
    dist = np.empty(len(pairs))
    for k, p in enumerate(pairs):
        a, b = vectors[p.left], vectors[p.right]
        if a is None or b is None:
            dist[k] = np.inf if p.same else -np.inf
        else:
            dist[k] = 1.0 - float(np.dot(a, b))
    result = kfold(dist, pairs, model=DEFAULT_MODEL, detector=OPTIONS["detector"], metric="cosine")
    return {"accuracy": result.accuracy, "std": result.std, "protocol": result.protocol,
            "pairs_missing_a_face": int(np.isinf(dist).sum())}


def typical(src: Sources, pairs, cells: list[str], save) -> dict:
    """Pair accuracy of the ``cells`` (``plain``, ``id``, ``selfie``, ``phone``),
    each saved through ``save(out)`` as soon as it is measured."""
    out: dict = {}
    labels = dict(zip(("plain", "phone", "selfie", "id"), ("plain LFW (250 px)", *TYPICAL)))
    makers = {"plain LFW (250 px)": None, **TYPICAL}
    for label in (labels[c] for c in cells):
        cell = makers[label]
        if cell is None:
            def make(rgb, box):
                return scenes.Scene(rgb, box, np.eye(2, 3))
        else:
            def make(rgb, box, cell=cell):
                return scenes.frame(rgb, box, *cell)
        vectors, found = embed_scenes(src, pairs, make)
        out[label] = {**pair_accuracy(pairs, vectors), "detected": float(np.mean(found))}
        save(out)
        log(f"  typical {label}: {out[label]}")
    return out


def conditions() -> dict:
    """label -> (scene maker, represent options)."""
    def base(rgb, box):
        return scenes.frame(rgb, box, *BASE)

    def photometric(fn):
        def make(rgb, box):
            s = base(rgb, box)
            return scenes.Scene(fn(s.rgb), s.box, s.matrix)
        return make

    out = {"plain": (base, {})}
    for label, fn in scenes.PHOTOMETRIC.items():
        out[label] = (photometric(fn), {})
    for angle in (15, 30, 45):
        out[f"tilt {angle} deg"] = (lambda rgb, box, a=angle: scenes.tilt(base(rgb, box), a), {})
        out[f"tilt -{angle} deg"] = (lambda rgb, box, a=angle: scenes.tilt(base(rgb, box), -a), {})
    for q in (1, 2, 3):
        def turn(rgb, box, q=q):
            return scenes.turn(base(rgb, box), q)
        out[f"turned {90 * q} deg"] = (turn, {})
        out[f"turned {90 * q} deg, auto_rotate"] = (turn, {"auto_rotate": True})
    for px in (24, 16):
        out[f"face {px} px"] = (lambda rgb, box, px=px: scenes.frame(rgb, box, px / round(BASE[1] * scenes.ASPECT),
                                                                      BASE[1]), {})
    return out


def degrade(src: Sources, names: list[str], pairs, peer_n: int, peers_python: str | None, tmp: Path) -> dict:
    batch = PeerBatch(tmp, peers_python)
    out = {}
    for label, (make, options) in conditions().items():
        hits = []
        for i, name in enumerate(names):
            rgb, box = src.get(name)
            scene = make(rgb, box)
            data = jpeg(scene.rgb)
            hits.append(scenes.found(boxes_of(prosopo.detect(data, **OPTIONS, **options)), scene.box))
            if i < peer_n and not options:
                batch.add(label, data, scene.box)
        vectors, _ = embed_scenes(src, pairs, make, **options)
        out[label] = {"detection": float(np.mean(hits)), **pair_accuracy(pairs, vectors)}
        log(f"  degrade {label}: {out[label]}")
    return {"conditions": out, "peers": batch.rates(), "peer_n": min(peer_n, len(names))}


BINS = ((0, 10), (10, 20), (20, 40), (40, 80), (80, 10**6))


def wider(folder: Path, peers_python: str | None, tmp: Path) -> dict:
    truth = read_wider(folder / "wider_face_train_bbx_gt.txt")
    found = {name: [f.box for f in prosopo.detect(folder / "images" / name, **OPTIONS)] for name in truth}
    result = {"prosopo": _recall_by_size(truth, found)}
    if peers_python:
        listing = tmp / "wider.txt"
        listing.write_text("\n".join(str(folder / "images" / n) for n in truth) + "\n")
        for peer in PEERS:
            ran = run_peer(peers_python, peer, listing, tmp / f"wider-{peer}.json")
            if ran is None:
                continue
            boxes = ran["boxes"]
            peer_found = {n: [prosopo.Box(*b) for b in boxes.get(str(folder / "images" / n)) or []] for n in truth}
            result[peer] = _recall_by_size(truth, peer_found)
    log(f"  wider: {result}")
    return result


def _recall_by_size(truth, found) -> dict:
    """Recall per size bin: by IoU >= 0.5, and by the lenient match of
    ``scenes.found`` (fairer to detectors whose boxes are tighter, as dlib's)."""
    out = {}
    for lo, hi in BINS:
        m = t = lenient = 0
        for name, faces in truth.items():
            sized = [(b, v) for b, v in faces if lo <= min(b.w, b.h) < hi]
            mm, tt = detection_recall(sized, found[name], iou=0.5)
            m, t = m + mm, t + tt
            lenient += sum(scenes.found(boxes_of_boxes(found[name]), (b.x, b.y, b.w, b.h)) for b, v in sized if v)
        out[f"{lo}-{hi if hi < 10**6 else 'up'} px"] = {"recall": m / t if t else None,
                                                          "recall_lenient": lenient / t if t else None, "faces": t}
    return out


def boxes_of_boxes(boxes) -> list[tuple[float, float, float, float]]:
    return [(b.x, b.y, b.w, b.h) for b in boxes]


def portraits(folder: Path, peer_n: int, peers_python: str | None, tmp: Path) -> dict:
    people = sorted(p.stem.split("_")[0] for p in (folder / "neutral_front").glob("[0-9]*.jpg"))
    files = {(who, kind): folder / f"{kind}_front" / f"{who}_{'03' if kind == 'neutral' else '08'}.jpg"
             for who in people for kind in ("neutral", "smiling")}
    files = {k: v for k, v in files.items() if v.exists()}
    batch = PeerBatch(tmp, peers_python)
    detection, vectors = {}, {}
    for side in (None, 320, 640, 4032):
        label = "original" if side is None else f"{side} px"
        hits = []
        for i, (key, path) in enumerate(sorted(files.items())):
            rgb = imagelib.load(path)
            if side is not None:
                k = side / max(rgb.shape[:2])
                rgb = cv2.resize(rgb, (round(rgb.shape[1] * k), round(rgb.shape[0] * k)),
                                 interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
            data = jpeg(rgb)
            reps = prosopo.represent(data, enforce_detection=False, max_faces=1, **OPTIONS)
            ok = reps[0].face.score > 0
            hits.append(ok)
            vectors[(label, key)] = reps[0].embedding if ok else None
            if i < peer_n:
                h, w = rgb.shape[:2]
                batch.add(label, data, (w * 0.2, h * 0.15, w * 0.6, h * 0.7))  # the face's region in these portraits
        detection[label] = float(np.mean(hits))
    verification = {}
    from prosopo.thresholds import resolve

    threshold, _ = resolve(DEFAULT_MODEL, "cosine", None)
    for side in ("original", "320 px", "640 px", "4032 px"):
        genuine, impostor = [], []
        for a in people:
            va = vectors.get((side, (a, "neutral")))
            for b in people:
                vb = vectors.get((side, (b, "smiling")))
                if va is None or vb is None:
                    (genuine if a == b else impostor).append(a != b)  # a miss is wrong
                    continue
                accepted = 1.0 - float(np.dot(va, vb)) <= threshold
                (genuine if a == b else impostor).append(accepted)
        verification[side] = {"true_accept_rate": float(np.mean(genuine)),
                              "false_accept_rate": float(np.mean(impostor)),
                              "genuine_pairs": len(genuine), "impostor_pairs": len(impostor)}
    log(f"  portraits: {detection} {verification}")
    return {"people": len(people), "detection": detection, "verification": verification, "peers": batch.rates()}


def speed(src: Sources, names: list[str], peers_python: str | None, tmp: Path, n: int = 20) -> dict:
    """Median ``represent`` times (ms), with and without ``auto_rotate``."""
    plain = [src.root / name for name in names[:100]]
    phone = []
    for i, name in enumerate(names[:n]):
        rgb, box = src.get(name)
        path = tmp / f"phone{i:03d}.jpg"
        path.write_bytes(jpeg(scenes.frame(rgb, box, *TYPICAL["phone 4032 px / face 30%"]).rgb))
        phone.append(path)

    def median_ms(paths, **options) -> float:
        for path in paths[:3]:
            prosopo.represent(path, max_faces=1, **OPTIONS, **options)
        times = []
        for path in paths:
            t = time.perf_counter()
            prosopo.represent(path, max_faces=1, **OPTIONS, **options)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    out = {"lfw_250px_ms": median_ms(plain), "phone_12mp_ms": median_ms(phone), "phone_images": len(phone),
           "lfw_250px_auto_rotate_ms": median_ms(plain, auto_rotate=True),
           "phone_12mp_auto_rotate_ms": median_ms(phone, auto_rotate=True)}
    if peers_python:
        listing = tmp / "phone.txt"
        listing.write_text("\n".join(map(str, phone)) + "\n")
        ran = run_peer(peers_python, "face_recognition", listing, tmp / "phone-fr.json")
        if ran is not None:
            out.update(face_recognition_12mp_ms=ran["median_ms"], ratio=ran["median_ms"] / out["phone_12mp_ms"])
    log(f"  speed: {out}")
    return out


# --- report ------------------------------------------------------------------------


def report(results: dict) -> str:
    lines = []
    if "sweep" in results:
        s = results["sweep"]
        n = next(iter(s["cells"].values()))["n"]
        lines.append("Detection rate by face width (% of image width) x image long side, "
                     f"prosopo {results.get('detector', DEFAULT_DETECTOR)} ({n} faces a cell)")
        lines.append("face  " + "".join(f"{side:>8}" for side in SIDES))
        for frac in FRACS:
            row = "".join(f"{s['cells'][f'{frac}|{side}']['rate']:8.1%}" for side in SIDES)
            lines.append(f"{frac:4.0%}  {row}")
        for peer, groups in s["peers"].items():
            lines.append(f"{peer} (first {s['peer_n']} faces a cell)")
            for frac in FRACS:
                row = "".join(f"{groups.get(f'{frac}|{side}', float('nan')):8.1%}" for side in SIDES)
                lines.append(f"{frac:4.0%}  {row}")
        lines.append("")
    if "typical" in results:
        lines.append("LFW pairs rendered as typical photos (prosopo defaults)")
        for label, r in results["typical"].items():
            lines.append(f"  {label:28} accuracy {r['accuracy']:.2%} "
                         f"(faces found {r['detected']:.1%}; {r['protocol']})")
        lines.append("")
    if "degrade" in results:
        d = results["degrade"]
        peers = list(d["peers"])
        lines.append("Degradations of a 640-px scene (face 144 px): detection rate, pair accuracy; peers' detection")
        lines.append(f"  {'condition':28}{'detect':>8}{'pairs':>8}" + "".join(f"{p:>18}" for p in peers))
        for label, r in d["conditions"].items():
            lines.append(f"  {label:28}{r['detection']:8.1%}{r['accuracy']:8.2%}"
                         + "".join(f"{d['peers'][p].get(label, float('nan')):18.1%}" for p in peers))
        lines.append("")
    if "wider" in results:
        lines.append("WIDER-mini recall by face size (shorter side): IoU >= 0.5 / lenient match (faces)")
        for who, bins in results["wider"].items():
            lines.append(f"  {who:18}" + "".join(
                f"  {b}: {v['recall']:.2f}/{v['recall_lenient']:.2f} ({v['faces']})"
                for b, v in bins.items() if v["recall"] is not None))
        lines.append("")
    if "portraits" in results:
        p = results["portraits"]
        lines.append(f"London face set ({p['people']} people, neutral vs smiling)")
        for side, rate in p["detection"].items():
            v = p["verification"][side]
            peer = "".join(f"  {name} {g.get(side, float('nan')):.1%}" for name, g in p["peers"].items())
            lines.append(f"  {side:10} detected {rate:.1%}  TAR {v['true_accept_rate']:.1%}  "
                         f"FAR {v['false_accept_rate']:.3%}{peer}")
        lines.append("")
    if "speed" in results:
        s = results["speed"]
        lines.append(f"Speed: 250-px LFW represent {s['lfw_250px_ms']:.1f} ms; "
                     f"12-MP phone JPEG {s['phone_12mp_ms']:.1f} ms"
                     + (f"; face_recognition {s['face_recognition_12mp_ms']:.0f} ms ({s['ratio']:.0f}x)"
                        if "ratio" in s else ""))
        lines.append(f"  with auto_rotate: {s['lfw_250px_auto_rotate_ms']:.1f} ms "
                     f"and {s['phone_12mp_auto_rotate_ms']:.1f} ms")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=SHARED / "lfw-mini" / "images")
    ap.add_argument("--pairs", type=Path, default=SHARED / "lfw-mini" / "pairs.txt")
    ap.add_argument("--wider", type=Path, default=SHARED / "wider-mini")
    ap.add_argument("--london", type=Path, default=None, help="the London face set's inst/ folder")
    ap.add_argument("--n", type=int, default=100, help="faces per detection cell")
    ap.add_argument("--peer-n", type=int, default=30, help="faces per cell for the peers")
    ap.add_argument("--peers-python", default=None, help="python of benchmarks/peers/setup.sh's venv")
    ap.add_argument("--sections", default="sweep,typical,degrade,wider,portraits,speed")
    ap.add_argument("--cells", default="plain,id,selfie,phone", help="the typical section's cells")
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, help="prosopo's detector (the faces' true boxes "
                    "always come from the default one, on the original LFW images)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "realworld.json")
    ap.add_argument("--report", type=Path, nargs="+", help="print the tables of earlier runs' JSON files and stop")
    args = ap.parse_args(argv)
    if args.report:
        merged: dict = {}
        for path in args.report:
            merged.update(json.loads(path.read_text()))
        print(report(merged))
        return 0
    OPTIONS["detector"] = args.detector
    if not args.lfw.is_dir() or not args.pairs.is_file():
        sys.exit(f"LFW images {args.lfw} or pairs {args.pairs} missing (see ../shared/data/README.md)")
    pairs = read_pairs(args.pairs)
    src = Sources(args.lfw)
    names = list(dict.fromkeys(p.left for p in pairs))
    names = [n for n in names if src.get(n)[1] is not None][: args.n]
    sections = args.sections.split(",")
    results: dict = {"lfw": str(args.pairs), "pairs": len(pairs), "n": len(names), "detector": args.detector,
                     "model": DEFAULT_MODEL, "prosopo": getattr(prosopo, "__version__", None)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for section in sections:
            start = time.perf_counter()
            log(f"{section} ...")
            folder = tmp / section
            folder.mkdir()
            if section == "sweep":
                results[section] = sweep(src, names, args.peer_n, args.peers_python, folder)
            elif section == "typical":
                def save(partial):
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps({**results, "typical": partial}, indent=1))
                results[section] = typical(src, pairs, args.cells.split(","), save)
            elif section == "degrade":
                results[section] = degrade(src, names, pairs, args.peer_n, args.peers_python, folder)
            elif section == "wider":
                results[section] = wider(args.wider, args.peers_python, folder)
            elif section == "portraits":
                if args.london is None:
                    log("  skipped: no --london")
                    continue
                results[section] = portraits(args.london, args.peer_n, args.peers_python, folder)
            elif section == "speed":
                results[section] = speed(src, names, args.peers_python, folder)
            else:
                sys.exit(f"unknown section {section!r}")
            log(f"{section}: {time.perf_counter() - start:.0f} s")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
