"""Snapshots of the learner's exercise files, taken before every grading (`grade`, each `watch` re-grade).

The code being graded runs in a throw-away folder, but it can still reach the learner's files by an
absolute path; a snapshot lets `pt-quiz restore` put back what it changed or deleted.

Layout, under ``.pt-quiz/snapshots/``: ``objects/<sha256>`` holds each distinct file content once;
``<time>-<pid>.json`` lists, for one snapshot, each file (its path relative to the project) and its
sha256. A snapshot identical to the newest one is not written again, so re-grading unchanged files
costs a read and a hash of each file (a few milliseconds). Kept: the newest ``MAX_SNAPSHOTS``
snapshots within ``MAX_STORE_BYTES`` of contents; files over ``MAX_FILE_BYTES`` are not copied.

Imports no torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .safeio import DATA_DIR, KitFileError, ensure_dir, explain, locked, write_file

MAX_SNAPSHOTS = 50
MAX_STORE_BYTES = 32 * 2**20
MAX_FILE_BYTES = 2**20


@dataclass
class Snapshot:
    name: str  # the manifest's file name
    time: float
    reason: str
    files: dict = field(default_factory=dict)  # key -> sha256

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))


def store(root: Path) -> Path:
    return root / DATA_DIR / "snapshots"


def key_for(root: Path, path: Path) -> str:
    """How a file is named in a snapshot: its path relative to the project, else absolute."""
    try:
        return path.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return str(path.absolute())


def path_for(root: Path, key: str) -> Path:
    p = Path(key)
    return p if p.is_absolute() else root / p


def digest(path: Path) -> str | None:
    """sha256 of the file's content (a link: what it points to); None when absent, unreadable, not a file, or
    over MAX_FILE_BYTES."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _manifests(root: Path) -> list[Path]:
    """Manifest files, oldest first."""
    try:
        return sorted(p for p in store(root).iterdir() if p.suffix == ".json" and p.is_file())
    except OSError:
        return []


def _read(path: Path) -> Snapshot | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = {str(k): str(v) for k, v in doc["files"].items()}
        return Snapshot(path.name, float(doc["time"]), str(doc.get("reason", "")), files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # damaged: ignored (and pruned in time)


def snapshots(root: Path) -> list[Snapshot]:
    """Every readable snapshot, newest first (the numbers `restore --list` shows are positions here, from 1)."""
    out = [s for s in map(_read, _manifests(root)) if s is not None]
    return out[::-1]


def take(root: Path, paths, reason: str = "") -> Snapshot:
    """Snapshot the files `paths` (those that exist) before grading. Raises KitFileError when .pt-quiz cannot be
    written (the caller decides whether to grade anyway)."""
    base = store(root)
    objects = ensure_dir(base / "objects", root)
    with locked(base / "lock", root):
        files, new_bytes = {}, 0
        for path in dict.fromkeys(Path(p) for p in paths):
            sha = digest(path)
            if sha is None:
                continue
            files[key_for(root, path)] = sha
            obj = objects / sha
            if not obj.exists():
                raw = path.read_bytes()
                if hashlib.sha256(raw).hexdigest() != sha:  # changed between the two reads: hash what we store
                    sha = hashlib.sha256(raw).hexdigest()
                    files[key_for(root, path)], obj = sha, objects / sha
                write_file(obj, raw, root)
                new_bytes += len(raw)
        manifests = _manifests(root)
        newest = _read(manifests[-1]) if manifests else None
        if newest is not None and newest.files == files:
            return newest  # nothing changed since the last grading: that snapshot still holds
        now = time.time()
        name = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{time.time_ns() % 10**9:09d}-{os.getpid()}.json"
        write_file(base / name, json.dumps({"time": now, "reason": reason, "files": files}, indent=1), root)
        _prune(root, objects, new_bytes)
        return Snapshot(name, now, reason, files)


def _prune(root: Path, objects: Path, new_bytes: int) -> None:
    """Keep the newest MAX_SNAPSHOTS snapshots and at most MAX_STORE_BYTES of contents; drop unreferenced contents."""
    manifests = _manifests(root)
    drop = manifests[:max(0, len(manifests) - MAX_SNAPSHOTS)]
    keep = manifests[len(drop):]
    if not drop and not new_bytes:
        return
    sizes = {}
    with contextlib.suppress(OSError):
        sizes = {e.name: e.stat().st_size for e in os.scandir(objects) if e.is_file()}
    if not drop and sum(sizes.values()) <= MAX_STORE_BYTES:
        return
    kept = [s for s in map(_read, keep) if s is not None]

    def used(snaps):
        return {sha for s in snaps for sha in s.files.values()}
    while len(kept) > 1 and sum(sizes.get(sha, 0) for sha in used(kept)) > MAX_STORE_BYTES:
        drop.append(store(root) / kept.pop(0).name)
    for m in drop:
        with contextlib.suppress(OSError):
            m.unlink()
    live = used(kept)
    for sha in sizes:
        if sha not in live and not sha.startswith("."):
            with contextlib.suppress(OSError):
                (objects / sha).unlink()


def content(root: Path, sha: str) -> bytes:
    """A snapshot's copy of a file, checked against its sha256."""
    obj = store(root) / "objects" / sha
    try:
        raw = obj.read_bytes()
    except OSError as e:
        raise explain(e, obj, root, doing="read") from None
    if hashlib.sha256(raw).hexdigest() != sha:
        raise KitFileError(f"the snapshot copy {obj} is damaged (its content does not match its name); pick an older "
                           "snapshot with --from (see `pt-quiz restore --list`).",
                           f"快照副本 {obj} 已损坏（内容与名称不符）；请用 --from 选择更早的快照（见 `pt-quiz restore --list`）。")
    return raw


def changed_since(root: Path, snap: Snapshot, paths) -> list[tuple[Path, str]]:
    """The files among `paths` that the snapshot holds and that now differ: (path, 'changed' | 'deleted')."""
    out = []
    for path in paths:
        sha = snap.files.get(key_for(root, Path(path)))
        if sha is None:
            continue
        now = digest(Path(path))
        if now != sha:
            out.append((Path(path), "changed" if Path(path).exists() else "deleted"))
    return out
