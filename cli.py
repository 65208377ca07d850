"""pt-quiz: the command line. A thin click layer over the engine in ptquiz/.

`list`, `start` and `hint` never import torch, so they answer at once.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ptquiz.catalog import Catalog, CatalogError, text
from ptquiz.events import grade_fields
from ptquiz.i18n import LANGS, detect_lang, t
from ptquiz.safeio import DATA_DIR, KitFileError, backup, data_dir_is_a_file, not_a_regular_file, write_file
from ptquiz.state import State


class Ctx:
    def __init__(self, lang, packs, root):
        self.lang = detect_lang(lang)
        self._packs = packs
        self._root = root
        self._catalog = None
        self._state = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            try:
                self._catalog = Catalog(Path(self._root) if self._root else None, [Path(p) for p in self._packs])
            except CatalogError as e:
                die(str(e))
            for err in self._catalog.errors:
                click.secho(f"warning: {err}", fg="yellow", err=True)
        return self._catalog

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State(self.catalog.root)
            if self._state.warning:
                click.secho(f"warning: {self._state.warning}", fg="yellow", err=True)
        return self._state

    def exercise(self, n: int):
        try:
            return self.catalog.get(n)
        except CatalogError:
            valid = ", ".join(str(k) for k in sorted(self.catalog.exercises)) or "-"
            die(t("no_exercise", self.lang, n=n, valid=valid))

    def rel(self, path: Path) -> str:
        try:  # not resolve(): a link must be named as the link, not as what it points to
            return str(path.absolute().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    def warn(self, msg: str) -> None:
        click.secho(f"warning: {msg}", fg="yellow", err=True)

    def fail(self, err: KitFileError, code: int = 2):
        die(text(err.msg, self.lang), code)

    def save_state(self) -> None:
        """Record progress; a folder that cannot be written is a warning (what was shown stays shown)."""
        try:
            self.state.save()
        except KitFileError as e:
            self.warn(t("not_saved", self.lang, why=text(e.msg, self.lang)))

    def log_event(self, kind: str, exercise: int | None = None, **fields) -> None:
        """Append to .pt-quiz/events.jsonl (stats, review queue); a folder that cannot be written is a warning."""
        from ptquiz import events
        try:
            events.record(self.catalog.root, kind, exercise, **fields)
        except (KitFileError, OSError) as e:
            self.warn(t("event_not_saved", self.lang, why=text(e.msg, self.lang) if isinstance(e, KitFileError) else e))

    def usable(self, path: Path) -> None:
        """Stop with what to do when `path` cannot hold an answer (a folder, a pipe, ...)."""
        bad = not_a_regular_file(path)
        if bad:
            self.fail(bad)

    def replace_file(self, path: Path, content: str) -> Path | None:
        """Write `content` to a learner's file: what was there (for a link: what it points to) is backed up
        first; a link is replaced, never written through. Returns the backup, if any."""
        root = self.catalog.root
        self.usable(path)
        link = os.readlink(path) if path.is_symlink() else None
        try:
            saved = backup(root, path) if path.exists() else None
            write_file(path, content, root)
        except KitFileError as e:
            self.fail(e)
        if link is not None:
            click.echo(t("was_link", self.lang, path=self.rel(path), target=link))
        return saved

    # -- snapshots of the learner's files around a grading (ptquiz/snapshots.py) --
    def snapshot(self, files: dict, reason: str):
        """Snapshot the learner's files (path -> exercise number) before grading; a warning, not a stop, when
        .pt-quiz cannot be written."""
        from ptquiz.snapshots import take
        try:
            return take(self.catalog.root, list(files), reason)
        except KitFileError as e:
            self.warn(t("no_snapshot_taken", self.lang, why=text(e.msg, self.lang)))
            return None

    def changed_files(self, snap, files: dict, skip=()) -> list[dict]:
        """The learner's files that changed while grading ran, each with the command that restores it."""
        from ptquiz.snapshots import changed_since
        if snap is None:
            return []
        return [{"path": self.rel(p), "what": what, "restore": f"pt-quiz restore {files[p]}"}
                for p, what in changed_since(self.catalog.root, snap, [p for p in files if p not in skip])]

    def print_changes(self, changes: list[dict]) -> None:
        if not changes:
            return
        how = t("changed_how", self.lang)
        self.warn(t("changed_during", self.lang))
        for ch in changes:
            click.secho(f"  {ch['path']} ({how[ch['what']]}) → `{ch['restore']}`", fg="yellow", err=True)
        click.secho("  " + t("restore_with", self.lang), fg="yellow", err=True)


def die(msg: str, code: int = 2):
    click.secho(f"Error: {msg}", fg="red", err=True)
    sys.exit(code)


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lang", type=click.Choice(LANGS), default=None,
              help="Language of every text you read (default: $PT_QUIZ_LANG, else your locale).")
@click.option("--pack", "packs", multiple=True, type=click.Path(file_okay=False),
              help="Extra exercise pack folder (exercises/, solutions/, graders/). Repeatable.")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Project folder (default: $PT_QUIZ_ROOT, else the nearest with [tool.pt-quiz] in pyproject.toml).")
@click.version_option(package_name="pt-quiz")
@click.pass_context
def main(ctx, lang, packs, root):
    """pt-quiz: PyTorch interview questions you answer in code, graded on the spot."""
    ctx.obj = Ctx(lang, packs, root)


# ---------------------------------------------------------------------------
# learner commands

def _fit(s: str, width: int) -> str:
    """s cut (with an ellipsis) or padded to `width` terminal columns (CJK characters take two)."""
    import unicodedata

    def w(ch):
        return 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    if sum(map(w, s)) > width:
        out, used = "", 0
        for ch in s:
            if used + w(ch) > width - 1:
                break
            out, used = out + ch, used + w(ch)
        s = out + "…"
    return s + " " * (width - sum(map(w, s)))


@main.command("list")
@pass_ctx
def list_(c: Ctx):
    """All exercises with their status, score and your progress."""
    cat, st, lang = c.catalog, c.state, c.lang
    session = _mock(c)
    if session is not None:
        click.echo(_mock_banner(c, session) + "\n")
    statuses = t("status", lang)
    passed = 0
    for ex in cat:
        last = st.last_score(ex.number)
        if st.passed(ex.number):
            passed += 1
            status = statuses["passed"]
        elif last:
            status = statuses["partial"] if last[0] else statuses["failed"]
        else:
            status = statuses["new"]
        score = f"{last[0]}/{last[1]}" if last else ""
        cur = "▶" if st.current == ex.number else " "
        stars = "★" * ex.difficulty
        click.echo(f"{cur} {ex.number:>2}  {_fit(text(ex.title, lang), 46)} {stars:<4} {_fit(status, 8)} {score}")
    click.echo("")
    click.echo(t("progress", lang, passed=passed, total=len(cat)))


@main.command()
@click.argument("number", type=int)
@pass_ctx
def start(c: Ctx, number):
    """Show question NUMBER and make it the current one. Never overwrites your file."""
    from ptquiz.stubs import pristine_stub, todo_functions

    ex, lang = c.exercise(number), c.lang
    path = ex.exercise_path
    c.usable(path)
    stub = None
    if not path.exists():  # absent, or a link to nothing (replaced: never written through)
        stub = pristine_stub(ex)
        if stub is None:
            die(t("no_stub", lang, n=number, name=ex.name))
        c.replace_file(path, stub)
        note = t("created", lang, path=c.rel(path))
    else:
        pristine = pristine_stub(ex)
        note = None if pristine == path.read_text(encoding="utf-8", errors="replace") else t("kept", lang, path=c.rel(path))
    click.secho(f"\n{ex.number:02d} · {text(ex.title, lang)}", bold=True)
    click.echo(text(ex.prompt, lang).strip() + "\n")
    source = stub or pristine_stub(ex) or path.read_text(encoding="utf-8", errors="replace")
    todo = todo_functions(source)
    if todo:
        click.echo(f"{t('implement', lang)}: " + ", ".join(todo))
    click.echo(f"{t('edit', lang)}: {c.rel(path)}")
    if note:
        click.echo(note)
    click.echo(t("next_steps", lang, n=number))
    c.state.start(number)
    c.save_state()


@main.command()
@click.argument("number", type=int, required=False)
@pass_ctx
def hint(c: Ctx, number):
    """Show the next hint for NUMBER (default: the current exercise)."""
    session = _mock(c, stop=True)
    if session is not None:
        return _mock_hint(c, session, number)
    number = _current(c, number)
    ex, lang, st = c.exercise(number), c.lang, c.state
    try:  # one locked step: two `hint` commands at once show two levels
        level = st.next_hint(number, len(ex.hints))
    except KitFileError as e:
        level = min(st.hint_level(number) + 1, len(ex.hints))
        c.warn(t("not_saved", lang, why=text(e.msg, lang)))
    c.log_event("hint", number, level=level)
    click.secho(t("hint", lang, level=level, total=len(ex.hints), n=number), bold=True)
    click.echo(text(ex.hints[level - 1], lang))
    if level == len(ex.hints):
        click.echo(t("hint_last", lang, n=number))


def _current(c: Ctx, number):
    if number is not None:
        return number
    if c.state.current is None:
        die(t("no_current", c.lang))
    return c.state.current


@main.command()
@click.argument("numbers", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Grade every exercise.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--target", type=click.Path(exists=True, file_okay=False), default=None,
              help="Grade the files in this folder instead of exercises/ (e.g. solutions/).")
@click.option("--workers", type=int, default=None, help="Parallel grading processes (default: cores, at most 4).")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Also write JUnit XML (one testcase per check) to FILE.")
@click.option("--gradescope", type=click.Path(dir_okay=False), default=None, help="Also write a Gradescope results.json to FILE.")
@click.option("--exercism", type=click.Path(dir_okay=False), default=None, help="Also write an Exercism v3 results.json to FILE.")
@click.option("--classroom", is_flag=True, help="Append the GitHub Classroom `result=<base64>` to $GITHUB_OUTPUT (printed when unset).")
@pass_ctx
def grade(c: Ctx, numbers, all_, as_json, target, workers, junit, gradescope, exercism, classroom):
    """Grade exercises (default: the ones you started). Exit 0 only when all got full marks."""
    from ptquiz.report import render_text
    from ptquiz.runner import GradingError
    from ptquiz.runner import grade as run_grade

    cat, lang = c.catalog, c.lang
    session = _mock(c, stop=True) if target is None else None
    if session is not None:  # a mock runs: grade its files, not exercises/
        return _mock_grade(c, session, numbers, as_json)
    if all_:
        exs = list(cat)
    elif numbers:
        exs = [c.exercise(n) for n in dict.fromkeys(numbers)]
    else:
        started = [n for n in c.state.started if n in cat.exercises]
        if not started:
            die(t("nothing_to_grade", lang))
        exs = [cat.get(n) for n in sorted(started)]
    from ptquiz.export import check_tamper
    from ptquiz.formats import tamper_line, write_outputs

    from ptquiz.safeio import explain_unusable

    tamper = check_tamper(cat.root)
    outputs = dict(junit=junit, gradescope=gradescope, exercism=exercism, classroom=classroom, tamper=tamper,
                   echo=click.echo)
    target_dir = Path(target).resolve() if target else None
    # the learner's files, before the code being graded runs (it runs elsewhere, but could reach them)
    mine = {ex.exercise_path: ex.number for ex in cat}
    snap = c.snapshot(mine, "pt-quiz grade " + " ".join(str(ex.number) for ex in exs))
    try:
        result = run_grade(exs, target=target_dir, workers=workers, cwd=cat.root)
    except GradingError as e:
        from ptquiz.formats import error_result

        write_outputs(error_result(exs, str(e)), lang, {ex.number: ex for ex in exs}, **outputs)
        if as_json:
            click.echo(json.dumps({"score": 0, "max_score": sum(ex.max_score() for ex in exs), "exercises": [],
                                   "error": str(e)}, ensure_ascii=False, indent=1))
        c.print_changes(c.changed_files(snap, mine))
        die(str(e), code=3)
    explain_unusable(result.exercises, {ex.number: ex.learner_path(target_dir) for ex in exs})
    write_outputs(result, lang, {ex.number: ex for ex in exs}, **outputs)
    first_full = []
    if target is None:
        for e in result.exercises:
            if e.status == "passed" and not c.state.passed(e.number):
                first_full.append(e.number)
            c.state.record(e.number, e.score, e.max_score)
            c.log_event("grade", e.number, **grade_fields(e, "exercise"))
        c.save_state()
    changes = c.changed_files(snap, mine)
    if as_json:
        doc = result.to_json(lang)
        doc["tamper"] = tamper
        doc["changed_during_grading"] = changes
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        click.echo(render_text(result, lang, color=sys.stdout.isatty()))
        if tamper_line(tamper):
            click.secho(tamper_line(tamper), fg="yellow", bold=True)
        for n in first_full:
            click.secho(t("debrief_ready", lang, n=n), fg="green")
    c.print_changes(changes)  # on stderr: the JSON on stdout stays one document
    full = result.exercises and all(e.status == "passed" for e in result.exercises)
    sys.exit(0 if full else 1)


@main.command()
@click.argument("number", type=int, required=False)
@click.option("--force", is_flag=True, help="Show it before full marks (this is recorded).")
@click.option("--no-answers", is_flag=True,
              help="Show the follow-up questions without their model answers (answer them aloud first).")
@pass_ctx
def debrief(c: Ctx, number, force, no_answers):
    """After full marks on NUMBER: why it works, what the source answer got wrong, the classic mistakes with
    what the grader says about each, other approaches, and the follow-up questions an interviewer asks."""
    from ptquiz.debrief import render

    number = _current(c, number)
    ex, lang, st = c.exercise(number), c.lang, c.state
    _locked_during_mock(c)
    passed = st.passed(number)
    if not passed and not force:
        last = st.last_score(number)
        die(t("debrief_locked", lang, n=number, last=f"{last[0]}/{last[1]}" if last else t("debrief_never", lang)), 1)
    if not passed:
        click.secho(t("debrief_forced", lang, n=number), fg="yellow")
    click.echo(render(ex, lang, answers=not no_answers))
    c.log_event("debrief", number, forced=not passed)


@main.command()
@click.argument("number", type=int)
@pass_ctx
def reset(c: Ctx, number):
    """Restore the starting stub of NUMBER; your file is backed up first."""
    from ptquiz.stubs import pristine_stub

    ex, lang = c.exercise(number), c.lang
    stub = pristine_stub(ex)
    if stub is None:
        die(t("no_stub", lang, n=number, name=ex.name))
    path = ex.exercise_path
    saved = c.replace_file(path, stub)
    if saved:
        click.echo(t("reset_done", lang, path=c.rel(path)))
        click.echo(t("backup", lang, path=c.rel(saved)))
    else:
        click.echo(t("reset_missing", lang, path=c.rel(path)))


@main.command()
@click.argument("number", type=int, required=False)
@click.option("--list", "list_", is_flag=True, help="Show the snapshots (with NUMBER: that file's copies); change nothing.")
@click.option("--from", "from_", type=int, default=None, metavar="K",
              help="Restore from snapshot #K of --list (default: the newest copy that differs from your file).")
@pass_ctx
def restore(c: Ctx, number, list_, from_):
    """Put back exercise NUMBER's file as it was before a grading (snapshots: `--list`). Your current file is
    backed up first."""
    from ptquiz.snapshots import content, digest, key_for, path_for, snapshots

    root, lang = c.catalog.root, c.lang
    data = root / DATA_DIR
    if data.exists() and not data.is_dir():
        c.fail(data_dir_is_a_file(data))
    snaps = snapshots(root)
    if number is None:
        if not snaps:
            click.echo(t("no_snapshots", lang))
            return
        click.echo(t("snapshots_head", lang))
        numbers = {key_for(root, ex.exercise_path): ex.number for ex in c.catalog}
        now: dict = {}
        for k, snap in enumerate(snaps[:20], 1):
            differ = []
            for key, sha in snap.files.items():
                if key not in now:
                    now[key] = digest(path_for(root, key))
                if now[key] != sha:
                    differ.append(str(numbers.get(key, key)))
            extra = f"   {t('snapshot_differs', lang, which=', '.join(differ))}" if differ else ""
            click.echo(f"  #{k:<3} {snap.when}  `{snap.reason}`  ({len(snap.files)}){extra}")
        click.echo(t("snapshots_foot", lang))
        return
    ex = c.exercise(number)
    path = ex.exercise_path
    c.usable(path)
    key, cur = key_for(root, path), digest(path)
    having = [(k, snap) for k, snap in enumerate(snaps, 1) if key in snap.files]
    if not having:
        die(t("never_snapshotted", lang, path=c.rel(path)), code=1)
    if list_:
        click.echo(t("versions_head", lang, path=c.rel(path)))
        for k, snap in having:
            sha = snap.files[key]
            try:
                n_lines = content(root, sha).count(b"\n")
            except KitFileError:
                n_lines = "?"
            same = f"   ({t('same_as_now', lang)})" if sha == cur else ""
            click.echo(f"  #{k:<3} {snap.when}  `{snap.reason}`  {t('lines', lang, n=n_lines)}  {sha[:8]}{same}")
        return
    if from_ is not None:
        pick = next(((k, s) for k, s in having if k == from_), None)
        if pick is None:
            die(t("bad_snapshot_number", lang, k=from_, path=c.rel(path), n=number,
                  which=", ".join(f"#{k}" for k, _ in having[:10])), code=1)
    else:
        pick = next(((k, s) for k, s in having if s.files[key] != cur), None)
        if pick is None:
            click.echo(t("nothing_to_restore", lang, path=c.rel(path), n=number))
            return
    k, snap = pick
    try:
        raw = content(root, snap.files[key])
    except KitFileError as e:
        c.fail(e, code=1)
    saved = c.replace_file(path, raw)
    click.echo(t("restored", lang, path=c.rel(path), k=k, when=snap.when, reason=snap.reason))
    if saved:
        click.echo(t("backup", lang, path=c.rel(saved)))


@main.command()
@click.argument("number", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask, even if you have not passed it yet.")
@pass_ctx
def solution(c: Ctx, number, yes):
    """Show the reference solution of NUMBER (asks first unless you passed it)."""
    _locked_during_mock(c)
    ex, lang = c.exercise(number), c.lang
    if not ex.solution_path.exists():
        die(t("no_solutions", lang, name=ex.name), code=1)
    if not yes and not c.state.passed(number):
        if not click.confirm(t("confirm_solution", lang, n=number), default=False):
            sys.exit(1)
    click.echo(ex.solution_path.read_text(encoding="utf-8"))
    c.log_event("solution", number)


@main.command()
@click.argument("number", type=int, required=False)
@click.option("--interval", type=float, default=0.5, help="Seconds between checks for changes.")
@click.option("--once", is_flag=True, hidden=True, help="Grade once through the warm path and exit (tests).")
@pass_ctx
def watch(c: Ctx, number, interval, once):
    """Re-grade the current exercise every time you save it."""
    from ptquiz.watch import watch as run_watch

    if _mock(c) is not None:
        die(t("mock_no_watch", c.lang))
    number = _current(c, number)
    ex = c.exercise(number)
    click.echo(t("watching", c.lang, path=c.rel(ex.exercise_path)))
    run_watch(ex, c, interval=interval, once=once)


# ---------------------------------------------------------------------------
# mock interviews (engine: ptquiz/mock.py)

def _mock(c: Ctx, stop: bool = False):
    """The running mock session, or None. One past its time limit is finalised here and its scorecard
    printed (with `stop`, the command ends there). A broken one is a warning that says what to do."""
    from ptquiz import mock
    try:
        session, card = mock.current(c.catalog, c.lang)
    except KitFileError as e:
        c.warn(text(e.msg, c.lang))
        return None
    if card is not None:
        click.secho(t("mock_ended_deadline", c.lang, id=card["id"]), bold=True)
        _mock_card(c, card)
        if stop:
            sys.exit(0)
    return session


def _locked_during_mock(c: Ctx) -> None:
    """`solution` and `debrief` stop here while a mock runs (even one whose folder was deleted)."""
    from ptquiz.mock import is_running
    if _mock(c) is not None or is_running(c.catalog.root):
        die(t("mock_locked", c.lang))


def _nums(numbers) -> str:
    return ", ".join(str(n) for n in numbers)


def _mock_banner(c: Ctx, s) -> str:
    from ptquiz.mock import clock_str
    return t("mock_banner", c.lang, id=s.id, left=clock_str(s.time_left()), numbers=_nums(s.numbers),
             folder=c.rel(s.dir))


def _mock_card(c: Ctx, card: dict) -> None:
    from ptquiz.mock import mock_dir, render
    click.echo(render(card, c.lang))
    folder = mock_dir(c.catalog.root) / card["id"]
    click.echo(t("mock_saved", c.lang, txt=c.rel(folder / "scorecard.txt"), json=c.rel(folder / "scorecard.json")))


def _mock_recreate(c: Ctx, s) -> None:
    from ptquiz.mock import recreate_missing
    try:
        for f in recreate_missing(s, c.catalog):
            c.warn(t("mock_recreated", c.lang, path=c.rel(f)))
    except (KitFileError, OSError) as e:
        c.warn(text(getattr(e, "msg", str(e)), c.lang))


def _mock_show(c: Ctx, s) -> None:
    """The session as a candidate needs it: time left, rules, each prompt and the file to edit."""
    from ptquiz import mock
    from ptquiz.stubs import todo_functions

    lang = c.lang
    _mock_recreate(c, s)
    click.secho(_mock_banner(c, s), bold=True)
    click.echo(t("mock_rules", lang, minutes=f"{s.data['minutes']:g}", free=mock.FREE_GRADES, gcost=mock.GRADE_COST,
                 maxg=mock.MAX_GRADES, hint=mock.HINT_COST, passat=mock.PASS_AT))
    for n in s.numbers:
        ex = c.exercise(n)
        click.secho(f"\n{ex.number:02d} · {text(ex.title, lang)}  {'★' * ex.difficulty}", bold=True)
        click.echo(text(ex.prompt, lang).strip() + "\n")
        try:
            todo = todo_functions(s.file(n).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            todo = []
        if todo:
            click.echo(f"{t('implement', lang)}: " + ", ".join(todo))
        click.echo(f"{t('edit', lang)}: {c.rel(s.file(n))}")
    click.echo("\n" + t("mock_next", lang))


def _mock_hint(c: Ctx, s, number) -> None:
    from ptquiz import mock
    lang = c.lang
    if number is None:
        if len(s.numbers) == 1 or c.state.current in s.numbers:
            number = s.numbers[0] if len(s.numbers) == 1 else c.state.current
        else:
            die(t("mock_which", lang, numbers=_nums(s.numbers)))
    if number not in s.numbers:
        die(t("mock_not_in", lang, n=number, numbers=_nums(s.numbers)))
    ex = c.exercise(number)
    try:
        level = mock.hint(s, number, len(ex.hints))
    except KitFileError as e:
        c.fail(e)
    c.log_event("hint", number, level=level, mode="mock", session=s.id)
    click.secho(t("hint", lang, level=level, total=len(ex.hints), n=number), bold=True)
    click.echo(text(ex.hints[level - 1], lang))
    click.echo(t("mock_hint_cost", lang, level=level, n=number, pct=level * mock.HINT_COST))


def _mock_grade(c: Ctx, s, numbers, as_json) -> None:
    """Grade the session's files; record each run in session.json (never in your normal progress)."""
    from ptquiz import mock
    from ptquiz.report import render_text
    from ptquiz.runner import GradingError
    from ptquiz.runner import grade as run_grade

    lang = c.lang
    for n in numbers:
        if n not in s.numbers:
            die(t("mock_not_in", lang, n=n, numbers=_nums(s.numbers)))
    ok, refused = mock.can_grade(s, list(dict.fromkeys(numbers)) or s.numbers)
    if refused:
        (c.warn if ok else die)(t("mock_grade_limit", lang, numbers=_nums(refused), maxg=mock.MAX_GRADES))
    _mock_recreate(c, s)
    started, shas = s.data["clock"], mock.hashes(s, ok)  # the files as they are when grading starts
    try:
        result = run_grade([c.exercise(n) for n in ok], target=s.dir, cwd=c.catalog.root)
    except GradingError as e:
        die(str(e), code=3)
    try:
        mock.record_grades(s, started, shas, result.exercises)
    except KitFileError as e:
        c.warn(t("not_saved", lang, why=text(e.msg, lang)))
    for e in result.exercises:
        c.log_event("grade", e.number, **grade_fields(e, "mock"), session=s.id)
    left = s.data["deadline"] - max(s.data["clock"], mock.now())
    runs = {n: len(s.entry(n)["grades"]) for n in ok}
    if as_json:
        doc = result.to_json(lang)
        doc["mock"] = {"id": s.id, "time_left_s": round(max(0.0, left), 1), "grade_runs": runs,
                       "max_grade_runs": mock.MAX_GRADES}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        click.echo(render_text(result, lang, color=sys.stdout.isatty()))
        click.secho(t("mock_time_left", lang, id=s.id, left=mock.clock_str(left),
                      runs=", ".join(f"{n}: {k}/{mock.MAX_GRADES}" for n, k in runs.items())), bold=True)
    full = result.exercises and all(e.status == "passed" for e in result.exercises)
    sys.exit(0 if full else 1)


def _mock_options(f):
    from ptquiz.mock import DEFAULT_COUNT, DEFAULT_MINUTES
    for opt in reversed([
        click.option("--minutes", type=float, default=DEFAULT_MINUTES, show_default=True, help="Time limit."),
        click.option("--count", type=int, default=DEFAULT_COUNT, show_default=True, help="Number of exercises."),
        click.option("--difficulty", type=click.IntRange(1, 3), multiple=True,
                     help="Only this difficulty (1-3). Repeatable."),
        click.option("--topic", multiple=True, help="Only exercises with a topic containing this text. Repeatable."),
        click.option("--seed", default=None, help="Make the pick reproducible."),
    ]):
        f = opt(f)
    return f


def _mock_start(ctx, minutes, count, difficulty, topic, seed) -> None:
    from ptquiz import mock
    c: Ctx = ctx.find_object(Ctx)
    try:
        s, card = mock.current(c.catalog, c.lang)
    except KitFileError as e:
        c.fail(e)
    if card is not None:
        click.secho(t("mock_ended_deadline", c.lang, id=card["id"]), bold=True)
        _mock_card(c, card)
        return
    if s is not None:
        click.secho(t("mock_resumed", c.lang, id=s.id), bold=True)
        if any(ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE
               for p in ("minutes", "count", "difficulty", "topic", "seed")):
            click.echo(t("mock_ignored", c.lang))
    else:
        try:
            s = mock.start(c.catalog, c.state, minutes=minutes, count=count, difficulties=difficulty, topics=topic,
                           seed=seed, lang=c.lang)
        except KitFileError as e:
            c.fail(e)
        click.secho(t("mock_started", c.lang, id=s.id, minutes=f"{minutes:g}", seed=s.data["seed"]), bold=True)
        if len(s.numbers) < count:
            click.echo(t("mock_only", c.lang, found=len(s.numbers), count=count))
    _mock_show(c, s)


@main.group("mock", invoke_without_command=True)
@_mock_options
@click.pass_context
def mock_group(ctx, minutes, count, difficulty, topic, seed):
    """A timed mock interview: fresh copies of a few exercises, hints and grade runs cost points, a scorecard
    at the end. Run again to see the running one. Without a subcommand: `start`."""
    if ctx.invoked_subcommand is None:
        _mock_start(ctx, minutes, count, difficulty, topic, seed)


@mock_group.command("start")
@_mock_options
@click.pass_context
def mock_start(ctx, minutes, count, difficulty, topic, seed):
    """Start a mock interview (or show the running one)."""
    _mock_start(ctx, minutes, count, difficulty, topic, seed)


@mock_group.command("status")
@pass_ctx
def mock_status(c: Ctx):
    """Time left, grade runs, best scores and hints of the running mock."""
    from ptquiz import mock
    try:
        s, card = mock.current(c.catalog, c.lang)
    except KitFileError as e:
        c.fail(e)
    if card is not None:
        click.secho(t("mock_ended_deadline", c.lang, id=card["id"]), bold=True)
        _mock_card(c, card)
        return
    if s is None:
        click.echo(t("mock_none", c.lang))
        return
    click.secho(_mock_banner(c, s), bold=True)
    for e in s.data["exercises"]:
        best = max((r["score"] for r in e["grades"]), default=0)
        click.echo(f"  {e['number']:02d}  {c.rel(s.file(e['number']))}  " + t(
            "mock_status_row", c.lang, runs=len(e["grades"]), maxg=mock.MAX_GRADES, best=best, max=e["max"],
            hints=e["hints"]))
    click.echo(t("mock_next", c.lang))


@mock_group.command("finish")
@pass_ctx
def mock_finish(c: Ctx):
    """End the running mock now and print its scorecard."""
    from ptquiz import mock
    root = c.catalog.root
    try:
        s, card = mock.current(c.catalog, c.lang)
    except KitFileError as e:
        if not mock.is_running(root):  # set aside (corrupt): already closed
            c.fail(e)
        try:
            sid = mock.abandon(root)
        except KitFileError as e2:
            c.fail(e2)
        click.echo(t("mock_abandoned", c.lang, id=sid))
        return
    if card is None:
        if s is None:
            die(t("mock_none", c.lang))
        try:
            card = mock.finish(c.catalog, s, c.lang)
        except KitFileError as e:
            c.fail(e)
    else:
        click.secho(t("mock_ended_deadline", c.lang, id=card["id"]), bold=True)
    _mock_card(c, card)


@mock_group.command("history")
@pass_ctx
def mock_history(c: Ctx):
    """Past mock interviews: date, exercises, result."""
    from ptquiz import mock
    rows = mock.history(c.catalog.root)
    if not rows:
        click.echo(t("mock_history_none", c.lang))
        return
    click.echo(t("mock_history_head", c.lang))
    status = t("mock_hist_status", c.lang)
    for h in rows:
        card = h["card"]
        if card:
            verdict = t("card_pass", c.lang) if card.get("passed") else t("card_nopass", c.lang)
            result = f"{card.get('score')}/{card.get('max')} = {card.get('percent')} % ({verdict})"
        else:
            result = status[h["status"]]
        when = mock.when_str(h["started"]) if h["started"] else "?"
        click.echo(f"  {h['id']}  {when}  [{_nums(h['exercises'])}]  {result}")


# ---------------------------------------------------------------------------
# practice history: review queue (ptquiz/review.py) and stats (ptquiz/stats.py)

def _history(c: Ctx) -> list[dict]:
    from ptquiz import events
    root = c.catalog.root
    data = root / DATA_DIR
    if data.exists() and not data.is_dir():
        c.fail(data_dir_is_a_file(data))
    warned = getattr(c, "_history_warned", False)  # a corrupt line is reported once per command
    c._history_warned = True
    return events.read(root, warn=None if warned else c.warn)


def _day(ts: float) -> str:
    import time
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def _review_items(c: Ctx):
    from ptquiz import review
    return {n: i for n, i in review.schedule(_history(c)).items() if n in c.catalog.exercises}


def _queue_lines(c: Ctx, items) -> None:
    lang = c.lang
    ex_, due, interval, ease, last, title = t("review_cols", lang)
    widths = (4, 10, 8, 4, 14)

    def row(cells):
        return "  " + "  ".join(_fit(str(v), w) for v, w in zip(cells, widths)) + "  " + cells[-1]
    click.echo(row([ex_, due, interval, ease, last, title]).rstrip())
    for i in items:
        ex = c.catalog.get(i.exercise)
        click.echo(row([f"{i.exercise:>4}", _day(i.due), t("review_days", lang, n=i.sm2.interval), f"{i.sm2.ef:.2f}",
                        _day(i.last), text(ex.title, lang)]).rstrip())


@main.group(invoke_without_command=True)
@click.option("--list", "list_", is_flag=True, help="Show the whole queue (every practised exercise); change nothing.")
@click.option("--ahead", is_flag=True, help="Nothing due: open the next exercise in the queue now (reviewing early; "
                                             "SM-2 schedules from this practice).")
@click.pass_context
def review(ctx, list_, ahead):
    """Spaced repetition (SM-2): show what is due and open the most overdue exercise as a fresh stub in
    .pt-quiz/review/ (your exercises/ file is never touched). Then `pt-quiz review grade`."""
    if ctx.invoked_subcommand is not None:
        return
    from ptquiz import review as rv
    from ptquiz.stubs import pristine_stub, todo_functions

    c, now = ctx.obj, rv.clock()
    lang, root = c.lang, c.catalog.root
    items = _review_items(c)
    if not items:
        click.echo(t("review_empty", lang))
        return
    if list_:
        click.echo(t("review_queue_head", lang))
        _queue_lines(c, rv.queue(items, now, due_only=False))
        return
    due, pick = rv.queue(items, now), rv.open_session(items)
    if due:
        click.echo(t("review_head", lang))
        _queue_lines(c, due)
        click.echo("")
    if pick is None and not due and ahead:
        due = rv.queue(items, now, due_only=False)[:1]
    if pick is None and not due:
        nxt = rv.queue(items, now, due_only=False)[0]
        days = max(1, -int(nxt.overdue_days(now) // 1))
        click.echo(t("review_none_due", lang, n=nxt.exercise, date=_day(nxt.due), days=days))
        return
    ex = c.exercise((pick or due[0]).exercise)
    path = rv.scratch_path(root, ex)
    c.usable(path)
    if pick is not None and path.is_file():
        click.echo(t("review_continue", lang, n=ex.number, tries=pick.open_tries, path=c.rel(path)))
        return
    stub = pristine_stub(ex)
    if stub is None:
        die(t("no_stub", lang, n=ex.number, name=ex.name))
    try:
        write_file(path, stub, root)
    except KitFileError as e:
        c.fail(e)
    click.secho(f"\n{ex.number:02d} · {text(ex.title, lang)}", bold=True)
    click.echo(text(ex.prompt, lang).strip() + "\n")
    if todo_functions(stub):
        click.echo(f"{t('implement', lang)}: " + ", ".join(todo_functions(stub)))
    if pick is not None:
        click.echo(t("review_recreated", lang, path=c.rel(path)))
        click.echo(t("review_continue", lang, n=ex.number, tries=pick.open_tries, path=c.rel(path)))
    else:
        c.log_event("review", ex.number, action="open", t=now)
        click.echo(t("review_open", lang, n=ex.number, path=c.rel(path)))


@review.command("grade")
@pass_ctx
def review_grade(c: Ctx):
    """Grade the open review (.pt-quiz/review/NN_slug.py); full marks schedule the next one. Your score is
    not changed."""
    from ptquiz import review as rv
    from ptquiz.report import render_text
    from ptquiz.runner import GradingError
    from ptquiz.runner import grade as run_grade

    lang, cat = c.lang, c.catalog
    pick = rv.open_session(_review_items(c))
    if pick is None:
        die(t("review_nothing_open", lang), code=1)
    ex = c.exercise(pick.exercise)
    path = rv.scratch_path(cat.root, ex)
    if not path.is_file():
        die(t("review_missing", lang, path=c.rel(path)), code=1)
    mine = {e.exercise_path: e.number for e in cat}
    snap = c.snapshot(mine, f"pt-quiz review grade ({ex.number})")
    try:
        result = run_grade([ex], target=rv.review_dir(cat.root), cwd=cat.root)
    except GradingError as e:
        c.print_changes(c.changed_files(snap, mine))
        die(str(e), code=3)
    click.echo(render_text(result, lang, color=sys.stdout.isatty()))
    c.print_changes(c.changed_files(snap, mine))
    e, now = result.exercises[0], rv.clock()
    passed = e.status == "passed"
    c.log_event("grade", ex.number, **grade_fields(e, "review"), t=now)
    c.log_event("review", ex.number, action="grade", score=e.score, max=e.max_score, passed=passed, t=now)
    if not passed:
        click.echo(t("review_not_yet", lang, path=c.rel(path), n=ex.number))
        sys.exit(1)
    item = _review_items(c).get(ex.number)
    if item is not None and item.history:
        click.echo(t("review_passed", lang, q=item.history[-1].q, n=ex.number, date=_day(item.due),
                     days=item.sm2.interval, ef=f"{item.sm2.ef:.2f}"))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@pass_ctx
def stats(c: Ctx, as_json):
    """Your practice per topic and per check category, weakest topics first (from .pt-quiz/events.jsonl)."""
    from ptquiz.stats import TIME_METHOD, compute

    lang = c.lang
    doc = compute(_history(c), c.catalog)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
        return
    if not doc["exercises"]:
        click.echo(t("stats_empty", lang))
        return
    click.echo(t("stats_totals", lang, **doc["totals"]))
    for head, key, width in (("stats_topics", "topics", 28), ("stats_categories", "categories", 12)):
        click.echo("\n" + t(head, lang))
        click.echo(t("stats_cols", lang, name=_fit("", width)))
        for g in doc[key]:
            click.echo(f"  {_fit(g['name'], width)}  {g['practised']:>4}  {g['passed']:>6}  {g['first_try']:>7}  "
                       f"{g['hints']:>5}  {g['solutions']:>9}  {g['failed_in']:>8}  {g['minutes']:>5}")
    failing = [g for g in doc["categories"] if g["failed_in"]]
    if failing:
        click.echo("")
        for g in failing:
            click.echo("  " + t("stats_failed_in", lang, cat=g["name"], n=g["failed_in"]))
    click.echo("\n" + t("stats_time", lang, method=TIME_METHOD))


# ---------------------------------------------------------------------------
# instructor commands

@main.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming every stale stub.")
@pass_ctx
def build(c: Ctx, check):
    """Regenerate every stub in exercises/ from its solution (idempotent; changed files are backed up)."""
    from ptquiz.stubs import StubError, stub_for

    stale, written = [], []
    for ex in c.catalog:
        if not ex.solution_path.exists():
            continue
        try:
            stub = stub_for(ex.solution_path)
        except StubError as e:
            die(str(e), code=1)
        c.usable(ex.exercise_path)
        cur = ex.exercise_path.read_text(encoding="utf-8", errors="replace") if ex.exercise_path.exists() else None
        if cur != stub:
            if check:
                stale.append(ex)
            else:
                c.replace_file(ex.exercise_path, stub)  # backs up what may hold a learner's work first
                written.append(ex)
    for ex in stale:
        click.echo(f"stale: {c.rel(ex.exercise_path)} differs from what {c.rel(ex.solution_path)} generates; run `pt-quiz build`")
    for ex in written:
        click.echo(f"wrote {c.rel(ex.exercise_path)}")
    if not stale and not written:
        click.echo("all stubs are up to date")
    sys.exit(1 if stale else 0)


from ptquiz.instructor import register  # noqa: E402 - instructor commands (new, validate, export, gradebook)

register(main)

if __name__ == "__main__":
    main()
