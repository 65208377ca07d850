"""Writing the learner's files and the kit's own (``.pt-quiz/``) without ever losing anything.

* ``write_file``: a unique temporary file in the same folder, then ``os.replace``. Never writes
  through a symbolic link (the link itself is replaced), never half-writes a file, never collides
  with another pt-quiz writing the same file at the same moment.
* ``backup``: a copy of a file (what a link points to) under ``.pt-quiz/backups/``, never
  overwriting an older backup.
* ``locked``: an exclusive ``fcntl.flock`` on a lock file, for read-modify-write of shared files.
* ``KitFileError``: what went wrong (read-only folder, a folder where a file should be, ``.pt-quiz``
  being a file, ...) worded for the learner, in English and Chinese, with what to do.

Imports no torch.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from pathlib import Path

DATA_DIR = ".pt-quiz"


class KitFileError(Exception):
    """A file pt-quiz needs could not be read or written; ``msg`` = {'en', 'zh'} says why and what to do."""

    def __init__(self, en: str, zh: str):
        super().__init__(en)
        self.msg = {"en": en, "zh": zh}


def _show(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)


def explain(err: OSError, path: Path, root: Path | None = None, doing: str = "write") -> KitFileError:
    """An OSError on `path` as a message that says what to do."""
    p, r = _show(path), str(root) if root else os.getcwd()
    verb_zh = "写入" if doing == "write" else "读取"
    code = err.errno
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        why, why_zh = ("read-only file system", "只读文件系统") if code == errno.EROFS else ("permission denied", "权限不足")
        return KitFileError(
            f"cannot {doing} {p} ({why}). pt-quiz keeps your answers (exercises/) and your progress (.pt-quiz/) in the "
            f"project folder {r}, so that folder must be writable: make it writable (`chmod -R u+w {r}`), or copy the "
            f"project to a folder of your own (`cp -r {r} ~/pt-quiz && cd ~/pt-quiz`) and work there.",
            f"无法{verb_zh} {p}（{why_zh}）。pt-quiz 把你的答案（exercises/）和进度（.pt-quiz/）保存在项目文件夹 {r} 中，"
            f"该文件夹必须可写：请设为可写（`chmod -R u+w {r}`），或把项目复制到你自己的文件夹"
            f"（`cp -r {r} ~/pt-quiz && cd ~/pt-quiz`）后在那里操作。")
    if code == errno.EISDIR or path.is_dir():
        return folder_not_file(path)
    if code in (errno.ENOTDIR, errno.EEXIST):
        for parent in (path, *path.parents):
            if parent.name == DATA_DIR and parent.exists() and not parent.is_dir():
                return data_dir_is_a_file(parent)
    if code == errno.ENOSPC:
        return KitFileError(f"cannot write {p}: the disk is full. Free some space, then run the command again.",
                            f"无法写入 {p}：磁盘已满。请释放空间后重试。")
    return KitFileError(f"cannot {doing} {p}: {err.strerror or err}. Fix that, then run the command again.",
                        f"无法{verb_zh} {p}：{err.strerror or err}。解决后重试。")


def folder_not_file(path: Path) -> KitFileError:
    p = _show(path)
    stem = path.stem.split("_", 1)[0].lstrip("0")
    hint = f" and run `pt-quiz reset {stem}` for the starting stub" if stem.isdigit() else ""
    hint_zh = f"，再运行 `pt-quiz reset {stem}` 获取初始代码" if stem.isdigit() else ""
    return KitFileError(
        f"{p} is a folder, but pt-quiz expects a file of that name. Move the folder away "
        f"(`mv {p} {p}.folder`){hint}.",
        f"{p} 是一个文件夹，但 pt-quiz 需要的是同名文件。请把该文件夹移走（`mv {p} {p}.folder`）{hint_zh}。")


def data_dir_is_a_file(path: Path) -> KitFileError:
    p = _show(path)
    return KitFileError(
        f"{p} is a file, but pt-quiz keeps your progress, backups and snapshots in a folder of that name. "
        f"Rename the file (`mv {p} {p}.old`), then run the command again.",
        f"{p} 是一个文件，但 pt-quiz 需要同名文件夹来保存进度、备份和快照。请重命名该文件（`mv {p} {p}.old`）后重试。")


def not_a_regular_file(path: Path) -> KitFileError | None:
    """Why `path` cannot hold a learner's answer (a folder, a pipe, ...), or None if it can (or is absent)."""
    try:
        if path.is_dir():
            return folder_not_file(path)
        if path.exists() and not path.is_file():
            p = _show(path)
            return KitFileError(f"{p} is not a regular file (a pipe, socket or device?). Move it away (`mv {p} {p}.old`), "
                                "then run the command again.",
                                f"{p} 不是普通文件（管道、套接字或设备？）。请把它移走（`mv {p} {p}.old`）后重试。")
    except OSError as e:
        return explain(e, path, doing="read")
    return None


def ensure_dir(path: Path, root: Path | None = None) -> Path:
    """Create folder `path` (and parents); a file in the way or a read-only folder is a KitFileError."""
    for p in (path, *path.parents):
        if p.name == DATA_DIR and (p.is_file() or p.is_symlink() and not p.exists()):
            raise data_dir_is_a_file(p)
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise (data_dir_is_a_file(path) if path.name == DATA_DIR else folder_not_file(path)) from None
    except OSError as e:
        raise explain(e, path, root) from None
    return path


def write_file(path: Path, data: str | bytes, root: Path | None = None) -> None:
    """Write `data` to `path` atomically. A link at `path` is replaced by a regular file (what it pointed to is
    not touched); a folder at `path` is a KitFileError, as is a folder that cannot be written."""
    if path.is_dir() and not path.is_symlink():
        raise folder_not_file(path)
    ensure_dir(path.parent, root)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = path.lstat().st_mode & 0o7777 if path.is_file() and not path.is_symlink() else None
    except OSError:
        mode = None
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise explain(e, path, root) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise explain(e, path, root) from None


def _create_new(path: Path, raw: bytes) -> bool:
    """Create `path` with `raw` only if nothing is there yet (O_EXCL): False if something is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    return True


def backup(root: Path, path: Path) -> Path:
    """Copy `path` (for a link: what it points to) to .pt-quiz/backups/STEM.TIME.py; never overwrites a backup."""
    backups = ensure_dir(root / DATA_DIR / "backups", root)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise explain(e, path, root, doing="read") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = path.suffix or ".py"
    n = 0
    while True:
        dest = backups / (f"{path.stem}.{stamp}{suffix}" if n == 0 else f"{path.stem}.{stamp}-{n}{suffix}")
        try:
            if _create_new(dest, raw):
                return dest
        except OSError as e:
            raise explain(e, dest, root) from None
        n += 1


@contextlib.contextmanager
def locked(lock_path: Path, root: Path | None = None):
    """Hold an exclusive lock on `lock_path` (created if needed) for the duration of the block. Where
    fcntl is missing (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    ensure_dir(lock_path.parent, root)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise explain(e, lock_path, root) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def explain_unusable(results, paths: dict) -> None:
    """Word the grading result of each exercise whose file is a folder (or another non-file) as such, with what
    to do, instead of "missing: run reset" (which would fail on a folder). `paths`: number -> learner file."""
    for e in results:
        bad = not_a_regular_file(paths[e.number]) if e.number in paths else None
        if bad is None:
            continue
        msg = {**bad.msg, "kind": "load"}
        e.status, e.message = "error", msg
        for c in e.checks:
            if not c.passed:
                c.message, c.kind = msg, "load"
