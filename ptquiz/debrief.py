"""The debrief after a pass (`pt-quiz debrief N`): why it works, the classic mistakes, other approaches, follow-ups.

Two sources, one fact each:

* the author's text, in the exercise's metadata (format 2): ``explanation``, ``seed_analysis``, ``followups``;
* what is *generated*: each wrong fixture (``tests/wrong/NN_slug/*.py``) as the few lines that differ from the
  reference and the message the grader actually gives it, and each correct alternative (``tests/alt/``) as
  its description and the lines that differ. This part is computed by ``pt-quiz validate`` (which grades every
  fixture anyway) and kept in ``graders/NN_slug.debrief.json``; validate reports the file as out of date
  whenever a grader, a fixture or the reference changes what it would say, and ``pt-quiz validate
  --update-debrief`` rewrites it. So the debrief never drifts from the graders, and a learner's debrief costs
  no grading.

Exports carry the generated file without the alternatives' code and without the reference's side of each
mistake (``for_export``), so no full solution can be recovered from it.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
from pathlib import Path

from .catalog import Exercise, text

DEBRIEF_VERSION = 1
MAX_LINES = 14   # lines shown per fixture
MAX_MESSAGE = 700
_MARKER = re.compile(r"^\s*#\s*(BEGIN SOLUTION|END SOLUTION|STUB:)")


def debrief_path(ex: Exercise) -> Path:
    return ex.pack / "graders" / f"{ex.name}.debrief.json"


def _doc_node(node) -> ast.Expr | None:
    """The docstring statement of a module, class or function node, or None."""
    first = node.body[0] if getattr(node, "body", None) else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _docstring(src: str) -> tuple[str, int]:
    """(the module docstring, the number of lines it spans from the top); ('', 0) without one."""
    try:
        doc = _doc_node(ast.parse(src))
    except SyntaxError:
        return "", 0
    return (doc.value.value, doc.end_lineno) if doc is not None else ("", 0)


def _code_lines(src: str) -> list[str]:
    """The code a reader compares: without docstrings (module, class, function), comment-only lines, blank
    lines and the kit's solution markers; trailing spaces dropped."""
    lines = src.splitlines()
    skip: set[int] = set()
    try:
        tree = ast.parse(src)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = _doc_node(node)
                if doc is not None:
                    skip.update(range(doc.lineno - 1, doc.end_lineno))
    return [ln.rstrip() for i, ln in enumerate(lines)
            if i not in skip and ln.strip() and not ln.strip().startswith("#") and not _MARKER.match(ln)]


def describe_fixture(src: str) -> str:
    """The fixture's docstring without its ``expect-message:`` line and the leading "Wrong:" / "Correct
    alternative:" label, as one paragraph."""
    doc, _ = _docstring(src)
    lines = [ln.strip() for ln in doc.splitlines() if ln.strip() and not ln.strip().lower().startswith("expect-")]
    out = " ".join(lines)
    m = re.match(r"^(?:Wrong|Correct alternative)\s*(?:\(([^)]*)\))?\s*:\s*", out)
    if m:
        out = (f"{m.group(1)}: " if m.group(1) else "") + out[m.end():]
    return out.strip()


def diff_lines(reference: str, other: str, limit: int = MAX_LINES) -> list[str]:
    """The lines where ``other`` differs from ``reference``: ``- `` the reference's, ``+ `` the other's, hunks
    separated by ``…``; at most ``limit`` lines, then a count of the rest."""
    a, b = _code_lines(reference), _code_lines(other)
    out: list[str] = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if out:
            out.append("…")
        out += [f"- {ln}" for ln in a[i1:i2] if ln.strip()]
        out += [f"+ {ln}" for ln in b[j1:j2] if ln.strip()]
    if len(out) > limit:
        rest = sum(1 for ln in out[limit:] if ln != "…")
        out = out[:limit] + [f"… ({rest} more line(s) differ)"]
    return out


def _normalise(s: str) -> str:
    """A message with the numbers (signs, nan and inf too) taken out (temporary folders: see _clean)."""
    s = re.sub(r"[-+]?\b(nan|inf)\b", "#", s)
    return re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", s)


def _message_of(result, want: str | None) -> dict | None:
    """The failure that names the mistake: the first failed check whose message holds the fixture's
    expect-message, else the first failed check."""
    failed = [c for c in result.checks if not c.passed]
    if not failed:
        return None
    chosen = next((c for c in failed if want and want in ((c.message or {}).get("en") or "").lower()), failed[0])
    msg = chosen.message or {"en": "failed", "zh": "未通过"}
    return {"check": chosen.name, "title": chosen.title,
            "message": {k: _clean(v)[:MAX_MESSAGE] for k, v in msg.items() if k in ("en", "zh") and v},
            "failed": len(failed)}


def _clean(s: str) -> str:
    return re.sub(r"(/[^\s:()]*)?/ptquiz-[^/\s]+/", "", s or "").strip()


def build(ex: Exercise, wrong: dict, alt: dict) -> dict:
    """The generated part of the debrief. ``wrong``/``alt``: {fixture Path: its ExerciseResult}."""
    from .validate import expected_message

    reference = ex.solution_path.read_text(encoding="utf-8")
    mistakes, approaches = [], []
    for path, res in sorted(wrong.items()):
        src = path.read_text(encoding="utf-8")
        mistakes.append({"fixture": path.name, "what": describe_fixture(src), "lines": diff_lines(reference, src),
                         "score": [res.score, res.max_score], **(_message_of(res, expected_message(src)) or {})})
    for path, res in sorted(alt.items()):
        src = path.read_text(encoding="utf-8")
        approaches.append({"fixture": path.name, "what": describe_fixture(src), "lines": diff_lines(reference, src),
                           "score": [res.score, res.max_score]})
    return {"format_version": DEBRIEF_VERSION, "exercise": ex.name,
            "note": "Generated by `pt-quiz validate --update-debrief` from tests/wrong, tests/alt and the grader's "
                    "messages. Do not edit by hand.",
            "mistakes": mistakes, "approaches": approaches}


def load(ex: Exercise) -> dict | None:
    try:
        doc = json.loads(debrief_path(ex).read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) and doc.get("format_version") == DEBRIEF_VERSION else None
    except (OSError, ValueError):
        return None


def stale(ex: Exercise, fresh: dict, wrong: dict | None = None) -> str | None:
    """Why the committed debrief file no longer says what the graders say (None when it does).

    Judged on what a learner reads: the fixtures listed, their description and lines, and for each mistake
    that the quote is still true (see _still_said). A fixture that now also fails another check, or scores
    differently, is not stale.
    """
    have = load(ex)
    if have is None:
        if not fresh["mistakes"] and not fresh["approaches"] and not debrief_path(ex).exists():
            return None  # no fixtures yet: nothing to say
        return f"{debrief_path(ex).name} is missing or unreadable"
    results = {p.name: r for p, r in (wrong or {}).items()}
    names = {c.name for c in ex.checks()}
    bad = []
    for kind in ("mistakes", "approaches"):
        old = {m.get("fixture"): m for m in have.get(kind, []) if isinstance(m, dict)}
        new = {m["fixture"]: m for m in fresh[kind]}
        bad += sorted(set(old) ^ set(new))
        for name in sorted(set(old) & set(new)):
            o, n = old[name], new[name]
            if o.get("what") != n.get("what") or o.get("lines") != n.get("lines"):
                bad.append(name)
            elif kind == "mistakes" and not _still_said(o, results.get(name), names):
                bad.append(name)
    return f"{debrief_path(ex).name} is out of date for {', '.join(bad)}" if bad else None


def _still_said(old: dict, result, check_names: set[str]) -> bool:
    """The mistake quoted in `old` is still what its check says.

    Judged on the part of the message that names the mistake (after "Likely mistake:", else the whole message),
    numbers, signs, nan/inf and temporary paths aside: a few fixtures fail on values drawn at random or read from
    uninitialised memory, so what a message *observed* may differ from run to run, and on such a run another
    check may even be the first to say it. What must hold: the check quoted still exists, and when it fails on
    the fixture it names the same mistake."""
    if old.get("check") not in check_names:
        return False
    checks = {c.name: c for c in result.checks if not c.passed} if result is not None else {}
    check = checks.get(old.get("check"))
    if check is None:
        return True  # it passed on this run (a fixture whose failure is random): nothing to compare
    return _mistake_key((old.get("message") or {}).get("en")) == _mistake_key((check.message or {}).get("en"))


def _mistake_key(msg: str | None) -> str:
    msg = _clean(msg or "")[:MAX_MESSAGE]  # as stored
    _, sep, likely = msg.rpartition("Likely mistake:")
    return _normalise(likely if sep else msg)


def save(ex: Exercise, doc: dict) -> Path:
    path = debrief_path(ex)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def for_export(doc: dict) -> dict:
    """What a student-facing copy carries: each mistake's wrong lines and message (not the reference's side),
    each alternative's description (not its code)."""
    out = dict(doc)
    out["mistakes"] = [{**m, "lines": [ln for ln in m.get("lines", []) if not ln.startswith("- ")]}
                       for m in doc.get("mistakes", [])]
    out["approaches"] = [{k: v for k, v in a.items() if k != "lines"} for a in doc.get("approaches", [])]
    return out


# ---------------------------------------------------------------------------
# rendering

HEAD = {
    "why": {"en": "Why it works", "zh": "为什么这样写是对的"},
    "seed": {"en": "What the source answer got wrong", "zh": "原题答案错在哪里"},
    "mistakes": {"en": "Classic mistakes (and what the grader says about each)", "zh": "常见错误（以及评分器给出的提示）"},
    "approaches": {"en": "Other correct approaches", "zh": "其他正确写法"},
    "followups": {"en": "Follow-up questions an interviewer would ask", "zh": "面试官可能的追问"},
    "answer": {"en": "Model answer", "zh": "参考回答"},
    "none_yet": {"en": "Not generated yet (instructors: `pt-quiz validate --update-debrief {n}`).",
                 "zh": "尚未生成（讲师请运行 `pt-quiz validate --update-debrief {n}`）。"},
    "no_fixtures": {"en": "None recorded for this exercise yet.", "zh": "本题还没有收录。"},
    "no_text": {"en": "This exercise's metadata has no debrief text yet (format_version 1).",
                "zh": "本题的元数据还没有讲解内容（format_version 1）。"},
    "grader_says": {"en": "grader", "zh": "评分器"},
    "score": {"en": "scores {s}/{m}", "zh": "得分 {s}/{m}"},
}


def render(ex: Exercise, lang: str, doc: dict | None = None, answers: bool = True) -> str:
    """The debrief as plain text in `lang`; ``doc``: the generated part (default: the committed file)."""
    h = lambda k: text(HEAD[k], lang)  # noqa: E731
    doc = doc if doc is not None else load(ex)
    out = [f"{ex.number:02d} · {text(ex.title, lang)} — debrief", ""]

    def section(key):
        out.extend([f"## {h(key)}", ""])

    section("why")
    out += [text(ex.explanation, lang).strip() if ex.explanation else h("no_text"), ""]
    if ex.seed_analysis:
        section("seed")
        out += [text(ex.seed_analysis, lang).strip(), ""]
    section("mistakes")
    if doc is None:
        from .validate import alt_fixtures, wrong_fixtures
        fixtures = wrong_fixtures(ex) or alt_fixtures(ex)
        out += [h("none_yet").format(n=ex.number) if fixtures else h("no_fixtures"), ""]
    else:
        for i, m in enumerate(doc.get("mistakes", []), 1):
            out.append(f"{i}. {m.get('what') or m['fixture']}  [{h('score').format(s=m['score'][0], m=m['score'][1])}]")
            out += [f"     {ln}" for ln in m.get("lines", [])]
            msg = text(m.get("message"), lang).strip()
            if msg:
                first, *rest = msg.splitlines()
                out.append(f"   {h('grader_says')}: {first}")
                out += [f"     {ln}" for ln in rest[:6]]
            out.append("")
        if not doc.get("mistakes"):
            out += ["-", ""]
        section("approaches")
        for i, a in enumerate(doc.get("approaches", []), 1):
            out.append(f"{i}. {a.get('what') or a['fixture']}")
            out += [f"     {ln}" for ln in a.get("lines", [])]
            out.append("")
        if not doc.get("approaches"):
            out += ["-", ""]
    section("followups")
    if not ex.followups:
        out += [h("no_text"), ""]
    for i, f in enumerate(ex.followups, 1):
        out.append(f"Q{i}. {text(f['question'], lang)}")
        if answers:
            out.append(f"    {h('answer')}: {text(f['answer'], lang)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
