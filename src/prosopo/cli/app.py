"""The ``prosopo`` command line. Thin: it parses, calls :mod:`prosopo.api`,
and formats. Heavy modules are imported inside the commands so that
``prosopo --help`` stays fast.

Exit codes: 0 success (for ``verify``: same person), 1 ``verify`` ran and
found different people, 2 bad usage or parameter, 3 unreadable image,
4 no face found, 5 model missing or failing, 6 bad dataset, 7 gallery store
unusable (damaged, other model, missing key), 8 identity not found,
9 spoof rejected. ``find`` exits 0 when someone matched and 1 when nobody
did; ``spoof`` 0 when every face is live and 1 when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..errors import ParameterError, ProsopoError
from .common import AnyFace, AutoRotate, Detector, Flip, Json, Model, NoAlign, _emit, _fail
from .gallery import enroll, find, gallery_app
from .server import keys_app, serve

app = typer.Typer(
    help="Offline face recognition: detect, verify, represent, analyze, find, enroll, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
evaluate_app = typer.Typer(help="Measure accuracy on standard benchmarks.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(keys_app, name="keys")
app.command()(serve)


@app.command()
def verify(
    image1: Annotated[str, typer.Argument(help="First photo: a path, a base64 string or a data URI.")],
    image2: Annotated[str, typer.Argument(help="Second photo.")],
    model: Model = DEFAULT_MODEL,
    detector: Detector = DEFAULT_DETECTOR,
    metric: Annotated[str, typer.Option(help="cosine, euclidean, euclidean_l2, angular.")] = "cosine",
    threshold: Annotated[str | None, typer.Option(help="A number, or an operating point like fmr=1e-3.")] = None,
    no_align: NoAlign = False,
    no_enforce: AnyFace = False,
    flip: Flip = False,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """Are the two photos the same person? Exit code 0 if yes, 1 if no."""
    from .. import api

    try:
        result = api.verify(image1, image2, model=model, detector=detector, metric=metric,
                            threshold=threshold, align=not no_align,
                            enforce_detection=not no_enforce, flip=flip, auto_rotate=auto_rotate)
    except ProsopoError as exc:
        _fail(exc, json_out)
    verdict = "same person" if result.verified else "different people"
    _emit(result.to_dict(), json_out,
          f"{verdict}: distance {result.distance:.4f} {'<=' if result.verified else '>'} threshold "
          f"{result.threshold:.4f} ({result.model}, {result.metric})")
    raise typer.Exit(0 if result.verified else 1)


@app.command()
def represent(
    image: Annotated[str, typer.Argument(help="Photo to embed.")],
    model: Model = DEFAULT_MODEL,
    detector: Detector = DEFAULT_DETECTOR,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the embeddings to a .npy file.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Keep only the largest N faces.")] = None,
    no_align: NoAlign = False,
    no_enforce: AnyFace = False,
    flip: Flip = False,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """Print (or save as .npy) one embedding per face, largest face first."""
    from .. import api

    try:
        results = api.represent(image, model=model, detector=detector, align=not no_align,
                                enforce_detection=not no_enforce, max_faces=max_faces, flip=flip,
                                auto_rotate=auto_rotate)
    except ProsopoError as exc:
        _fail(exc, json_out)
    if output is not None:
        import numpy as np

        np.save(output, np.stack([r.embedding for r in results]))
    lines = [f"face {i}: box {r.face.box.to_dict()} score {r.face.score:.3f}, {len(r.embedding)}-D {r.model} embedding"
             for i, r in enumerate(results)]
    if output is not None:
        lines.append(f"saved {len(results)} x {len(results[0].embedding)} array to {output}")
    _emit([r.to_dict() for r in results], json_out, "\n".join(lines))


@app.command()
def detect(
    image: Annotated[str, typer.Argument(help="Photo to search for faces.")],
    detector: Detector = DEFAULT_DETECTOR,
    draw: Annotated[Path | None, typer.Option(help="Save a copy with boxes and landmarks drawn.")] = None,
    min_face_size: Annotated[float, typer.Option(help="Ignore faces smaller than this (pixels).")] = 0,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """List the faces in a photo: boxes, scores, landmarks."""
    from .. import api

    try:
        faces = api.detect(image, detector=detector, min_face_size=min_face_size, auto_rotate=auto_rotate)
        if draw is not None:
            from ..draw import draw_faces

            draw_faces(image, faces, draw)
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{len(faces)} face(s)"] + [
        f"face {i}: x={f.box.x:.0f} y={f.box.y:.0f} w={f.box.w:.0f} h={f.box.h:.0f} score={f.score:.3f}"
        for i, f in enumerate(faces)
    ]
    if draw is not None:
        lines.append(f"drawn to {draw}")
    _emit([f.to_dict() for f in faces], json_out, "\n".join(lines))


@app.command()
def analyze(
    image: Annotated[str, typer.Argument(help="Photo to analyse.")],
    actions: Annotated[str, typer.Option(
        help="Comma-separated: age, gender, emotion, race. Race only when named (see README: restricted uses).")]
    = "age,gender,emotion",
    detector: Detector = DEFAULT_DETECTOR,
    draw: Annotated[Path | None, typer.Option(help="Save a copy with boxes and labels drawn.")] = None,
    min_face_size: Annotated[float, typer.Option(help="Ignore faces smaller than this (pixels).")] = 0,
    any_face: AnyFace = False,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """Estimate age, gender and emotion (race only when asked) of each face."""
    import warnings

    from .. import api

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = api.analyze(image, actions=actions, detector=detector, min_face_size=min_face_size,
                                  enforce_detection=not any_face, auto_rotate=auto_rotate)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        if draw is not None:
            from ..draw import draw_faces

            draw_faces(image, [r.face for r in results], draw, labels=[_label(r) for r in results])
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{len(results)} face(s)"] + [f"face {i}: {_label(r)}" + ("" if r.reliable else " (unreliable: "
                                           + "; ".join(r.warnings) + ")") for i, r in enumerate(results)]
    if draw is not None:
        lines.append(f"drawn to {draw}")
    _emit([r.to_dict() for r in results], json_out, "\n".join(lines))


def _label(r) -> str:
    parts = []
    if r.age is not None:
        parts.append(f"{r.age:.0f}y")
    for name in ("gender", "emotion", "race"):
        top = getattr(r, f"dominant_{name}")
        if top is not None:
            parts.append(f"{top} {getattr(r, name)[top]:.0%}")
    return ", ".join(parts)


models_app = typer.Typer(help="What models prosopo knows; add user-supplied model files.",
                         invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context, json_out: Json = False) -> None:
    """What models prosopo knows, which are installed, their size and LFW accuracy."""
    if ctx.invoked_subcommand is not None:
        return
    from ..catalog import catalog

    rows = catalog()
    width = max(len(r["name"]) for r in rows)
    lines = []
    for r in rows:
        state = "installed" if r["installed"] else f"not installed (pip install 'prosopo[{r['extra']}]')"
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] else "-"
        acc = f"LFW {r['lfw_accuracy'] * 100:.2f}% ({r['lfw_detector']})" if r.get("lfw_accuracy") else ""
        licence = f"; weights: {r['licence']}" if r.get("licence") else ""
        lines.append(f"{r['kind']:<10} {r['name']:<{width}}  {size:>8}  {acc:<19} {state}\n"
                     f"{'':<10} {'':<{width}}  {r['summary']}{licence}")
    _emit(rows, json_out, "\n".join(lines))


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Argument(help="The model: minifasnet (anti-spoofing).")],
    folder: Annotated[Path, typer.Argument(help="Folder holding the model files.")],
    json_out: Json = False,
) -> None:
    """Copy user-supplied model files into prosopo's model folder after
    checking their SHA-256 (folder: $PROSOPO_MODELS, else ~/.local/share/prosopo/models)."""
    from .. import liveness

    try:
        if name != "minifasnet":
            raise ParameterError(f"unknown model {name!r}; the only user-supplied model is 'minifasnet'")
        done = liveness.add(folder)
    except ProsopoError as exc:
        _fail(exc, json_out)
    _emit({"model": name, "files": [str(p) for p in done]}, json_out,
          "\n".join(f"added {p}" for p in done))


@app.command()
def spoof(
    image: Annotated[str, typer.Argument(help="Photo to check.")],
    detector: Detector = DEFAULT_DETECTOR,
    threshold: Annotated[float | None, typer.Option(
        help="Live probability below which a face is a spoof (default 0.06, chosen on NUAA).")] = None,
    json_out: Json = False,
) -> None:
    """Is each face live, or a printed photo? Exit 0 if every face is live, 1 if any is not."""
    from ..pipeline import locate

    try:
        faces = locate(image, detector, align=False, anti_spoofing=True, spoof_threshold=threshold).faces
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"face {i}: {'live' if f.is_real else 'SPOOF'} (live probability {f.spoof_score:.3f})"
             for i, f in enumerate(faces)]
    _emit([f.to_dict() for f in faces], json_out, "\n".join(lines))
    raise typer.Exit(0 if all(f.is_real for f in faces) else 1)


@evaluate_app.command("lfw")
def evaluate_lfw(
    images: Annotated[Path, typer.Option(help="LFW images folder (<Name>/<Name>_NNNN.jpg).")],
    pairs: Annotated[Path, typer.Option(help="Official pairs.txt (10 folds) or a 1-fold subset.")],
    model: Annotated[list[str], typer.Option("--model", "-m", help="Recognizer; repeat to compare.")] = (DEFAULT_MODEL,),
    detector: Detector = DEFAULT_DETECTOR,
    metric: Annotated[list[str], typer.Option(help="Metric; repeat to compare.")] = ("cosine",),
    flip: Flip = False,
    no_align: NoAlign = False,
    cache: Annotated[Path | None, typer.Option(help="Cache folder for detections and embeddings.")] = None,
    roc: Annotated[Path | None, typer.Option(help="Save the ROC curve(s) as PNG.")] = None,
    workers: Annotated[int, typer.Option(help="Images processed at once.")] = 2,
    json_out: Json = False,
) -> None:
    """LFW verification accuracy, 10-fold cross validation (mean +- std)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from .. import evaluate
    from ..models import cache_dir

    cache = cache or cache_dir() / "lfw"
    results, curves = [], []
    try:
        pair_list = evaluate.read_pairs(pairs)
        names = {p.left for p in pair_list} | {p.right for p in pair_list}
        for m in model:
            with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), disable=json_out, transient=True) as bar:
                task = bar.add_task(f"embedding with {m}", total=evaluate.progress_steps(m, len(names)))
                emb = evaluate.embed_images(images, names, model=m, detector=detector, align=not no_align,
                                            flip=flip, cache=cache, workers=workers,
                                            progress=lambda n, task=task: bar.advance(task, n))
            for met in metric:
                dist = evaluate.pair_distances(pair_list, emb, met)
                result = evaluate.kfold(dist, pair_list, model=m, detector=detector, metric=met,
                                        undetected=len(emb.undetected))
                results.append(result)
                curves.append((f"{m} {met} ({result.accuracy * 100:.2f}%)", dist))
        if roc is not None:
            from ..draw import draw_roc

            draw_roc(curves, [p.same for p in pair_list], roc)
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{'model':<12} {'metric':<13} {'accuracy':>16} {'TAR@FAR=0.1%':>13} {'AUC':>7}  undetected"]
    for r in results:
        lines.append(f"{r.model:<12} {r.metric:<13} {r.accuracy * 100:>8.2f} +- {r.std * 100:4.2f}% "
                     f"{r.tar_at_far['0.001'] * 100:>12.2f}% {r.auc:7.4f}  {r.undetected}")
    lines.append(f"{results[0].pairs} pairs, {results[0].protocol}, detector {detector}")
    if roc is not None:
        lines.append(f"ROC saved to {roc}")
    _emit([r.to_dict() for r in results], json_out, "\n".join(lines))


app.command()(enroll)
app.command()(find)
app.add_typer(gallery_app, name="gallery")


def main() -> None:
    app()
