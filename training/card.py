"""Write a model card (markdown, beside the ONNX file) from a training report.

    python training/card.py training/reports/age-gender.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "src" / "prosopo" / "attributes" / "models"

DATA = {
    "utk": (
        "UTKFace (Zhang, Song and Qi, 2017): 23,704 web photos of faces aged 0 to 116, with age, gender "
        "(male/female) and race (White, Black, Asian, Indian, Others) labels that were estimated by the "
        "dataset's authors and annotators, not self-reported. **Licence: non-commercial research use only.** "
        "A model trained on it inherits that restriction; check before any commercial use.",
        "UTKFace has no identities, so the split is made subject-independent here: SFace embeddings join "
        "photos of the same person (cosine distance below 0.45 for adults, 0.30 for children up to 12, 0.15 "
        "for babies up to 3, since SFace places children close together), and each such group goes whole "
        "into train (80%), validation (10%) or test (10%), drawn with a fixed seed. Groups holding a photo of "
        "the CI subset `utk-mini` are all in test. The test file list is `training/reports/splits/utk-test.txt`.",
    ),
    "fer": (
        "FER2013 (Goodfellow et al., 2013): 35,887 grey 48x48 faces from web searches, labelled with one of "
        "seven expressions. **Licence: research use only.** Posed and spontaneous expressions of mostly adult, "
        "mostly lighter-skinned faces; labels are noisy (human agreement is estimated near 65%).",
        "The dataset's own split: Training (28,709) for training, PublicTest (3,435 here: this copy lacks 154 "
        "surprise images) for choosing the epoch, PrivateTest (3,589) for the figures below, used once.",
    ),
}


FER_LIKE = "and shown as FER2013 shows faces: grey, reduced to FER's resolution and enlarged back"
VIEWS = {
    "fer-like": FER_LIKE,
    "fer-like+colour": FER_LIKE + ("; beside it, a branch (a 1x1 convolution to 16 channels, one layer of 64) "
                                   "reads the crop's colour as a {grid}x{grid} grid of CIE Lab values"),
}


def view_of(r: dict) -> str:
    """The view of the face the head reads (the emotion report predates views: FER-like)."""
    return r.get("view", "fer-like")


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _remedy(r: dict, other: dict) -> list[str]:
    """Balanced sampling against plain sampling: overall figures and gaps."""
    keys = [k for k in ("age_mae", "gender_accuracy", "race_accuracy") if k in r]
    lines = ["", "Balanced sampling (what ships) against plain sampling (`training/reports/"
             f"{other['name']}.json`), same split and seed:", "",
             "| | " + " | ".join(keys) + " | " + " | ".join(f"gap in {k}" for k in keys) + " |",
             "|---|" + "---|" * (2 * len(keys))]
    for label, rep in (("balanced", r), ("plain", other)):
        gaps = {g["metric"]: g["largest_gap"] for g in rep["gaps"]}
        lines.append(f"| {label} | " + " | ".join(_fmt(k, rep[k]) for k in keys) + " | "
                     + " | ".join(_fmt(k, gaps[k]) for k in keys) + " |")
    return lines


def card(r: dict, other: dict | None = None) -> str:
    data, split = DATA[r["dataset"]]
    hp = r["hyperparameters"]
    lines = [f"# Model card: `{r['name']}.onnx`", ""]
    lines += ["## What it does", "",
              f"Task `{r['task']}`. A small head (a 1x1 convolution to {r['hyperparameters']['squeeze']} "
              f"channels, one hidden layer of {r['hyperparameters']['hidden']}) on the 1024x7x7 feature map of "
              "SFace's trunk (the recognizer without its embedding layer) for a face aligned to the 112x112 "
              f"ArcFace template {VIEWS[view_of(r)].format(grid=r.get('colour_grid'))}."
              + (f" The mean of {hp['heads']} such heads, trained from seeds {hp['seed']} to "
                 f"{hp['seed'] + hp['heads'] - 1}." if hp.get("heads", 1) > 1 else "")
              + (" Weights stored as int8 (one scale per row) to keep the file small, folded back to float32 "
                 "when prosopo loads it." if r.get("int8_weights") else "")
              + f" {r['onnx_bytes'] / 1e6:.1f} MB, ONNX, run with ONNX Runtime.", ""]
    lines += ["## Data and licence", "", data, "", "## Split", "", split, "",
              f"Sizes: train {r['split_sizes']['train']}, validation {r['split_sizes']['val']}, "
              f"test {r['split_sizes']['test']}. YuNet found no face in {r['test_images_without_detection']} "
              "test images; those use the dataset's median landmarks.", ""]
    lines += ["## Training", "",
              f"`python training/train.py {r['task']}{' --balance' if r['balanced'] else ''}"
              f"{' --heads ' + str(hp['heads']) if hp.get('heads', 1) > 1 else ''}` after "
              "`training/extract.py`; seed " + str(hp["seed"]) + f", {hp['epochs']} epochs, AdamW lr {hp['lr']}, "
              f"weight decay {hp['weight_decay']}, dropout {hp['dropout']}, batch {hp['batch']}"
              + (", gender x race groups sampled equally" if r["balanced"] else "")
              + f". The epoch with the best validation score is kept. Training took {r['training_seconds']:.0f} s "
              "on a 2-core CPU (after feature extraction).", ""]
    lines += ["## Results on the held-out test split", ""]
    if "age_mae" in r:
        lines.append(f"- Age mean absolute error: **{r['age_mae']:.2f} years**")
    if "gender_accuracy" in r:
        lines.append(f"- Gender accuracy: **{pct(r['gender_accuracy'])}** (ages 18 and over: "
                     f"{pct(r['gender_accuracy_adults_18plus'])})")
    for key in ("race_accuracy", "emotion_accuracy"):
        if key in r:
            lines.append(f"- {key.split('_')[0].capitalize()} accuracy: **{pct(r[key])}**")
    if "recall" in r:
        lines += ["", "Recall per class:", "", "| class | recall |", "|---|---|"]
        lines += [f"| {c} | {pct(v)} |" for c, v in r["recall"].items()]
    if "age_bands" in r and any("age_mae" in v or "gender_accuracy" in v for v in r["age_bands"].values()):
        cols = [k for k in ("age_mae", "gender_accuracy") if k in next(iter(r["age_bands"].values()))]
        lines += ["", "Per age band:", "", "| ages | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for band, v in r["age_bands"].items():
            lines.append(f"| {band} | {v['n']} | " + " | ".join(_fmt(k, v[k]) for k in cols) + " |")
    if "groups" in r:
        cols = [k for k in ("age_mae", "gender_accuracy", "race_accuracy") if k in next(iter(r["groups"].values()))]
        lines += ["", "Per gender x race group (UTKFace's labels):", "",
                  "| group | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for g, v in r["groups"].items():
            lines.append(f"| {g} | {v['n']} | " + " | ".join(_fmt(k, v[k]) for k in cols) + " |")
        lines += [""] + [f"- Largest gap in {gap['metric']}: {_fmt(gap['metric'], gap['largest_gap'])} "
                         f"({gap['highest']} highest, {gap['best_or_lowest']} lowest)" for gap in r["gaps"]]
        if other is not None:
            lines += _remedy(r, other)
    lines += ["", "## Limits", "",
              "- Trained and tested on web photos of one dataset; other cameras, lighting, ages or populations "
              "can do worse. Test-set group sizes are small, so per-group figures carry several points of noise.",
              "- Estimates of tiny or blurred faces are flagged `reliable=False` by prosopo, not suppressed.",
              "- Gender here is the dataset's binary label of apparent gender, not anyone's identity."]
    if r["task"] == "race":
        lines.append("- Race is inferred from appearance with coarse, annotator-assigned labels. Inferring race or "
                     "ethnicity from faces is restricted or prohibited in some uses (for example the EU AI Act's "
                     "ban on biometric categorisation by race). prosopo runs it only when asked for by name.")
    if r["task"] == "emotion":
        lines.append("- Trained on grey 48x48 faces; prosopo gives it the face in grey at a matching resolution. "
                     "Expressions are not emotions: a smile is not proof of happiness.")
    return "\n".join(lines) + "\n"


def _fmt(key: str, v: float) -> str:
    return f"{v:.2f}" if key == "age_mae" else pct(v)


def main() -> None:
    for path in sys.argv[1:]:
        r = json.loads(Path(path).read_text())
        plain = Path(path).with_name(f"{r['name']}-unbalanced.json")
        other = json.loads(plain.read_text()) if r["balanced"] and plain.is_file() else None
        out = MODELS / f"{r['name']}.md"
        out.write_text(card(r, other))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
