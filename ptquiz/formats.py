"""Machine-readable grading results: JUnit XML, Exercism v3, Gradescope, GitHub Classroom.

Every writer takes a :class:`ptquiz.runner.GradeResult` and, optionally, the exercises
(``{number: Exercise}``) so it can add the grader's file, line and source of each check.
Scores are integers everywhere (a check earns all or none of its points), so no format
ever shows a fractional score. Never imports torch.
"""
from __future__ import annotations

import ast
import base64
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .catalog import text
from .runner import CheckResult, ExerciseResult, GradeResult


def _check_message(c: CheckResult, lang="en") -> str:
    return "" if c.passed else (text(c.message, lang) or "failed")


def _exercise_message(e: ExerciseResult, lang="en") -> str:
    """Why an exercise has no (or no usable) checks: missing file, import error, bad grader."""
    return text(e.message, lang)


class _Sources:
    """Source and line of each check function, read from the grader (no import)."""

    def __init__(self, exercises: dict | None):
        self.exercises = exercises or {}
        self._cache: dict[int, dict] = {}

    def _load(self, number: int) -> dict:
        if number not in self._cache:
            out = {}
            ex = self.exercises.get(number)
            if ex is not None and ex.grader_path.exists():
                try:
                    src = ex.grader_path.read_text(encoding="utf-8")
                    for fn in ast.parse(src).body:
                        if isinstance(fn, ast.FunctionDef):
                            out[fn.name] = (fn.lineno, ast.get_source_segment(src, fn) or "")
                except (SyntaxError, OSError):
                    pass
            self._cache[number] = out
        return self._cache[number]

    def filename(self, e: ExerciseResult) -> str:
        return f"graders/test_{e.name}.py"

    def line(self, e: ExerciseResult, c: CheckResult) -> int:
        return self._load(e.number).get(c.name, (0, ""))[0]

    def code(self, e: ExerciseResult, c: CheckResult) -> str:
        return self._load(e.number).get(c.name, (0, ""))[1]


# ---------------------------------------------------------------------------
# JUnit XML

def junit_xml(result: GradeResult, lang: str = "en", exercises: dict | None = None) -> str:
    """One <testsuite> per exercise, one <testcase> per check (classname = NN_slug)."""
    src = _Sources(exercises)
    root = ET.Element("testsuites", name="pt-quiz")
    tot = {"tests": 0, "failures": 0, "errors": 0}
    for e in result.exercises:
        name = e.name
        suite = ET.SubElement(root, "testsuite", name=name)
        n = fails = errors = 0
        t = 0.0
        if not e.checks:  # the grader could not be read: report the exercise as one error
            n, errors = 1, 1
            case = ET.SubElement(suite, "testcase", classname=name, name="grader", time="0")
            ET.SubElement(case, "error", message=_exercise_message(e, lang) or e.status).text = _exercise_message(e, lang)
        for c in e.checks:
            n += 1
            t += c.duration or 0.0
            case = ET.SubElement(suite, "testcase", classname=name, name=c.name, time=f"{c.duration or 0:.3f}",
                                 file=src.filename(e))
            line = src.line(e, c)
            if line:
                case.set("line", str(line))
            props = ET.SubElement(case, "properties")
            for k, v in (("title", text(c.title, lang)), ("category", c.category), ("points", str(c.points)),
                         ("score", str(c.score))):
                ET.SubElement(props, "property", name=k, value=v)
            if not c.passed:
                msg = _check_message(c, lang)
                kind = c.kind or "check"
                if c.outcome == "fail":
                    fails += 1
                    el = ET.SubElement(case, "failure", message=msg, type=kind)
                else:
                    errors += 1
                    el = ET.SubElement(case, "error", message=msg, type=kind)
                el.text = msg
        suite.set("tests", str(n))
        suite.set("failures", str(fails))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("time", f"{t:.3f}")
        ET.SubElement(suite, "system-out").text = f"score {e.score}/{e.max_score} ({e.status})"
        tot["tests"] += n
        tot["failures"] += fails
        tot["errors"] += errors
    for k, v in tot.items():
        root.set(k, str(v))
    root.set("time", f"{result.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------
# Exercism test-runner interface, version 3

def exercism_results(result: GradeResult, lang: str = "en", exercises: dict | None = None) -> dict:
    """https://exercism.org/docs/building/tooling/test-runners/interface (version 3)."""
    src = _Sources(exercises)
    tests = []
    errors = []
    for e in result.exercises:
        if not e.checks:
            errors.append(f"{e.name}: {_exercise_message(e, lang) or e.status}")
        for c in e.checks:
            status = c.outcome
            tests.append({
                "name": f"{e.name} · {text(c.title, lang)}",
                "status": status,
                "message": None if c.passed else _check_message(c, lang),
                "output": None,
                "test_code": src.code(e, c),
                "task_id": e.number,
            })
    if errors and not tests:
        return {"version": 3, "status": "error", "message": "\n".join(errors), "tests": []}
    status = "pass" if tests and all(t["status"] == "pass" for t in tests) and not errors else "fail"
    out = {"version": 3, "status": status, "tests": tests}
    if errors:
        out["message"] = "\n".join(errors)
    return out


# ---------------------------------------------------------------------------
# Gradescope

def gradescope_results(result: GradeResult, lang: str = "en", tamper: dict | None = None,
                       visibility: str = "visible") -> dict:
    """https://gradescope-autograders.readthedocs.io/en/latest/specs/ (results.json)."""
    tests = []
    for e in result.exercises:
        if not e.checks:
            tests.append({"name": f"{e.number:02d} · {text(e.title, lang)}", "number": f"{e.number}",
                          "score": 0, "max_score": e.max_score, "status": "failed",
                          "output": _exercise_message(e, lang) or e.status, "visibility": visibility})
        for i, c in enumerate(e.checks, 1):
            tests.append({"name": f"{e.number:02d} · {text(e.title, lang)}: {text(c.title, lang)}",
                          "number": f"{e.number}.{i}", "score": c.score, "max_score": c.points,
                          "status": "passed" if c.passed else "failed",
                          "output": _check_message(c, lang), "visibility": visibility})
    lines = [f"{e.number:02d} {text(e.title, lang)}: {e.score}/{e.max_score} ({e.status})" for e in result.exercises]
    lines.append(f"Total: {result.score}/{result.max_score}")
    warn = withheld_reason(result, tamper)
    score = result.score
    if warn:  # Gradescope grades in the instructor's own tree: the warning is shown, the score kept
        lines.insert(0, warn)
    return {"score": score, "execution_time": round(result.seconds, 2), "output": "\n".join(lines),
            "tests": tests}


# ---------------------------------------------------------------------------
# GitHub Classroom (autograding-grading-reporter)

def classroom_result(result: GradeResult, lang: str = "en", exercises: dict | None = None,
                     tamper: dict | None = None) -> dict:
    """The payload a runner step publishes as its ``result`` output (before base64).

    A tampered repository or a flagged result scores 0 with status ``error`` and says why (WITHHELD)."""
    src = _Sources(exercises)
    tests = []
    for e in result.exercises:
        if not e.checks:
            tests.append({"name": f"{e.name}", "status": "error", "score": 0,
                          "message": _exercise_message(e, lang) or e.status, "test_code": "",
                          "filename": src.filename(e), "line_no": 0, "duration": 0})
        for c in e.checks:
            tests.append({"name": f"{e.name}: {text(c.title, lang)}",
                          "status": c.outcome,
                          "score": int(c.score), "message": _check_message(c, lang),
                          "test_code": f"pt-quiz grade {e.number}  # {c.name}",
                          "filename": src.filename(e), "line_no": src.line(e, c),
                          "duration": int(round((c.duration or 0) * 1000))})
    if any(e.status in ("error", "missing") and not e.checks for e in result.exercises):
        status = "error"
    else:
        status = "pass" if result.max_score > 0 and result.score == result.max_score else "fail"
    warn = withheld_reason(result, tamper)
    if warn:
        for t in tests:
            t["score"] = 0
        tests.insert(0, {"name": "integrity", "status": "error", "score": 0, "message": f"{warn} {WITHHELD}",
                         "test_code": "", "filename": "", "line_no": 0, "duration": 0})
        status = "error"
    return {"version": 1, "status": status, "max_score": int(result.max_score), "tests": tests}


def encode_classroom(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload, ensure_ascii=False).encode("utf-8")).decode("ascii")


def decode_classroom(b64: str) -> dict:
    return json.loads(base64.b64decode(b64).decode("utf-8"))


def emit_classroom(payload: dict, echo=print) -> str:
    """Append ``result=<base64>`` to $GITHUB_OUTPUT when set; otherwise print it."""
    line = f"result={encode_classroom(payload)}"
    out = os.environ.get("GITHUB_OUTPUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        echo(line)
    return line


# ---------------------------------------------------------------------------

def tamper_line(tamper: dict | None) -> str | None:
    """A one-line warning for a tamper report (see ptquiz.export.check_tamper), None when clean."""
    if not tamper or not tamper.get("tampered"):
        return None
    parts = []
    for key in ("changed", "missing", "added"):
        if tamper.get(key):
            parts.append(f"{key}: {', '.join(tamper[key])}")
    return "WARNING: the graders or the engine differ from the assignment's manifest (" + "; ".join(parts) + ")"


WITHHELD = ("Score withheld: points only count from the assignment's own graders and engine, unchanged. Restore "
            "them (git checkout -- graders ptquiz cli.py pyproject.toml .github, and delete the added files), "
            "then push again; your instructor can also re-grade with `pt-quiz gradebook`.")


def withheld_reason(result: GradeResult, tamper: dict | None) -> str | None:
    """Why the score must not count (a tamper report, or integrity flags on any exercise), None when it may."""
    parts = []
    warn = tamper_line(tamper)
    if warn:
        parts.append(warn)
    for e in result.exercises:
        for f in getattr(e, "flags", None) or []:
            parts.append(f"{e.name}: " + (f.get("en") if isinstance(f, dict) else str(f)))
    return " ".join(parts) or None


def write_outputs(result: GradeResult, lang: str, exercises: dict | None = None, *, junit=None, gradescope=None,
                  exercism=None, classroom=False, tamper=None, echo=print):
    """Write every requested format (called by `pt-quiz grade`)."""
    for path, make in ((junit, lambda: junit_xml(result, lang, exercises)),
                       (exercism, lambda: json.dumps(exercism_results(result, lang, exercises), ensure_ascii=False, indent=1)),
                       (gradescope, lambda: json.dumps(gradescope_results(result, lang, tamper), ensure_ascii=False, indent=1))):
        if path:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(make() + ("" if path == junit else "\n"), encoding="utf-8")
    if classroom:
        emit_classroom(classroom_result(result, lang, exercises, tamper), echo=echo)


def error_result(exercises, message: str) -> GradeResult:
    """A GradeResult scoring zero when grading could not run at all (still written in every format)."""
    out = []
    for ex in exercises:
        try:
            mx = ex.max_score()
        except Exception:  # noqa: BLE001 - a broken grader: max unknown
            mx = 0
        out.append(ExerciseResult(ex.number, ex.slug, ex.title, 0, mx, "error", [],
                                  {"en": message, "zh": message}))
    return GradeResult(out, 0.0)
