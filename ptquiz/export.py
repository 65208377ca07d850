"""Student-facing copies of the kit: GitHub Classroom assignments and Gradescope autograders.

An export holds the stubs, the graders (with pristine stubs under ``graders/stubs/`` for
``pt-quiz reset``), the engine, ``cli.py`` and ``pyproject.toml``, and **no reference
solutions**: nothing is copied from ``solutions/``, no ``.git`` history, and every export
is checked for the solution lines of each exercise before it is reported done.

A tamper manifest (``pt-quiz-manifest.json``: sha256 of the graders, the engine, ``cli.py``
and ``pyproject.toml``) lets ``pt-quiz grade`` say when a student changed any of them.
Never imports torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from pathlib import Path

from . import debrief
from .catalog import KIT_ROOT, Exercise, text
from .stubs import pristine_stub, solution_lines

MANIFEST = "pt-quiz-manifest.json"
TORCH_CPU = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
# files that change how pytest or Python runs the graders when a student adds them
SUSPECT_ROOT_FILES = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "setup.py", "sitecustomize.py",
                      "usercustomize.py")
# modules the grading imports: a file or folder of that name beside the learner's files could shadow them
SHADOWED = ("torch", "torchvision", "numpy", "pytest", "_pytest", "pytest_timeout", "xdist", "execnet", "pluggy",
            "ptquiz", "cli", "click", "jinja2")


class ExportError(Exception):
    pass


# ---------------------------------------------------------------------------
# tamper manifest

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _skip(p: Path) -> bool:
    return "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo") or p.name == ".DS_Store"


def protected_files(root: Path) -> list[str]:
    """Relative paths (posix) of every file the manifest covers under ROOT: the graders, the engine, the
    workflows that run them, every Python file and packaging file at the top (cli.py, a shadowing
    pytest_timeout.py, setup.py, ...)."""
    out = []
    for sub in ("graders", "ptquiz", ".github"):
        d = root / sub
        if d.is_dir():
            out += [p.relative_to(root).as_posix() for p in sorted(d.rglob("*")) if p.is_file() and not _skip(p)]
    if root.is_dir():
        out += [p.name for p in sorted(root.iterdir())
                if p.is_file() and (p.suffix in (".py", ".pth", ".toml", ".cfg", ".ini") or p.name == "setup.py")
                and p.name != MANIFEST]
    return sorted(set(out))


def make_manifest(root: Path) -> dict:
    return {"version": 1, "files": {rel: _sha256(root / rel) for rel in protected_files(root)}}


def write_manifest(root: Path) -> Path:
    path = root / MANIFEST
    path.write_text(json.dumps(make_manifest(root), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def check_tamper(root: Path, manifest: Path | dict | None = None) -> dict | None:
    """Compare ROOT with its manifest (or a trusted one given by the instructor).

    None when there is no manifest (the kit itself, not an assignment). Otherwise
    ``{"tampered", "changed", "missing", "added", "manifest"}``, paths relative to ROOT.
    """
    src = None
    if isinstance(manifest, dict):
        data = manifest
        src = "<given>"
    else:
        path = Path(manifest) if manifest else root / MANIFEST
        if not path.is_file():
            return None
        src = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data.get("files"), dict):
                raise ValueError
        except (ValueError, OSError, AttributeError):
            return {"tampered": True, "changed": [MANIFEST], "missing": [], "added": [], "manifest": src}
    want: dict = data["files"]
    changed, missing = [], []
    for rel, digest in sorted(want.items()):
        p = root / rel
        if not p.is_file():
            missing.append(rel)
        elif _sha256(p) != digest:
            changed.append(rel)
    present = set(protected_files(root))
    added = sorted(present - set(want))
    for name in SUSPECT_ROOT_FILES:
        for d in (root, root / "exercises"):
            p = d / name
            if p.is_file():
                added.append(p.relative_to(root).as_posix())
    for name in SHADOWED:
        for d in (root, root / "exercises"):
            for p in (d / f"{name}.py", d / name):
                rel = p.relative_to(root).as_posix()
                if p.exists() and rel not in want and not any(k.startswith(rel + "/") for k in want):
                    added.append(rel)
    added = sorted(set(added))
    return {"tampered": bool(changed or missing or added), "changed": changed, "missing": missing,
            "added": added, "manifest": src}


# ---------------------------------------------------------------------------
# copying a student tree

def _templates():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def render(template: str, **kw) -> str:
    return _templates().get_template(template).render(**kw)


def _guard(dest: Path, protected: list[Path]) -> None:
    """Refuse an export folder that is, holds or sits inside the kit, the project or a pack."""
    d = dest.resolve()
    for p in {KIT_ROOT.resolve(), *[q.resolve() for q in protected]}:
        if d == p or p in d.parents or d in p.parents:
            raise ExportError(f"{dest} is, holds or sits inside {p}: exporting there could overwrite your exercises. "
                              f"Fix: choose a folder outside the project, e.g. ../assignment")


def _prepare_dir(dest: Path, force: bool, protected: list[Path] = ()):
    _guard(dest, list(protected))
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise ExportError(f"{dest} exists and is not empty. Fix: choose a new folder, or pass --force to replace it")
        if not (dest / MANIFEST).exists() and not (dest / "run_autograder").exists():
            raise ExportError(f"{dest} is not an earlier pt-quiz export (no {MANIFEST} or run_autograder): "
                              f"--force only replaces an export. Fix: choose a new or empty folder")
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)


def _copy_engine(dest: Path):
    # new_*.j2 scaffold an exercise (an instructor's tool) and hold a worked solution: not for students
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "new_*.j2")
    shutil.copytree(KIT_ROOT / "ptquiz", dest / "ptquiz", ignore=ignore)
    shutil.copy2(KIT_ROOT / "cli.py", dest / "cli.py")
    pp = (KIT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # a student copy has one pack, itself: drop the instructor's extra packs
    pp = re.sub(r"(?m)^packs\s*=.*$", "packs = []", pp)
    if "[tool.pt-quiz]" not in pp:
        pp += "\n[tool.pt-quiz]\npacks = []\n"
    (dest / "pyproject.toml").write_text(pp, encoding="utf-8")


def _copy_exercises(dest: Path, exercises: list[Exercise]):
    for d in ("exercises", "graders", "graders/stubs"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    packs = []
    for ex in exercises:
        stub = pristine_stub(ex)
        if stub is None:
            raise ExportError(f"{ex.name}: no stub (neither {ex.solution_path} nor graders/stubs/{ex.name}.py). "
                              f"Fix: add the solution, then run `pt-quiz build`")
        (dest / "exercises" / f"{ex.name}.py").write_text(stub, encoding="utf-8")
        (dest / "graders" / "stubs" / f"{ex.name}.py").write_text(stub, encoding="utf-8")
        shutil.copy2(ex.meta_path, dest / "graders" / ex.meta_path.name)
        shutil.copy2(ex.grader_path, dest / "graders" / ex.grader_path.name)
        doc = debrief.load(ex)
        if doc is not None:  # the debrief's generated part, without code a full solution could be rebuilt from
            (dest / "graders" / debrief.debrief_path(ex).name).write_text(
                json.dumps(debrief.for_export(doc), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if ex.pack not in packs:
            packs.append(ex.pack)
    # shared grader helpers (anything in graders/ that is not one exercise's files), e.g. README.md, _common.py
    names = {f"{ex.name}.toml" for ex in exercises} | {f"test_{ex.name}.py" for ex in exercises}
    exercise_file = re.compile(r"^(test_)?\d{2,3}_[a-z0-9_]+\.(py|toml|debrief\.json)$")
    for pack in packs:
        for p in sorted((pack / "graders").iterdir()):
            if p.name in names or exercise_file.match(p.name) or _skip(p) or p.name == "stubs":
                continue
            target = dest / "graders" / p.name
            if p.is_dir():
                shutil.copytree(p, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif not target.exists():
                shutil.copy2(p, target)


def leaks(dest: Path, exercises: list[Exercise]) -> tuple[list[str], list[str]]:
    """Solution lines (of any exported exercise) found in the exported tree, as (errors, notes).

    A match in an exercise's metadata (graders/NN_slug.toml: the prompt and hints students are
    shown by design, e.g. a last hint quoting the one line to write) is a note; anywhere else
    it is an error.
    """
    needles = []
    for ex in exercises:
        if ex.solution_path.exists():
            needles += [(ex.name, s) for s in solution_lines(ex.solution_path.read_text(encoding="utf-8"))]
    # Only text the stubs and the engine do not contain is secret: a line such as
    # `self.register_parameter("bias", None)` that a stub also holds is public by design.
    public = _public_text(exercises)
    needles = [(name, s) for name, s in needles if s not in public]
    errors, notes = [], []
    if not needles:
        return errors, notes
    # graders and metadata are the instructor's own text, shown to students by design (a grader computes a
    # reference, a last hint may quote a line): a match there is a note to reread, anywhere else an error
    meta = re.compile(r"^graders/(?!stubs/)[^/]+$")
    for p in sorted(dest.rglob("*")):
        if not p.is_file() or _skip(p):
            continue
        try:
            body = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rel = p.relative_to(dest).as_posix()
        for name, s in needles:
            if s in body:
                (notes if meta.match(rel) else errors).append(f"{rel}: solution line of {name}: {s[:80]}")
    return errors, notes


def _public_text(exercises: list[Exercise]) -> str:
    """What students get by design, read from the source: the stubs and the engine."""
    parts = []
    for ex in exercises:
        parts.append(pristine_stub(ex) or "")
    for f in Path(__file__).resolve().parent.glob("*.py"):
        try:
            parts.append(f.read_text(encoding="utf-8"))
        except OSError:
            continue
    return "\n".join(parts)


def _finish(dest: Path, exercises: list[Exercise]):
    bad, notes = leaks(dest, exercises)
    if bad:
        shutil.rmtree(dest, ignore_errors=True)
        raise ExportError("the export would contain solution text, so nothing was written:\n  " + "\n  ".join(bad))
    return write_manifest(dest), notes


def _exercise_rows(exercises: list[Exercise], lang="en") -> list[dict]:
    rows = []
    for ex in exercises:
        checks = ex.checks()
        rows.append({"number": ex.number, "n2": f"{ex.number:02d}", "name": ex.name, "slug": ex.slug,
                     "title": text(ex.title, "en"), "title_zh": text(ex.title, "zh"),
                     "max_score": sum(c.points for c in checks),
                     "categories": sorted({c.category for c in checks}),
                     "step_id": f"ex-{ex.number:02d}", "env": f"EX-{ex.number:02d}_RESULTS"})
    return rows


# ---------------------------------------------------------------------------
# GitHub Classroom

def classroom_export(exercises: list[Exercise], dest: Path, *, title: str = "PyTorch exercises",
                     python: str = "3.11", timeout_minutes: int = 10, force: bool = False) -> dict:
    if not exercises:
        raise ExportError("no exercises to export")
    dest = Path(dest).resolve()
    _prepare_dir(dest, force, sorted({ex.pack for ex in exercises}))
    _copy_engine(dest)
    _copy_exercises(dest, exercises)
    rows = _exercise_rows(exercises)
    ctx = dict(exercises=rows, title=title, python=python, torch_cpu=TORCH_CPU, timeout=timeout_minutes,
               total=sum(r["max_score"] for r in rows))
    (dest / "README.md").write_text(render("student_README.md.j2", **ctx), encoding="utf-8")
    (dest / ".gitignore").write_text(".pt-quiz/\n__pycache__/\n*.pyc\n*.egg-info/\n.venv/\nbuild/\ndist/\n", encoding="utf-8")
    wf = dest / ".github" / "workflows"
    wf.mkdir(parents=True, exist_ok=True)
    (wf / "classroom.yml").write_text(render("classroom.yml.j2", **ctx), encoding="utf-8")
    legacy = dest / ".github" / "classroom"
    legacy.mkdir(parents=True, exist_ok=True)
    (legacy / "autograding.json").write_text(json.dumps(legacy_autograding(rows, timeout_minutes), indent=2) + "\n",
                                             encoding="utf-8")
    manifest, notes = _finish(dest, exercises)
    return {"dest": dest, "exercises": rows, "manifest": manifest, "manifest_sha256": _sha256(manifest), "notes": notes}


def legacy_autograding(rows: list[dict], timeout_minutes: int = 10) -> dict:
    """.github/classroom/autograding.json for the legacy education/autograding action (all-or-nothing per test)."""
    setup = f"{TORCH_CPU} && pip install -e ."
    return {"tests": [{"name": f"{r['n2']} {r['title']}", "setup": setup if i == 0 else "",
                       "run": f"pt-quiz grade {r['number']}", "input": "", "output": "", "comparison": "included",
                       "timeout": timeout_minutes, "points": r["max_score"]}
                      for i, r in enumerate(rows)]}


# ---------------------------------------------------------------------------
# Gradescope

def gradescope_export(exercises: list[Exercise], dest: Path, *, python: str = "python3", force: bool = False,
                      zip_path: Path | None = None) -> dict:
    if not exercises:
        raise ExportError("no exercises to export")
    dest = Path(dest).resolve()
    _prepare_dir(dest, force, sorted({ex.pack for ex in exercises}))
    _copy_engine(dest)
    _copy_exercises(dest, exercises)
    rows = _exercise_rows(exercises)
    ctx = dict(exercises=rows, torch_cpu=TORCH_CPU, python=python, total=sum(r["max_score"] for r in rows))
    for name, tpl in (("setup.sh", "gradescope_setup.sh.j2"), ("run_autograder", "gradescope_run_autograder.j2")):
        p = dest / name
        p.write_text(render(tpl, **ctx), encoding="utf-8")
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (dest / "README.md").write_text(render("gradescope_README.md.j2", **ctx), encoding="utf-8")
    manifest, notes = _finish(dest, exercises)
    out = {"dest": dest, "exercises": rows, "manifest": manifest, "manifest_sha256": _sha256(manifest), "notes": notes}
    if zip_path:
        import zipfile

        zip_path = Path(zip_path).resolve()
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(dest.rglob("*")):
                if p.is_file():
                    info = zipfile.ZipInfo.from_file(p, p.relative_to(dest).as_posix())
                    z.writestr(info, p.read_bytes())
        out["zip"] = zip_path
    return out


def expected_manifest(exercises: list[Exercise]) -> dict:
    """The manifest an export of EXERCISES carries (what a student's untouched repository hashes to)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ptquiz-manifest-") as tmp:
        _copy_engine(Path(tmp))
        _copy_exercises(Path(tmp), exercises)
        return make_manifest(Path(tmp))


def copy_submission(submission: Path, exercises_dir: Path, names: set[str]) -> list[str]:
    """Copy NN_slug.py files found anywhere under SUBMISSION over the stubs (used by run_autograder)."""
    skip = {"__pycache__", ".git", ".pt-quiz", "graders", "solutions", "tests"}
    found: dict[str, Path] = {}
    for p in sorted(submission.rglob("*.py"), key=lambda q: (len(q.parts), str(q))):
        rel = p.relative_to(submission).parts
        if p.name[:-3] not in names or skip & set(rel[:-1]):
            continue
        prev = found.get(p.name)
        if prev is None or (rel[0] == "exercises" and prev.relative_to(submission).parts[0] != "exercises"):
            found[p.name] = p
    for name, p in sorted(found.items()):
        shutil.copy2(p, exercises_dir / name)
    return sorted(found)


if __name__ == "__main__":  # python -m ptquiz.export ROOT: print the tamper report (debugging aid)
    import sys

    print(json.dumps(check_tamper(Path(sys.argv[1] if len(sys.argv) > 1 else os.getcwd())), indent=1))
