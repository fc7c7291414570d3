"""Train one attribute head on prepared trunk maps, export it to ONNX, and
write its report (metrics on the held-out test split, overall and per group).

    python training/train.py age-gender --data ~/datasets/prepared
    python training/train.py race       --data ~/datasets/prepared
    python training/train.py emotion    --data ~/datasets/prepared

``--balance`` samples UTKFace's gender x race groups equally (the remedy for
per-group gaps); ``--heads N`` trains N heads from seeds ``--seed`` ..
``--seed + N - 1`` and ships their mean; ``--out`` is where the ONNX file
goes (default: the package's model folder). Seeded: the same data give the
same model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from data import GENDERS, RACES, Prepared, fer_split, utk_split  # noqa: E402
from extract import FER_CLASSES  # noqa: E402
from heads import AGES, Exported, Head  # noqa: E402
from report import report  # noqa: E402

from prosopo.attributes.heads import colour_grid  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "src" / "prosopo" / "attributes" / "models"
MINI = REPO.parent / "shared" / "data" / "utk-mini"
TASKS = {  # dataset, outputs, what the head reads (see extract.py and prosopo.attributes.heads)
    "age-gender": ("utk", {"age": AGES, "gender": len(GENDERS)}, "fer-like"),
    "race": ("utk", {"race": len(RACES)}, "fer-like+colour"),
    "emotion": ("fer", {"emotion": len(FER_CLASSES)}, "fer-like"),
}
COLOUR_GRID = 14  # cells a side of the colour grid ("+colour" views)
MAX_BYTES = 5_000_000  # a shipped model file above this stores its weights as int8


def age_targets(age: torch.Tensor) -> torch.Tensor:
    """A Gaussian over the age bins around each true age: neighbouring ages
    are nearly right, which a one-hot target would deny. Wider for the old,
    whose age is harder to read."""
    bins = torch.arange(AGES, dtype=torch.float32)
    sigma = 1.0 + 0.08 * age.float().unsqueeze(1)
    t = torch.exp(-0.5 * ((bins - age.float().unsqueeze(1)) / sigma) ** 2)
    return t / t.sum(1, keepdim=True)


def expected_age(logits: torch.Tensor) -> torch.Tensor:
    return (torch.softmax(logits, 1) * torch.arange(AGES, dtype=torch.float32)).sum(1)


def loss_of(out: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(())
    for name, logits in out.items():
        if name == "age":
            target = age_targets(y["age"])
            total = total - (target * torch.log_softmax(logits, 1)).sum(1).mean()
            total = total + 0.05 * (expected_age(logits) - y["age"].float()).abs().mean()
        else:
            total = total + nn.functional.cross_entropy(logits, y[name], label_smoothing=0.1)
    return total


def labels_of(data: Prepared, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        values = data.labels(name)
        out[name] = np.minimum(values, AGES - 1) if name == "age" else values
    return out


def colour_of(data: Prepared, view: str) -> np.ndarray | None:
    """The colour grid of every crop, for the views that read it."""
    if not view.endswith("+colour"):
        return None
    return np.stack([colour_grid(np.asarray(c), COLOUR_GRID) for c in data.crops])


def predict(heads: list[Head], x: np.ndarray, colour: np.ndarray | None, batch: int = 1024) -> dict[str, np.ndarray]:
    """Each output's probabilities, the mean over ``heads``."""
    model = Exported(heads).eval()
    parts: dict[str, list] = {}
    with torch.no_grad():
        for s in range(0, len(x), batch):
            c = None if colour is None else torch.from_numpy(colour[s:s + batch])
            out = model(torch.from_numpy(np.asarray(x[s:s + batch], np.float32)), c)
            for k, v in zip(model.names, out):
                parts.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def sample_weights(data: Prepared, idx: np.ndarray) -> np.ndarray:
    """Inverse frequency of each image's gender x race group."""
    group = data.labels("gender")[idx] * len(RACES) + data.labels("race")[idx]
    counts = np.bincount(group, minlength=2 * len(RACES))
    return 1.0 / counts[group]


def train(task: str, data: Prepared, colour: np.ndarray | None, split: np.ndarray, seed: int,
          args) -> tuple[Head, dict]:
    _, outputs, _ = TASKS[task]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    labels = labels_of(data, list(outputs))
    print(f"{task}: loading {len(tr)} training maps (seed {seed})", file=sys.stderr)
    x_tr = torch.from_numpy(np.ascontiguousarray(data.trunk[tr]))
    c_tr = None if colour is None else torch.from_numpy(colour[tr])
    y_tr = {k: torch.from_numpy(v[tr]) for k, v in labels.items()}
    x_va, c_va = np.ascontiguousarray(data.trunk[va]), None if colour is None else colour[va]
    model = Head(outputs, squeeze=args.squeeze, hidden=args.hidden, dropout=args.dropout,
                 colour=0 if colour is None else COLOUR_GRID)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * (len(tr) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    weights = sample_weights(data, tr) if args.balance else None
    best, best_state, history = None, None, []
    for epoch in range(args.epochs):
        model.train()
        if weights is not None:
            order = rng.choice(len(tr), size=len(tr), p=weights / weights.sum())
        else:
            order = rng.permutation(len(tr))
        total = 0.0
        for s in range(0, len(order) - args.batch + 1, args.batch):
            b = torch.from_numpy(order[s:s + args.batch])
            with torch.autocast("cpu", dtype=torch.bfloat16):  # about twice as fast on AVX-512 BF16 CPUs
                out = model(x_tr[b].float(), None if c_tr is None else c_tr[b])
            loss = loss_of({k: v.float() for k, v in out.items()}, {k: v[b] for k, v in y_tr.items()})
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        probs = predict([model], x_va, c_va)
        score = selection_score(probs, {k: v[va] for k, v in labels.items()})
        history.append({"epoch": epoch + 1, "train_loss": total / (len(order) // args.batch), **score})
        print(json.dumps(history[-1]), file=sys.stderr)
        key = score["select"]
        if best is None or key < best:
            best, best_state = key, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, {"seed": seed, "history": history, "best_val": best}


def selection_score(probs: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict:
    """Validation figures; ``select`` (lower is better) picks the epoch:
    age MAE in years plus 100 x each classification error rate."""
    out, select = {}, 0.0
    for name, p in probs.items():
        if name == "age":
            mae = float(np.abs(p @ np.arange(AGES) - y["age"]).mean())
            out["val_age_mae"] = round(mae, 3)
            select += mae
        else:
            acc = float((p.argmax(1) == y[name]).mean())
            out[f"val_{name}_acc"] = round(acc, 4)
            select += 100 * (1 - acc)
    out["select"] = round(select, 4)
    return out


def int8_weights(path: Path) -> None:
    """Rewrite the model at ``path`` with each weight matrix stored as int8
    (one scale per output row) behind a DequantizeLinear node: a quarter of
    the size. prosopo folds them back to float32 when it loads the file
    (``prosopo.embed.sface.dequantize``, as for SFace)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    for init in list(graph.initializer):
        w = numpy_helper.to_array(init)
        if w.ndim < 2 or w.size < 4096:
            continue
        rows = w.reshape(w.shape[0], -1)
        scale = np.maximum(np.abs(rows).max(1), 1e-12).astype(np.float32) / 127
        q = np.rint(rows / scale[:, None]).astype(np.int8).reshape(w.shape)
        graph.initializer.remove(init)
        graph.initializer.extend([numpy_helper.from_array(q, f"{init.name}_int8"),
                                  numpy_helper.from_array(scale, f"{init.name}_scale"),
                                  numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{init.name}_zero")])
        graph.node.insert(0, helper.make_node("DequantizeLinear", [f"{init.name}_int8", f"{init.name}_scale",
                                                                   f"{init.name}_zero"], [init.name], axis=0))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def shipped_predict(path: Path, x: np.ndarray, colour: np.ndarray | None) -> dict[str, np.ndarray]:
    """The exported file's outputs, run as prosopo runs it (ONNX Runtime,
    weights folded to float32)."""
    from prosopo.attributes.heads import load_head

    sess = load_head(path)
    names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list] = {}
    for s in range(0, len(x), 1024):
        feeds = {"trunk": np.asarray(x[s:s + 1024], np.float32)}
        if colour is not None:
            feeds["colour"] = colour[s:s + 1024]
        for k, v in zip(names, sess.run(None, feeds)):
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def export(heads: list[Head], path: Path) -> bool:
    """Write the heads' mean as ONNX; whether its weights had to be stored as int8."""
    wrapped = Exported(heads).eval()
    dummy = (torch.zeros(1, 1024, 7, 7),)
    names = ["trunk"]
    if heads[0].colour is not None:
        dummy += (torch.zeros(1, 3, COLOUR_GRID, COLOUR_GRID),)
        names.append("colour")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(wrapped, dummy, str(path), input_names=names, output_names=wrapped.names,
                      dynamic_axes={**{n: {0: "batch"} for n in names}, **{n: {0: "batch"} for n in wrapped.names}},
                      opset_version=17, dynamo=False)
    if path.stat().st_size <= MAX_BYTES:
        return False
    int8_weights(path)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--data", type=Path, default=Path("~/datasets/prepared"))
    parser.add_argument("--out", type=Path, default=MODELS)
    parser.add_argument("--reports", type=Path, default=REPO / "training" / "reports")
    parser.add_argument("--name", help="file stem (default: the task)")
    parser.add_argument("--balance", action="store_true")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--squeeze", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heads", type=int, default=1, help="heads to train (seeds seed, seed+1, ...) and average")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset, _, view = TASKS[args.task]
    data = Prepared(args.data, dataset)
    if dataset == "utk":
        reserved = {p.name for p in MINI.glob("*.jpg")}
        split = utk_split(data, reserved)
        (args.reports / "splits").mkdir(parents=True, exist_ok=True)
        (args.reports / "splits" / "utk-test.txt").write_text(
            "\n".join(n for n, s in zip(data.names(), split) if s == "test") + "\n")
    else:
        split = fer_split(data)
    colour = colour_of(data, view)
    start = time.time()
    trained = [train(args.task, data, colour, split, args.seed + i, args) for i in range(args.heads)]
    seconds = time.time() - start
    name = args.name or args.task
    heads = [model for model, _ in trained]
    int8 = export(heads, args.out / f"{name}.onnx")
    te = np.flatnonzero(split == "test")
    probs = shipped_predict(args.out / f"{name}.onnx", np.ascontiguousarray(data.trunk[te]),
                            None if colour is None else colour[te])
    result = report(args.task, data, te, probs)
    result.update({
        "task": args.task, "name": name, "dataset": dataset, "view": view, "balanced": args.balance,
        "split_sizes": {s: int((split == s).sum()) for s in ("train", "val", "test")},
        "training_seconds": round(seconds, 1), "hyperparameters": {
            k: getattr(args, k) for k in ("epochs", "batch", "lr", "weight_decay", "squeeze", "hidden",
                                          "dropout", "seed", "balance", "heads")},
        **({"colour_grid": COLOUR_GRID} if colour is not None else {}),
        "onnx_bytes": (args.out / f"{name}.onnx").stat().st_size, "int8_weights": int8,
        **(trained[0][1] if len(trained) == 1 else {"heads": [log for _, log in trained]}),
    })
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("history", "groups", "age_bands")}, indent=1))


if __name__ == "__main__":
    main()
