"""The ``prosopo`` command line. Thin: it parses, calls :mod:`prosopo.api`,
and formats. Heavy modules are imported inside the commands so that
``prosopo --help`` stays fast.

Exit codes: 0 success (for ``verify``: same person), 1 ``verify`` ran and
found different people, 2 bad usage or parameter, 3 unreadable image,
4 no face found, 5 model missing or failing, 6 bad dataset, 7 gallery store
unusable (damaged, other model, missing key), 8 identity not found,
9 spoof rejected, 10 Ray missing, unreachable or failing (``enroll --ray``).
``find`` exits 0 when someone matched and 1 when nobody did; ``spoof`` 0
when every face is live and 1 when one is not.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..embed import RECOGNIZERS
from ..errors import ParameterError, ProsopoError
from ..liveness import DEFAULT_THRESHOLD as SPOOF_THRESHOLD
from ..metrics import METRICS
from .anonymize import anonymize as anonymize_command
from .common import (
    ACTIONS_HELP,
    DEFAULT_ACTIONS_TEXT,
    DEFAULT_METRIC,
    METRIC_HELP,
    AnyFace,
    AutoRotate,
    Detector,
    Flip,
    Json,
    Model,
    NoAlign,
    _emit,
    _fail,
    choices,
    progress_bar,
    write_output,
)
from .gallery import EnrollCommand, enroll, find, gallery_app
from .server import keys_app, serve
from .video import video as video_command

if TYPE_CHECKING:
    import numpy as np
    from rich.progress import TaskID

    from ..types import Analysis

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


class Licence(str, Enum):
    any = "any"
    commercial = "commercial"


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"prosopo {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[bool | None, typer.Option("--version", callback=_print_version, is_eager=True,
                                                 help="Print prosopo's version and exit.")] = None,
    licence: Annotated[Licence | None, typer.Option(
        help="commercial: refuse every model whose terms forbid commercial use (as PROSOPO_LICENCE does).",
        case_sensitive=False)] = None,
) -> None:
    if licence is not None:
        import os

        from ..models import LICENCE_ENV

        os.environ[LICENCE_ENV] = licence.value  # the web service's worker processes inherit it


@app.command()
def verify(
    image1: Annotated[str, typer.Argument(help="First photo: a path, a base64 string or a data URI.")],
    image2: Annotated[str, typer.Argument(help="Second photo.")],
    model: Model = DEFAULT_MODEL,
    detector: Detector = DEFAULT_DETECTOR,
    metric: Annotated[str, typer.Option(help=METRIC_HELP)] = DEFAULT_METRIC,
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
        if output is not None:
            import numpy as np

            array = np.stack([r.embedding for r in results])

            def save(path: Path) -> None:
                with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a path
                    np.save(f, array)

            write_output(output, save)
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"face {i}: {r.face.box.text()} score {r.face.score:.3f}, {len(r.embedding)}-D {r.model} embedding"
             for i, r in enumerate(results)]
    if output is not None:
        lines.append(f"saved {len(results)} x {len(results[0].embedding)} array to {output}")
    _emit([r.to_dict() for r in results], json_out, "\n".join(lines))


@app.command()
def detect(
    image: Annotated[str, typer.Argument(help="Photo to search for faces.")],
    detector: Detector = DEFAULT_DETECTOR,
    draw: Annotated[Path | None, typer.Option(
        help="Save a copy (.jpg, .png, .webp) with each face's box, landmarks and number drawn.")] = None,
    min_face_size: Annotated[float, typer.Option(help="Ignore faces smaller than this (pixels).")] = 0,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """List the faces in a photo: boxes, scores, landmarks."""
    from .. import api

    try:
        if draw is not None:
            from ..draw import check_writable, draw_faces

            check_writable(draw)
        faces = api.detect(image, detector=detector, min_face_size=min_face_size, auto_rotate=auto_rotate)
        if draw is not None:
            draw_faces(image, faces, draw)
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{len(faces)} face(s)"] + [
        f"face {i}: {f.box.text()} score={f.score:.3f}"
        for i, f in enumerate(faces)
    ]
    if draw is not None:
        lines.append(f"drawn to {draw}")
    _emit([f.to_dict() for f in faces], json_out, "\n".join(lines))


@app.command()
def analyze(
    image: Annotated[str, typer.Argument(help="Photo to analyse.")],
    actions: Annotated[str, typer.Option(help=ACTIONS_HELP)] = DEFAULT_ACTIONS_TEXT,
    detector: Detector = DEFAULT_DETECTOR,
    draw: Annotated[Path | None, typer.Option(
        help="Save a copy (.jpg, .png, .webp) with each face's box, number and estimates drawn.")] = None,
    min_face_size: Annotated[float, typer.Option(help="Ignore faces smaller than this (pixels).")] = 0,
    any_face: AnyFace = False,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """Estimate age, gender and emotion (race only when asked) of each face."""
    import warnings

    from .. import api

    try:
        if draw is not None:
            from ..draw import check_writable, draw_faces

            check_writable(draw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = api.analyze(image, actions=actions, detector=detector, min_face_size=min_face_size,
                                  enforce_detection=not any_face, auto_rotate=auto_rotate)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        if draw is not None:
            draw_faces(image, [r.face for r in results], draw, labels=[_label(r) for r in results])
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{len(results)} face(s)"] + [f"face {i}: {_label(r)} at {r.face.box.text()}"
                                           + ("" if r.reliable else " (unreliable: " + "; ".join(r.warnings) + ")")
                                           for i, r in enumerate(results)]
    if draw is not None:
        lines.append(f"drawn to {draw}")
    _emit([r.to_dict() for r in results], json_out, "\n".join(lines))


def _label(r: Analysis) -> str:
    parts = []
    if r.age is not None:
        parts.append(f"{r.age:.0f}y")
    for name in ("gender", "emotion", "race"):
        top = getattr(r, f"dominant_{name}")
        if top is not None:
            parts.append(f"{top} {getattr(r, name)[top]:.0%}")
    if r.pose is not None:
        parts.append("yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}".format(**r.pose))
    if r.quality is not None:
        parts.append(f"quality {r.quality.score:.2f}")
    return ", ".join(parts)


models_app = typer.Typer(help="What models prosopo knows; add user-supplied model files.",
                         invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context, json_out: Json = False) -> None:
    """What models prosopo knows, which are installed, their size, LFW accuracy
    and licence terms (PROSOPO_LICENCE=commercial refuses the non-commercial ones)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..catalog import catalog

    try:
        rows = catalog()
    except ProsopoError as exc:  # an unknown PROSOPO_LICENCE
        _fail(exc, json_out)
    width = max(len(r["name"]) for r in rows)
    kind_width = max(len(r["kind"]) for r in rows)
    lines = []
    for r in rows:
        if r["installed"]:
            state = "installed"
        elif r["location"]:
            state = f"not installed (prosopo models add {r['name']} DIR puts its files in {r['location']})"
        else:
            state = f"not installed (pip install 'prosopo[{r['extra']}]')"
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] else "-"
        acc = f"LFW {r['lfw_accuracy'] * 100:.2f}% ({r['lfw_detector']})" if r.get("lfw_accuracy") else ""
        use = "commercial use allowed" if r["commercial_use"] else "no commercial use"
        refused = "" if r["allowed"] else "; refused by the licence policy 'commercial'"
        pad = f"{'':<{kind_width}} {'':<{width}}"
        lines.append(f"{r['kind']:<{kind_width}} {r['name']:<{width}}  {size:>8}  {acc:<19} {state}\n"
                     f"{pad}  {r['summary']}\n"
                     f"{pad}  terms: {r['terms']} ({use}{refused}); weights: {r['licence']}")
        if r.get("source") and not r["installed"]:
            lines.append(f"{pad}  files: {r['source']}")
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
        help=f"Live probability below which a face is a spoof (default {SPOOF_THRESHOLD}, chosen on NUAA).")] = None,
    min_face_size: Annotated[float, typer.Option(help="Ignore faces smaller than this (pixels).")] = 0,
    no_enforce: Annotated[bool, typer.Option(
        "--no-enforce", help="Check the whole image when no face is found (default: exit code 4).")] = False,
    auto_rotate: AutoRotate = False,
    json_out: Json = False,
) -> None:
    """Is each face live, or a printed photo? Exit 0 if every face is live, 1 if any is not,
    4 if there is no face, 5 without the anti-spoofing model files (whatever the photo)."""
    from .. import api

    try:
        faces = api.check_liveness(image, detector=detector, threshold=threshold, min_face_size=min_face_size,
                                   enforce_detection=not no_enforce, auto_rotate=auto_rotate)
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"face {i}: {'live' if f.is_real else 'SPOOF'} (live probability {f.spoof_score:.3f}) at "
             f"{f.box.text()}" for i, f in enumerate(faces)]
    _emit([f.to_dict() for f in faces], json_out, "\n".join(lines))
    raise typer.Exit(0 if all(f.is_real for f in faces) else 1)


@evaluate_app.command("lfw")
def evaluate_lfw(
    images: Annotated[Path, typer.Option(help="LFW images folder (<Name>/<Name>_NNNN.jpg).")],
    pairs: Annotated[Path, typer.Option(help="Official pairs.txt (10 folds) or a 1-fold subset.")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help=f"Recognizer: {choices(RECOGNIZERS.names(), DEFAULT_MODEL)}; repeat to compare.")] = None,
    detector: Detector = DEFAULT_DETECTOR,
    metric: Annotated[list[str] | None, typer.Option(
        help=f"Distance: {', '.join(METRICS)} (default {DEFAULT_METRIC}); repeat to compare.")] = None,
    flip: Flip = False,
    no_align: NoAlign = False,
    cache: Annotated[Path | None, typer.Option(help="Cache folder for detections and embeddings.")] = None,
    roc: Annotated[Path | None, typer.Option(help="Save the ROC curve(s) as an image (.png, .jpg, .webp).")] = None,
    workers: Annotated[int, typer.Option(help="Images processed at once.")] = 2,
    json_out: Json = False,
) -> None:
    """LFW verification accuracy, 10-fold cross validation (mean +- std)."""
    from .. import evaluate
    from ..models import cache_dir

    cache = cache or cache_dir() / "lfw"
    results: list[evaluate.Result] = []
    curves: list[tuple[str, np.ndarray]] = []
    try:
        if roc is not None:
            from ..draw import check_writable, draw_roc

            check_writable(roc)
        pair_list = evaluate.read_pairs(pairs)
        names = {p.left for p in pair_list} | {p.right for p in pair_list}
        for m in model or [DEFAULT_MODEL]:
            with progress_bar(not json_out) as bar:
                task = bar.add_task(f"embedding with {m}", total=evaluate.progress_steps(m, len(names)))

                def advance(n: int, task: TaskID = task) -> None:
                    bar.advance(task, n)

                emb = evaluate.embed_images(images, names, model=m, detector=detector, align=not no_align,
                                            flip=flip, cache=cache, workers=workers, progress=advance)
            for met in metric or [DEFAULT_METRIC]:
                dist = evaluate.pair_distances(pair_list, emb, met)
                result = evaluate.kfold(dist, pair_list, model=m, detector=detector, metric=met,
                                        undetected=len(emb.undetected))
                results.append(result)
                curves.append((f"{m} {met} ({result.accuracy * 100:.2f}%)", dist))
        if roc is not None:
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


app.command(cls=EnrollCommand)(enroll)
app.command()(find)
app.add_typer(gallery_app, name="gallery")
app.command(name="anonymize")(anonymize_command)
app.command(name="video")(video_command)


def main() -> None:
    """Run the command line. Each command turns the errors it expects into a
    message and an exit code; a file or folder the system refuses that one
    did not expect still ends in one line (exit code 2), not a traceback."""
    import os
    import sys

    try:
        app()
    except BrokenPipeError:  # the reader went away (``prosopo ... | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
        raise SystemExit(2) from None
