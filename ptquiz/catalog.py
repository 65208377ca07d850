"""Find exercises and read their metadata. Never imports torch.

An exercise ``NN_slug`` lives in a *pack* (a folder holding ``exercises/``,
``solutions/`` and ``graders/``) as four files::

    graders/NN_slug.toml        metadata (format below, FORMAT.md in the README)
    graders/test_NN_slug.py     the grader: pytest checks decorated with @check
    solutions/NN_slug.py        reference solution with BEGIN/END SOLUTION markers
    exercises/NN_slug.py        the stub the learner edits (generated from the solution)

The kit itself is the first pack; a course adds more with ``[tool.pt-quiz] packs``
in its ``pyproject.toml`` or ``--pack DIR``.
"""
from __future__ import annotations

import ast
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

FORMAT_VERSION = 2          # what `pt-quiz new` writes; version 2 added the debrief fields
READABLE_VERSIONS = (1, 2)  # version 1 files still load; `validate` asks for the upgrade
MIN_FOLLOWUPS = 3
CATEGORIES = ("shape", "gradient", "training", "device", "correctness")
LANGS = ("en", "zh")
_NAME_RE = re.compile(r"^(\d{2,3})_([a-z0-9_]+)$")
KIT_ROOT = Path(__file__).resolve().parent.parent


class CatalogError(Exception):
    """Bad metadata or layout; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Check:
    name: str
    points: int
    category: str
    title: dict
    line: int
    timeout: float | None = None


@dataclass
class Exercise:
    number: int
    slug: str
    title: dict
    prompt: dict
    hints: list
    topics: list
    difficulty: int
    pack: Path
    seed_question: int | None = None
    extra: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    explanation: dict | None = None     # why the reference works (debrief), {en, zh}
    seed_analysis: dict | None = None   # what the seed's answer got wrong, {en, zh}
    followups: list = field(default_factory=list)  # [{"question": {en, zh}, "answer": {en, zh}}]

    @property
    def name(self) -> str:
        return f"{self.number:02d}_{self.slug}"

    @property
    def meta_path(self) -> Path:
        return self.pack / "graders" / f"{self.name}.toml"

    @property
    def grader_path(self) -> Path:
        return self.pack / "graders" / f"test_{self.name}.py"

    @property
    def solution_path(self) -> Path:
        return self.pack / "solutions" / f"{self.name}.py"

    @property
    def exercise_path(self) -> Path:
        return self.pack / "exercises" / f"{self.name}.py"

    def learner_path(self, target: Path | None = None) -> Path:
        return (target if target is not None else self.pack / "exercises") / f"{self.name}.py"

    def checks(self) -> list[Check]:
        return read_checks(self.grader_path)

    def max_score(self) -> int:
        return sum(c.points for c in self.checks())


def text(d: dict | str | None, lang: str = "en") -> str:
    """Pick one language from a bilingual {'en': ..., 'zh': ...} value, falling back to English."""
    if d is None:
        return ""
    if isinstance(d, str):
        return d
    return d.get(lang) or d.get("en") or ""


# ---------------------------------------------------------------------------
# metadata

def _err(path: Path, fieldname: str, problem: str, fix: str) -> CatalogError:
    return CatalogError(f"{path}: field '{fieldname}' {problem}. Fix: {fix}")


def _bilingual(path: Path, data: dict, key: str, example: str, label: str | None = None) -> dict:
    label = label or key
    val = data.get(key)
    if not isinstance(val, dict):
        raise _err(path, label, "is missing or not a table",
                   f'add [{label}] with en = "{example}" and zh = "..."')
    for lang in LANGS:
        if not isinstance(val.get(lang), str) or not val[lang].strip():
            raise _err(path, f"{label}.{lang}", "is missing or empty",
                       f"write the {'English' if lang == 'en' else 'Chinese'} text under [{label}] as {lang} = \"...\"")
    return {lang: val[lang].strip() for lang in LANGS}


def load_metadata(path: Path, pack: Path) -> Exercise:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text. Fix: save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path}: not valid TOML ({e}). Fix the syntax; see FORMAT in README.md") from None
    m = _NAME_RE.match(path.stem)
    if not m:
        raise CatalogError(f"{path}: file name must be NN_slug.toml (two digits, lowercase slug), e.g. 16_transfer_learning.toml")
    fv = data.get("format_version")
    if type(fv) is not int or fv not in READABLE_VERSIONS:
        raise _err(path, "format_version", f"is {fv!r}, this kit reads {' or '.join(map(str, READABLE_VERSIONS))}",
                   f"set format_version = {FORMAT_VERSION} at the top of the file")
    number, slug = data.get("number"), data.get("slug")
    if not isinstance(number, int) or number < 1:
        raise _err(path, "number", "is missing or not a positive integer", f"add number = {int(m.group(1))}")
    if number != int(m.group(1)) or slug != m.group(2):
        raise _err(path, "number/slug", f"({number!r}, {slug!r}) disagree with the file name {path.name}",
                   f"use number = {int(m.group(1))} and slug = \"{m.group(2)}\", or rename the file")
    hints = data.get("hints")
    if not isinstance(hints, list) or len(hints) < 2:
        raise _err(path, "hints", "needs at least two levels",
                   "add two or more [[hints]] tables, each with en = \"...\" and zh = \"...\"")
    hints = [_bilingual(path, {"hints": h}, "hints", "a nudge") if isinstance(h, dict) else None for h in hints]
    if None in hints:
        raise _err(path, "hints", "must be tables", "write each level as [[hints]] with en and zh")
    topics = data.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise _err(path, "topics", "is missing or not a list of strings", 'add topics = ["nn.Module"]')
    difficulty = data.get("difficulty")
    if difficulty not in (1, 2, 3):
        raise _err(path, "difficulty", f"is {difficulty!r}", "use 1 (warm-up), 2 (core) or 3 (hard)")
    known = {"format_version", "number", "slug", "title", "prompt", "hints", "topics", "difficulty", "seed_question",
             "explanation", "seed_analysis", "followups"}
    explanation = seed_analysis = None
    followups: list = []
    if fv >= 2:
        explanation = _bilingual(path, data, "explanation", "Why the answer works: ...")
        if data.get("seed_question") is not None or "seed_analysis" in data:
            seed_analysis = _bilingual(path, data, "seed_analysis", "The seed's answer ... because ...")
        followups = _followups(path, data.get("followups"))
    return Exercise(
        number=number, slug=slug,
        title=_bilingual(path, data, "title", "A custom nn.Module"),
        prompt=_bilingual(path, data, "prompt", "Implement ..."),
        hints=hints, topics=topics, difficulty=difficulty, pack=pack,
        seed_question=data.get("seed_question"),
        extra={k: v for k, v in data.items() if k not in known},
        format_version=fv, explanation=explanation, seed_analysis=seed_analysis, followups=followups,
    )


def _followups(path: Path, raw) -> list:
    how = ("add [[followups]] tables, each with question.en, question.zh, answer.en and answer.zh "
           "(a question an interviewer asks next, and a short model answer)")
    if not isinstance(raw, list) or len(raw) < MIN_FOLLOWUPS:
        raise _err(path, "followups", f"needs at least {MIN_FOLLOWUPS} questions", how)
    out = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise _err(path, f"followups[{i}]", "is not a table", how)
        out.append({key: _bilingual(path, item, key, "...", f"followups[{i}].{key}") for key in ("question", "answer")})
    return out


# ---------------------------------------------------------------------------
# checks, read statically from the grader (points are literals: no import, no torch)

def _literal(node, path, fn, what):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise CatalogError(f"{path}:{fn.lineno}: {fn.name}: @check({what}=...) must be a literal "
                           f"so the kit can read it without running the grader") from None


def read_checks(grader: Path) -> list[Check]:
    if not grader.exists():
        raise CatalogError(f"{grader}: grader is missing. Fix: create it (pt-quiz new scaffolds one)")
    try:
        tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    except UnicodeDecodeError:
        raise CatalogError(f"{grader}: not UTF-8 text. Fix: save the grader as UTF-8") from None
    except SyntaxError as e:
        raise CatalogError(f"{grader}:{e.lineno}: grader has a syntax error: {e.msg}") from None
    checks = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "id", getattr(dec.func, "attr", None)) == "check"):
                continue
            kw = {k.arg: k.value for k in dec.keywords}
            if not fn.name.startswith("test_"):
                raise CatalogError(f"{grader}:{fn.lineno}: check {fn.name} must be named test_... so pytest runs it")
            if "points" not in kw or "category" not in kw:
                raise CatalogError(f"{grader}:{fn.lineno}: {fn.name}: write @check(points=N, category=\"...\")")
            points = _literal(kw["points"], grader, fn, "points")
            category = _literal(kw["category"], grader, fn, "category")
            if type(points) is not int or points < 1:
                raise CatalogError(f"{grader}:{fn.lineno}: {fn.name}: points must be a positive integer, got {points!r}")
            if category not in CATEGORIES:
                raise CatalogError(f"{grader}:{fn.lineno}: {fn.name}: category {category!r} is not one of {', '.join(CATEGORIES)}")
            timeout = _literal(kw["timeout"], grader, fn, "timeout") if "timeout" in kw else None
            if any(c.name == fn.name for c in checks):
                raise CatalogError(f"{grader}:{fn.lineno}: a second check named {fn.name}: Python keeps only the last "
                                   f"definition, so the first would score without running. Fix: rename one")
            checks.append(Check(fn.name, points, category, parse_doc(ast.get_docstring(fn) or fn.name), fn.lineno, timeout))
    return checks


def parse_doc(doc: str) -> dict:
    """First line is the English title; a line 'zh: ...' gives the Chinese one."""
    lines = [line.strip() for line in doc.strip().splitlines()]
    en = lines[0] if lines else ""
    zh = next((line[3:].strip() for line in lines if line.startswith("zh:")), en)
    return {"en": en, "zh": zh}


# ---------------------------------------------------------------------------
# packs and the catalogue

def find_root(start: Path | None = None) -> Path:
    """The learner's project: $PT_QUIZ_ROOT, else the nearest folder up from the current one whose
    pyproject.toml has [tool.pt-quiz], else the kit's own folder."""
    env = os.environ.get("PT_QUIZ_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        pp = d / "pyproject.toml"
        if pp.is_file():
            try:
                if "pt-quiz" in tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}):
                    return d
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue
    return KIT_ROOT


def configured_packs(root: Path) -> list[Path]:
    pp = root / "pyproject.toml"
    packs = []
    if pp.is_file():
        try:
            conf = tomllib.loads(pp.read_text(encoding="utf-8")).get("tool", {}).get("pt-quiz", {})
        except UnicodeDecodeError:
            raise CatalogError(f"{pp}: not UTF-8 text. Fix: save it as UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise CatalogError(f"{pp}: not valid TOML ({e})") from None
        raw = conf.get("packs", [])
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise CatalogError(f"{pp}: field 'tool.pt-quiz.packs' must be a list of folder paths, e.g. packs = [\"course\"]")
        packs = [(root / p).resolve() for p in raw]
    return packs


class Catalog:
    def __init__(self, root: Path | None = None, extra_packs: list[Path] = ()):
        self.root = (root or find_root()).resolve()
        packs = [self.root] + configured_packs(self.root) + [Path(p).resolve() for p in extra_packs]
        self.packs = list(dict.fromkeys(packs))
        self.errors: list[str] = []
        self.exercises: dict[int, Exercise] = {}
        for pack in self.packs:
            if not (pack / "graders").is_dir():
                if pack != self.root:
                    self.errors.append(f"{pack}: not a pack (no graders/ folder). Fix: point packs at a folder with exercises/, solutions/ and graders/")
                continue
            for meta in sorted((pack / "graders").glob("*.toml")):
                try:
                    ex = load_metadata(meta, pack)
                except CatalogError as e:
                    self.errors.append(str(e))
                    continue
                if ex.number in self.exercises:
                    other = self.exercises[ex.number]
                    self.errors.append(f"{meta}: number {ex.number} is already used by {other.meta_path}. Fix: renumber one of them")
                    continue
                self.exercises[ex.number] = ex

    def __iter__(self):
        return iter(sorted(self.exercises.values(), key=lambda e: e.number))

    def __len__(self):
        return len(self.exercises)

    def get(self, number: int) -> Exercise:
        if number not in self.exercises:
            valid = ", ".join(str(n) for n in sorted(self.exercises)) or "none"
            raise CatalogError(f"there is no exercise {number}. Valid numbers: {valid}")
        return self.exercises[number]

    def next_number(self) -> int:
        return max(self.exercises, default=0) + 1
