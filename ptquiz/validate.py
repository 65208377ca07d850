"""`pt-quiz validate`: the instructor's gate for exercises.

For each exercise: metadata complete (both languages, two or more hints, no TODO left),
stub in sync with the solution, the reference scores full marks, the stub scores zero,
every wrong-solution fixture (``<pack>/tests/wrong/NN_slug/*.py``) scores less (and, when its
docstring has an ``expect-message:`` line, a failure message contains that text), every correct
alternative (``<pack>/tests/alt/NN_slug/*.py``) scores full marks, the grader does not import
``solutions/``, grading twice gives the same score, and the grader's time is within a budget.
``--results FILE`` saves every result with a fingerprint of what produced it (the graded file,
the grader, its metadata, the engine, the torch version), so the kit's own tests can reuse them. Grading is batched: one run per *round*, a round holding at most one
file per exercise (references of every exercise in one run, stubs in another, ...).
Never imports torch.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import FORMAT_VERSION, MIN_FOLLOWUPS, CatalogError, Exercise, text
from .stubs import StubError, stub_for


@dataclass
class Finding:
    exercise: str
    problem: str
    fix: str

    def __str__(self):
        return f"{self.exercise}: {self.problem}. Fix: {self.fix}"


@dataclass
class Report:
    findings: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # name -> one-line summary of what was measured

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, ex, problem, fix):
        self.findings.append(Finding(ex if isinstance(ex, str) else ex.name, problem, fix))


# ---------------------------------------------------------------------------
# static checks

def _strings(meta: dict):
    """(field, text) for every string in the exercise's metadata."""
    for key in ("title", "prompt"):
        for lang, s in (meta.get(key) or {}).items():
            yield f"{key}.{lang}", s
    for i, h in enumerate(meta.get("hints") or [], 1):
        for lang, s in (h or {}).items():
            yield f"hints[{i}].{lang}", s
    for i, t in enumerate(meta.get("topics") or [], 1):
        yield f"topics[{i}]", t
    for key in ("explanation", "seed_analysis"):
        for lang, s in (meta.get(key) or {}).items():
            yield f"{key}.{lang}", s
    for i, f in enumerate(meta.get("followups") or [], 1):
        for part in ("question", "answer"):
            for lang, s in (f.get(part) or {}).items():
                yield f"followups[{i}].{part}.{lang}", s


TODO_RE = re.compile(r"\bTODO\b")


def check_metadata(ex: Exercise, rep: Report):
    meta = {"title": ex.title, "prompt": ex.prompt, "hints": ex.hints, "topics": ex.topics,
            "explanation": ex.explanation, "seed_analysis": ex.seed_analysis, "followups": ex.followups}
    if ex.format_version < FORMAT_VERSION:
        rep.add(ex, f"{ex.meta_path.name} is format_version {ex.format_version}: it has no debrief "
                f"(explanation, seed_analysis, follow-up questions)",
                f"set format_version = {FORMAT_VERSION} and add [explanation] and (if it has a seed_question) "
                f"[seed_analysis] with en and zh, and at least {MIN_FOLLOWUPS} [[followups]] with question.en, "
                f"question.zh, answer.en, answer.zh (format in graders/README.md)")
    todo = [f for f, s in _strings(meta) if isinstance(s, str) and TODO_RE.search(s)]
    if todo:
        rep.add(ex, f"metadata still has TODO placeholders in {', '.join(todo)}",
                f"write the real text in {ex.meta_path.name} (English under en, Chinese under zh)")
    for key in ("title", "prompt", "explanation", "seed_analysis"):
        d = getattr(ex, key) or {}
        if d.get("en") and d.get("en") == d.get("zh") and not TODO_RE.search(d["en"]):
            rep.add(ex, f"{key}.zh is the same text as {key}.en", f"translate [{key}] zh into Chinese in {ex.meta_path.name}")
    if len(ex.hints) < 2:  # the catalog refuses this already; kept for packs loaded another way
        rep.add(ex, "fewer than two hints", f"add [[hints]] levels to {ex.meta_path.name}")


def check_checks(ex: Exercise, rep: Report) -> list:
    try:
        checks = ex.checks()
    except CatalogError as e:
        rep.add(ex, f"grader cannot be read: {e}", "fix the grader so the kit can read its @check decorators")
        return []
    if not checks:
        rep.add(ex, f"{ex.grader_path.name} has no @check functions",
                "decorate the test functions with @check(points=N, category=...)")
    titles_zh = [c.name for c in checks if c.title["zh"] == c.title["en"]]
    if titles_zh:
        rep.add(ex, f"checks without a Chinese title: {', '.join(titles_zh)}",
                "add a line 'zh: ...' to each check's docstring")
    return checks


def check_stub_sync(ex: Exercise, rep: Report) -> str | None:
    if not ex.solution_path.exists():
        rep.add(ex, f"{ex.solution_path} is missing", "write the reference solution with BEGIN/END SOLUTION markers")
        return None
    try:
        stub = stub_for(ex.solution_path)
    except StubError as e:
        rep.add(ex, f"no stub can be generated: {e}", "fix the SOLUTION markers in the solution")
        return None
    if not ex.exercise_path.exists():
        rep.add(ex, f"{ex.exercise_path.name} is missing from exercises/", "run `pt-quiz build`")
    elif ex.exercise_path.read_text(encoding="utf-8") != stub:
        rep.add(ex, f"exercises/{ex.exercise_path.name} is stale (differs from what the solution generates)",
                "run `pt-quiz build`")
    return stub


def imports_solutions(grader: Path) -> list[str]:
    """Lines of the grader that import, or name a path into, solutions/ (static: never runs it)."""
    try:
        src = grader.read_text(encoding="utf-8")
        tree = ast.parse(src)
    except (SyntaxError, OSError):
        return []
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == "solutions" or a.name.startswith("solutions.") for a in node.names):
                bad.append(f"line {node.lineno}: import solutions")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod == "solutions" or mod.startswith("solutions."):
                bad.append(f"line {node.lineno}: from {mod} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            v = node.value
            if v == "solutions" or re.search(r"(^|[\\/])solutions([\\/]|$)", v) or v.startswith("solutions."):
                bad.append(f"line {node.lineno}: refers to {v!r}")
    return bad


# ---------------------------------------------------------------------------
# grading in rounds

def wrong_fixtures(ex: Exercise) -> list[Path]:
    d = ex.pack / "tests" / "wrong" / ex.name
    return sorted(d.glob("*.py")) if d.is_dir() else []


def alt_fixtures(ex: Exercise) -> list[Path]:
    d = ex.pack / "tests" / "alt" / ex.name
    return sorted(d.glob("*.py")) if d.is_dir() else []


EXPECT_RE = re.compile(r"expect-message:\s*(.+)")


def expected_message(fixture_text: str) -> str | None:
    """The ``expect-message:`` text of a wrong fixture's docstring (lower case), or None."""
    m = EXPECT_RE.search(fixture_text)
    return m.group(1).strip().lower() if m else None


def message_found(result, want: str) -> bool:
    return any(want in (((c.message or {}).get("en")) or "").lower() for c in result.checks if not c.passed)


@functools.lru_cache(maxsize=None)
def _engine_digest() -> str:
    """Digest of the engine's files and the torch version (read once per process: fingerprint() runs per file)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    try:
        from importlib.metadata import version
        h.update(f"torch {version('torch')} torchvision {version('torchvision')}".encode())
    except Exception:  # noqa: BLE001 - not installed: grading fails anyway
        pass
    return h.hexdigest()


def fingerprint(ex: Exercise, source: str) -> str:
    """What a grading result depends on: the graded text, the grader, its metadata, the engine, torch."""
    h = hashlib.sha256(_engine_digest().encode())
    for part in (source.encode("utf-8"), ex.grader_path.read_bytes(), ex.meta_path.read_bytes()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def save_results(path: Path, by_name: dict, jobs: list, results: dict):
    rows = []
    for name, label, src in jobs:
        r = results.get((name, label))
        if r is not None and not isinstance(r, str):
            rows.append({"exercise": name, "label": label, "fingerprint": fingerprint(by_name[name], src),
                         "result": dataclasses.asdict(r)})
    path.write_text(json.dumps({"format_version": 1, "results": rows}), encoding="utf-8")


def load_results(path: Path) -> dict:
    """{(exercise, label): (fingerprint, ExerciseResult)} from a ``--results`` file; {} if unreadable."""
    from .runner import CheckResult, ExerciseResult
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        out = {}
        for row in doc["results"]:
            r = dict(row["result"])
            r["checks"] = [CheckResult(**c) for c in r["checks"]]
            out[(row["exercise"], row["label"])] = (row["fingerprint"], ExerciseResult(**r))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def make_rounds(jobs: list[tuple[str, str, str]]) -> list[dict]:
    """jobs: (exercise name, label, source). Rounds holding at most one job per exercise."""
    rounds: list[dict] = []
    for name, label, src in jobs:
        for r in rounds:
            if name not in r:
                r[name] = (label, src)
                break
        else:
            rounds.append({name: (label, src)})
    return rounds


def _run_round(by_name: dict, rnd: dict, cwd: Path, workers, grade_fn):
    with tempfile.TemporaryDirectory(prefix="ptquiz-validate-") as tmp:
        for name, (_, src) in rnd.items():
            (Path(tmp) / f"{name}.py").write_text(src, encoding="utf-8")
        res = grade_fn([by_name[n] for n in rnd], target=Path(tmp), workers=workers, cwd=cwd)
    return {e.name: e for e in res.exercises}


def _failed(e) -> str:
    return "; ".join(f"{c.name} ({(c.message or {}).get('en') or 'failed'})"[:300] for c in e.checks if not c.passed)


def validate(exercises: list[Exercise], root: Path, *, budget: float = 60.0, repeat: bool = True,
             jobs: int = 1, workers: int | None = None, progress=None, grade_fn=None,
             results_path: Path | None = None, update_debrief: bool = False) -> Report:
    """Grade every exercise's reference, stub and fixtures; report what is wrong. The generated part of
    each debrief (graders/NN_slug.debrief.json) is compared with what the graders said now (a finding when it
    differs) or, with ``update_debrief``, rewritten."""
    from .runner import GradingError, grade

    grade_fn = grade_fn or grade
    rep = Report()
    say = progress or (lambda msg: None)
    gradeable, jobs_list = [], []
    for ex in exercises:
        check_metadata(ex, rep)
        checks = check_checks(ex, rep)
        stub = check_stub_sync(ex, rep)
        for line in imports_solutions(ex.grader_path):
            rep.add(ex, f"the grader uses solutions/ ({line}); students do not have it",
                    "compare with torch built-ins or values computed in the grader instead")
        if not checks or stub is None:
            continue
        gradeable.append(ex)
        jobs_list.append((ex.name, "reference", ex.solution_path.read_text(encoding="utf-8")))
        jobs_list.append((ex.name, "stub", stub))
        for f in wrong_fixtures(ex):
            jobs_list.append((ex.name, f"wrong:{f.name}", f.read_text(encoding="utf-8")))
        for f in alt_fixtures(ex):
            jobs_list.append((ex.name, f"alt:{f.name}", f.read_text(encoding="utf-8")))
        if repeat:
            jobs_list.append((ex.name, "reference-again", ex.solution_path.read_text(encoding="utf-8")))
    by_name = {ex.name: ex for ex in gradeable}
    rounds = make_rounds(jobs_list)
    results: dict[tuple[str, str], object] = {}
    if rounds:
        say(f"grading {len(jobs_list)} files of {len(gradeable)} exercise(s) in {len(rounds)} run(s)")
        t0 = time.monotonic()

        def run(i_rnd):
            i, rnd = i_rnd
            try:
                got = _run_round(by_name, rnd, root, workers, grade_fn)
                err = None
            except GradingError as e:
                got, err = {}, str(e)
            say(f"  run {i + 1}/{len(rounds)} done ({time.monotonic() - t0:.0f} s)")
            return rnd, got, err

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for rnd, got, err in pool.map(run, enumerate(rounds)):
                for name, (label, _) in rnd.items():
                    results[(name, label)] = got.get(name) if err is None else err
    if results_path is not None:
        save_results(Path(results_path), by_name, jobs_list, results)
    for ex in gradeable:
        n = ex.name
        ref, stub = results.get((n, "reference")), results.get((n, "stub"))
        if isinstance(ref, str) or ref is None:
            rep.add(ex, f"grading could not run: {ref}", "run `pt-quiz grade --target solutions "
                    f"{ex.number}` to see the error")
            continue
        mx = ref.max_score
        if ref.score != mx:
            rep.add(ex, f"the reference scores {ref.score}/{mx}: failing {_failed(ref)}",
                    f"fix the grader or {ex.solution_path.name} until the reference gets full marks")
        if isinstance(stub, str) or stub is None:
            rep.add(ex, f"grading the stub could not run: {stub}", "see `pt-quiz grade` on the stub")
        elif stub.score != 0:
            passing = [c.name for c in stub.checks if c.passed]
            rep.add(ex, f"the untouched stub scores {stub.score}/{mx}: {', '.join(passing)} pass without any work",
                    "make every check need code the learner writes (call the learner's functions in each check)")
        for f in wrong_fixtures(ex):
            w = results.get((n, f"wrong:{f.name}"))
            if isinstance(w, str) or w is None:
                rep.add(ex, f"grading wrong fixture {f.name} could not run: {w}", "see the fixture")
            elif w.score >= w.max_score:
                rep.add(ex, f"wrong fixture tests/wrong/{n}/{f.name} gets full marks ({w.score}/{w.max_score})",
                        "add a check that catches this mistake (or remove the fixture if it is actually correct)")
            else:
                want = expected_message(f.read_text(encoding="utf-8"))
                if want is not None and not message_found(w, want):
                    rep.add(ex, f"wrong fixture tests/wrong/{n}/{f.name} loses points, but no failure message "
                            f"mentions {want!r} (its expect-message); it failed: {_failed(w)}",
                            "make the check that catches this mistake name it (or correct the expect-message line)")
        for f in alt_fixtures(ex):
            a = results.get((n, f"alt:{f.name}"))
            if isinstance(a, str) or a is None:
                rep.add(ex, f"grading correct alternative {f.name} could not run: {a}", "see the fixture")
            elif a.score != a.max_score:
                rep.add(ex, f"correct alternative tests/alt/{n}/{f.name} scores {a.score}/{a.max_score}: failing "
                        f"{_failed(a)}",
                        "the grader refuses a correct answer: loosen the check that failed (or move the fixture to "
                        "tests/wrong/ if it is actually wrong)")
        _debrief(ex, results, rep, update_debrief, say)
        seconds = sum(c.duration for c in ref.checks)
        if repeat:
            again = results.get((n, "reference-again"))
            if again is not None and not isinstance(again, str):
                seconds = max(seconds, sum(c.duration for c in again.checks))
                a = {c.name: c.passed for c in ref.checks}
                b = {c.name: c.passed for c in again.checks}
                if again.score != ref.score or a != b:
                    diff = [k for k in a if a[k] != b.get(k)]
                    rep.add(ex, f"grading the reference twice gave different results ({ref.score} then {again.score}; "
                            f"checks {', '.join(diff)})",
                            "seed every random draw in the grader (`with seeded(0):`) and avoid timing-dependent checks")
        if seconds > budget:
            rep.add(ex, f"the grader takes {seconds:.1f} s on the reference, over the {budget:g} s budget",
                    "use smaller tensors or fewer training steps, or raise the budget with --budget")
        rep.summary[n] = (f"reference {ref.score}/{mx}, stub "
                          f"{stub.score if hasattr(stub, 'score') else '?'}/{mx}, "
                          f"{len(wrong_fixtures(ex))} wrong fixture(s), {len(alt_fixtures(ex))} alternative(s), "
                          f"grader {seconds:.1f} s")
    return rep


def _debrief(ex: Exercise, results: dict, rep: Report, update: bool, say) -> None:
    """Compare (or, with update, rewrite) the generated part of ex's debrief with what was just graded."""
    from . import debrief

    n = ex.name
    wrong = {f: results.get((n, f"wrong:{f.name}")) for f in wrong_fixtures(ex)}
    alt = {f: results.get((n, f"alt:{f.name}")) for f in alt_fixtures(ex)}
    if any(r is None or isinstance(r, str) for r in (*wrong.values(), *alt.values())):
        return  # a fixture that could not be graded is a finding already
    fresh = debrief.build(ex, wrong, alt)
    if update:
        say(f"wrote {debrief.save(ex, fresh)}")
        return
    why = debrief.stale(ex, fresh, wrong)
    if why:
        rep.add(ex, f"the debrief's generated part says something the graders no longer say ({why})",
                f"run `pt-quiz validate --update-debrief {ex.number}` and commit {debrief.debrief_path(ex).name}")


def catalog_findings(errors: list[str]) -> list[Finding]:
    """Metadata the catalog refused (missing language, fewer than two hints, ...), as findings."""
    out = []
    for err in errors:
        m = re.match(r"^(.*?\.toml): (.*)$", err)
        name = Path(m.group(1)).stem if m else "catalog"
        problem, _, fix = (m.group(2) if m else err).partition(" Fix: ")
        out.append(Finding(name, problem.rstrip("."), fix or "see the message"))
    return out


def describe(ex: Exercise) -> str:
    return f"{ex.name} ({text(ex.title, 'en')})"
