"""Where the code being graded runs: a scratch folder of its own, never the learner's (or the instructor's)
project, so a relative ``os.remove`` or ``open(..., "w")`` in the learner's code lands there.

The plugin names the learner's files relative to the working directory; ``reroot`` turns those names back
into paths relative to the project, as if grading had run there.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path


def scratch_dir():
    """A fresh, empty working directory for the code being graded: a relative `os.remove` or `open(..., "w")` in
    the learner's code lands there, not among the learner's (or the instructor's) files."""
    return tempfile.TemporaryDirectory(prefix="ptquiz-cwd-")


def engine_importable(env: dict) -> dict:
    """`env` for a child started in a scratch folder, so it still imports this engine: a kit run from its own
    folder without being installed found `ptquiz` on its working directory. (An installed engine's folder,
    site-packages, is left alone: on PYTHONPATH it would come before the standard library.)"""
    import site

    if _installed():
        # found through the installed distribution: adding the project folder to PYTHONPATH would let a
        # top-level pytest_timeout.py (or any module name) there shadow the real plugins
        return env
    engine = os.path.realpath(Path(__file__).resolve().parent.parent)
    sites = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if engine not in sites and engine not in map(os.path.realpath, paths):
        env["PYTHONPATH"] = os.pathsep.join(paths + [engine])
    return env


@functools.lru_cache(maxsize=None)
def _installed() -> bool:
    """A child started in an empty folder already imports this very engine (pip install [-e] .): asked of a
    short child Python once per process, since only the child's own sys.path can say."""
    import subprocess
    import sys

    here = os.path.realpath(Path(__file__).resolve().parent)
    try:
        with tempfile.TemporaryDirectory(prefix="ptquiz-probe-") as d:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            out = subprocess.run([sys.executable, "-c", "import importlib.util as u; s = u.find_spec('ptquiz'); "
                                  "print(list(s.submodule_search_locations or [])[0] if s else '')"],
                                 cwd=d, env=env, capture_output=True, text=True, timeout=30)
        return bool(out.stdout.strip()) and os.path.realpath(out.stdout.strip()) == here
    except (OSError, subprocess.SubprocessError, IndexError):
        return False


def reroot(records: list[dict], learner_dirs, ran_in: str, shown_from: Path | None) -> list[dict]:
    """Messages name the learner's files relative to the child's working directory (a scratch folder): name
    them relative to `shown_from` (the project) instead, as if the child had run there."""
    pairs = []
    for d in dict.fromkeys(map(str, learner_dirs)):
        try:
            old = os.path.relpath(d, ran_in)
            new = os.path.relpath(d, shown_from or os.getcwd())
        except ValueError:  # another drive (Windows)
            continue
        pairs.append((old + os.sep, "" if new == "." else new + os.sep))
    pairs.sort(key=lambda p: -len(p[0]))
    for r in records:
        m = r.get("message")
        if not isinstance(m, dict) or not pairs:
            continue
        for lang in ("en", "zh"):
            if isinstance(m.get(lang), str):
                for old, new in pairs:
                    m[lang] = m[lang].replace(old, new)
    return records


def learner_dirs(graders: list[Path], target: Path | None) -> list[Path]:
    """Where the plugin loads the learner's files from (as ptquiz.plugin.target_dir does)."""
    return [Path(target).resolve()] if target is not None else \
        [Path(g).resolve().parent.parent / "exercises" for g in graders]
