"""Downloading the models the app loads: exactly the files its loaders read, at the pinned commits, the total
size shown and the free disk checked first, a progress bar per file, and an interrupted download resumed.

The libraries' own download functions move the bytes: huggingface_hub's ``snapshot_download`` (a dry run lists
the files the patterns select, their sizes and which are cached), its ``hf_hub_download`` (each file into the
hub cache; a partial ``.incomplete`` blob is resumed with a range request), and whisper's own ``_download``
(which checks the checkpoint's SHA-256). ``HF_ENDPOINT`` and ``HF_HOME`` are honoured as everywhere else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Settings
from . import catalog
from .catalog import GROUPS, Model, ModelState, size_text as gb
from .hub import hf_cache_dir, whisper_cache_dir
from .loaders import best_device
from .mirror import DownloadError, guard_hub_client, safe_name

log = logging.getLogger("v2i.downloads")
# on_bytes(label, done, total): a model's bytes downloaded so far, of its total.
OnBytes = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PlannedFile:
    filename: str
    size: int
    cached: bool
    sha256: str | None = None  # what the hub's listing says the file's bytes hash to (its LFS object id)
    git_sha1: str | None = None  # the git blob id the listing gives (files not in LFS)


@dataclass(frozen=True)
class PlannedModel:
    state: ModelState
    commit: str | None  # the commit a hub revision resolved to
    files: tuple[PlannedFile, ...]

    @property
    def to_download(self) -> int:
        return sum(f.size for f in self.files if not f.cached)


@dataclass(frozen=True)
class Plan:
    models: tuple[PlannedModel, ...] = ()

    @property
    def total(self) -> int:
        """Bytes still to download."""
        return sum(m.to_download for m in self.models)


@dataclass
class _Tally:
    """One model's bytes: finished files plus the file in flight (thread-safe; the bars call it)."""

    label: str
    total: int
    on_bytes: OnBytes | None
    finished: int = 0
    current: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.current += n
            done = self.finished + self.current
        if self.on_bytes:
            self.on_bytes(self.label, min(done, self.total), self.total)

    def file_done(self, size: int) -> None:
        with self.lock:
            self.finished += size
            self.current = 0
        if self.on_bytes:
            self.on_bytes(self.label, min(self.finished, self.total), self.total)


def plan(settings: Settings, group: str = "all", *, recipes: tuple[str, ...] | None = None,
         safety_checker: bool = False, device: str | None = None, verify_cached: bool = False) -> Plan:
    """What a pull of ``group`` (whisper, sd, clip or all) would download: asks the hub (or whisper's server).
    With ``verify_cached``, the hub models already here are checked too (sizes and checksums against the hub's
    listing and the catalog's sizes): a damaged file is removed and planned again, so a pull repairs it."""
    if group not in GROUPS + ("all",):
        raise ValueError(f"unknown model group {group!r}; choose one of: {catalog.group_names()}")

    device = device or best_device()
    wanted = [state for state in catalog.states(settings, recipes=recipes, safety_checker=safety_checker, device=device)
              if group in ("all", state.model.group)]
    planned = [_plan_one(state) for state in wanted
               if not state.cached or (verify_cached and state.model.kind == "hub")]
    return Plan(tuple(p for p in planned if p.to_download or not p.state.cached))


def check_space(planned: Plan) -> None:
    """Refuse before downloading a byte when a disk has too little room for what goes onto it (the hub cache,
    and whisper's cache, which may be on another disk)."""

    need: dict[int, tuple[Path, int]] = {}
    for model in planned.models:
        folder = whisper_cache_dir() if model.state.model.kind == "whisper" else cache_folder()
        disk = _existing(folder).stat().st_dev
        first, total = need.get(disk, (folder, 0))
        need[disk] = (first, total + model.to_download)
    for folder, total in need.values():
        free = free_bytes(folder)
        if total > free:
            raise DownloadError(f"not enough disk space: the models need {gb(total)} in {folder} but only "
                                f"{gb(free)} is free. Fix: free some space, or set HF_HOME (and XDG_CACHE_HOME for "
                                "whisper) to a folder on a bigger disk, then run the pull again")


def pull(planned: Plan, *, on_bytes: OnBytes | None = None, bars: bool = True) -> None:
    """Download what ``planned`` lists; files already complete are skipped, a partial one is resumed."""
    for model in planned.models:
        tally = _Tally(model.state.model.label, model.to_download, on_bytes)
        tally.add(0)
        if model.state.model.kind == "whisper":
            _pull_whisper(model.state.model, tally, bars)
        else:
            _pull_hub(model, tally, bars)


def fetch_missing(settings: Settings, groups: tuple[str, ...], *, recipes: tuple[str, ...] | None = None,
                  safety_checker: bool = False, device: str, on_bytes: OnBytes | None = None) -> bool:
    """Before a job (or the embedder) loads its models: download those of ``groups`` that are missing, unless
    this server must stay offline (then the loader's own error says what to run). Returns whether it downloaded."""
    missing = [s for s in catalog.missing(settings, recipes=recipes, safety_checker=safety_checker, device=device)
               if s.model.kind in ("hub", "whisper") and s.model.group in groups]
    if not missing or os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    planned = Plan(tuple(_plan_one(state) for state in missing))
    check_space(planned)
    pull(planned, on_bytes=on_bytes, bars=False)
    return True


def cache_folder() -> Path:

    return hf_cache_dir()


def free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent)."""
    return shutil.disk_usage(_existing(folder)).free


def _existing(folder: Path) -> Path:
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


# -- hub models ----------------------------------------------------------------------------------------------


def _plan_one(state: ModelState) -> PlannedModel:
    model = state.model
    if model.kind == "whisper":
        return PlannedModel(state, model.revision, (PlannedFile(f"{model.source}.pt", _whisper_size(model), False),))
    if model.kind != "hub":
        where = "package" if model.kind == "bundled" else "path"
        raise DownloadError(f"the {model.label} model {model.source!r} is a local {where} "
                            "that is not there, so it cannot be downloaded. Fix: point its setting at an existing "
                            "folder, or at a hub id")
    from huggingface_hub import HfApi, snapshot_download  # huggingface_hub loads when a cache or the hub is looked at

    guard_hub_client()
    try:
        infos = snapshot_download(model.source, revision=model.revision, allow_patterns=list(model.patterns),
                                  cache_dir=cache_folder(), dry_run=True, tqdm_class=_silent_bar())
        for info in infos:
            safe_name(info.filename, "file name")
        commit = safe_name(infos[0].commit_hash, "commit") if infos else model.revision
        listed = {f.path: f for f in HfApi().list_repo_tree(model.source, revision=commit, recursive=True)
                  if hasattr(f, "size")}
    except Exception as err:
        raise DownloadError(f"could not download the {model.label} model {model.source} at {model.revision}: the hub "
                            f"could not list its files ({_gist(err)}). Fix: run `python -m core models pull "
                            f"{model.group}` where the network reaches the hub (HF_ENDPOINT names a mirror), or copy "
                            "the Hugging Face cache from a machine that has the models") from err
    files = tuple(_planned_file(model.source, info, listed.get(info.filename)) for info in infos)
    absent = [name for name in model.required if name not in {f.filename for f in files}]
    if absent:
        raise DownloadError(f"{model.source} at {model.revision} has no {', '.join(absent)}: it is not a model this "
                            f"app can load as {model.label}")
    return PlannedModel(state, commit, files)


def _planned_file(source: str, info, listed) -> PlannedFile:
    """One file of a plan, with what its bytes must be; a cached copy that is not that is removed (to repair)."""
    lfs = getattr(listed, "lfs", None)
    planned = PlannedFile(info.filename, info.file_size or 0, not info.will_download,
                          sha256=getattr(lfs, "sha256", None), git_sha1=getattr(listed, "blob_id", None))
    if planned.cached:
        try:
            verify_file(source, planned, Path(info.local_path))
        except DownloadError as err:
            log.warning("repairing a damaged cached file: %s", err)
            remove_cached(Path(info.local_path))
            return PlannedFile(planned.filename, planned.size, False, planned.sha256, planned.git_sha1)
    return planned


# -- what the bytes must be (what a mirror may send before them: core.models.mirror) ----------------------------------------

def verify_file(source: str, planned: PlannedFile, path: Path) -> None:
    """The downloaded (or cached) bytes are what the listing and the catalog say: size, then SHA-256 (or the git
    blob id); raises :class:`DownloadError` naming the file otherwise."""
    size = path.stat().st_size if path.is_file() else -1
    known = catalog.KNOWN_SIZES.get((source, planned.filename))
    for expected, by in ((planned.size or None, "the hub's listing"), (known, "the catalog's pinned size")):
        if expected is not None and size != expected:
            raise DownloadError(f"{source}/{planned.filename} is {size} bytes, but {by} says {expected}: not kept")
    if planned.sha256 or planned.git_sha1:
        digest = hashlib.sha256() if planned.sha256 else hashlib.sha1(f"blob {size}\0".encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(2 ** 22):
                digest.update(chunk)
        expected = planned.sha256 or planned.git_sha1
        if digest.hexdigest() != expected.lower():
            raise DownloadError(f"{source}/{planned.filename} does not match its checksum (the listing says "
                                f"{expected[:16]}..., the bytes hash to {digest.hexdigest()[:16]}...): not kept")


def remove_cached(path: Path) -> None:
    """A cached file's snapshot link and the blob it points to (only inside the cache)."""
    cache = cache_folder().resolve()
    for target in (path.resolve(), path):
        try:
            if target.is_relative_to(cache) or target == path:
                target.unlink()
        except OSError:
            pass


def _pull_hub(model: PlannedModel, tally: _Tally, bars: bool) -> None:
    from huggingface_hub import hf_hub_download  # huggingface_hub loads when a cache or the hub is looked at

    _remove_stale_partials(model.state.model.source)
    bar = _bar_class(tally, bars)
    for planned in model.files:
        if planned.cached:
            continue
        try:
            path = hf_hub_download(model.state.model.source, planned.filename, revision=model.commit,
                                   cache_dir=cache_folder(), tqdm_class=bar)
        except DownloadError:
            raise
        except Exception as err:
            if isinstance(err.__cause__ or err.__context__, DownloadError):
                raise err.__cause__ or err.__context__ from None
            raise DownloadError(f"the download of {model.state.model.source}/{planned.filename} stopped "
                                f"({_gist(err)}). Run the pull again: it resumes where it stopped") from err
        try:
            verify_file(model.state.model.source, planned, Path(path))
        except DownloadError:
            remove_cached(Path(path))
            raise
        tally.file_done(planned.size)


def _silent_bar():
    from tqdm.auto import tqdm  # tqdm loads with a download's progress bars

    class Silent(tqdm):  # a dry run's "Fetching N files" bar says nothing a person needs
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _remove_stale_partials(repo_id: str, idle_s: float = 600) -> None:
    """A pull killed outright (not stopped with Ctrl-C) leaves its file in flight as ``blobs/*.incomplete``, which
    huggingface_hub never reuses; remove those no download has written to for ``idle_s`` seconds."""
    # huggingface_hub loads when a cache or the hub is looked at
    from huggingface_hub.file_download import repo_folder_name

    blobs = cache_folder() / repo_folder_name(repo_id=repo_id, repo_type="model") / "blobs"
    for partial in blobs.glob("*.incomplete") if blobs.is_dir() else ():
        try:
            if time.time() - partial.stat().st_mtime > idle_s:
                partial.unlink()
        except OSError:
            pass  # another pull finished or removed it


def _bar_class(tally: _Tally, visible: bool):
    """A tqdm bar for one file that also tells ``tally`` each chunk (and the bytes a resumed file already had)."""
    from tqdm.auto import tqdm  # tqdm loads with a download's progress bars

    class FileBar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = not visible or kwargs.get("disable", False)
            super().__init__(*args, **kwargs)
            tally.add(kwargs.get("initial") or 0)

        def update(self, n=1):
            tally.add(n or 0)
            return super().update(n)

    return FileBar


# -- whisper's own checkpoints -----------------------------------------------------------------------------------

_whisper_guard = threading.Lock()


def _whisper_size(model: Model) -> int:
    if model.source in catalog.WHISPER_SIZES:
        return catalog.WHISPER_SIZES[model.source]

    import whisper  # openai-whisper loads with the model, on first use

    try:  # whisper's server says how big the checkpoint is
        with urllib.request.urlopen(urllib.request.Request(whisper._MODELS[model.source], method="HEAD"), timeout=10) as r:
            return int(r.headers.get("Content-Length") or 0)
    except Exception as err:
        raise DownloadError(f"could not reach whisper's download server for {model.source!r} ({_gist(err)})") from err


def _pull_whisper(model: Model, tally: _Tally, bars: bool) -> None:
    """whisper's own download (it checks the SHA-256 in the URL), its bar reporting to ``tally``."""
    import whisper  # openai-whisper loads with the model, on first use


    with _whisper_guard:  # whisper's bar is a module attribute: one download at a time swaps it
        original = whisper.tqdm
        whisper.tqdm = _bar_class(tally, bars)
        try:
            whisper._download(whisper._MODELS[model.source], str(whisper_cache_dir()), False)
        except Exception as err:
            raise DownloadError(f"the download of whisper {model.source!r} failed ({_gist(err)}). "
                                "Run the pull again") from err
        finally:
            whisper.tqdm = original
    tally.file_done(tally.total)


def _gist(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:200]
