"""Render grading results for people (text) and machines (JSON)."""
from __future__ import annotations

import textwrap

from .i18n import t
from .runner import GradeResult

MARK = {True: "✓", False: "✗"}
FLAGGED = {"en": "flagged: score withheld (its checks reported {w}/{m})", "zh": "已标记：成绩不计（检查报告为 {w}/{m}）"}
REPORTED = {"en": "reported a pass, not counted", "zh": "报告通过，不计分"}


def render_text(result: GradeResult, lang: str, color: bool = False) -> str:
    import click

    def style(s, **kw):
        return click.style(s, **kw) if color else s

    lines = []
    statuses = t("status", lang)
    for e in result.exercises:
        st = statuses.get(e.status, e.status) if isinstance(statuses, dict) else e.status
        if e.status == "flagged":
            st = (FLAGGED.get(lang) or FLAGGED["en"]).format(w=e.withheld, m=e.max_score)
        head = f"{e.number:02d} · {e.title.get(lang) or e.title['en']}"
        fg = "green" if e.status == "passed" else ("yellow" if e.status == "partial" else "red")
        lines.append(style(f"{head}  {e.score}/{e.max_score}  {st}", bold=True, fg=fg))
        if e.message and e.status in ("missing", "error"):
            lines.append("   " + (e.message.get(lang) or e.message["en"]))
        for f in e.flags:
            text = f.get(lang) or f.get("en") or ""
            for para in textwrap.wrap(text, 100, initial_indent="   ⚠ ", subsequent_indent="     "):
                lines.append(style(para, fg="yellow"))
        shown = None
        for c in e.checks:
            title = c.title.get(lang) or c.title["en"]
            if c.reported == "passed":
                mark = style("–", fg="yellow")
                lines.append(f"  {mark} {c.category:<11} {c.score}/{c.points}  {title}  "
                             f"({REPORTED.get(lang) or REPORTED['en']})")
                continue
            mark = style(MARK[c.passed], fg="green" if c.passed else "red")
            lines.append(f"  {mark} {c.category:<11} {c.score}/{c.points}  {title}")
            if not c.passed and c.message and e.status not in ("missing", "error"):
                msg = c.message.get(lang) or c.message.get("en") or ""
                if msg == shown:
                    continue  # same message as the check above: say it once
                shown = msg
                for para in textwrap.wrap(msg, 100, initial_indent="      → ", subsequent_indent="        "):
                    lines.append(para)
        lines.append("")
    lines.append(style(f"{t('total', lang)}: {result.score}/{result.max_score}  ({result.seconds:.1f} s)", bold=True))
    return "\n".join(lines)
