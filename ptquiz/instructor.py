"""Instructor commands: new, validate, classroom export, gradescope export, gradebook.

Registered on the CLI group by ``register(main)`` at the bottom of cli.py.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _die(msg: str, code: int = 2):
    click.secho(f"Error: {msg}", fg="red", err=True)
    sys.exit(code)


def _select(c, numbers):
    return [c.exercise(n) for n in dict.fromkeys(numbers)] if numbers else list(c.catalog)


# ---------------------------------------------------------------------------
# new

@click.command("new")
@click.argument("slug")
@click.option("--number", type=int, default=None, help="Exercise number (default: the next free one).")
@click.option("--into", "into", type=click.Path(file_okay=False), default=None,
              help="Pack folder to write into (default: the project root).")
@click.pass_obj
def new(c, slug, number, into):
    """Scaffold exercise SLUG: solution, grader (one example check per category), metadata, stub."""
    from ptquiz.export import render
    from ptquiz.stubs import make_stub

    if not SLUG_RE.match(slug):
        _die(f"slug {slug!r} must be lowercase letters, digits and _, starting with a letter (e.g. transfer_learning)")
    cat = c.catalog
    pack = Path(into).resolve() if into else cat.root
    used = set(cat.exercises)
    for sub in ("graders", "exercises", "solutions"):  # numbers taken by files the catalog could not load
        d = pack / sub
        if d.is_dir():
            for p in d.glob("*"):
                m = re.match(r"^(?:test_)?(\d{2,3})_", p.name)
                if m:
                    used.add(int(m.group(1)))
    same = [ex for ex in cat if ex.slug == slug] + [p for p in (pack / "graders").glob(f"[0-9]*_{slug}.toml")
                                                    if re.fullmatch(rf"\d{{2,3}}_{slug}\.toml", p.name)]
    if same:
        where = same[0].meta_path if hasattr(same[0], "meta_path") else same[0]
        _die(f"an exercise named {slug!r} already exists ({where}). Choose another slug")
    if number is None:
        number = max(used, default=0) + 1
    elif number < 1 or number > 999:
        _die(f"--number must be between 1 and 999, got {number}")
    elif number in used:
        other = cat.exercises.get(number)
        where = other.meta_path if other else f"files numbered {number:02d} in {pack}"
        _die(f"exercise number {number} is already used by {where}. Pick another with --number, or omit it for the next free one")
    name = f"{number:02d}_{slug}"
    files = {
        pack / "solutions" / f"{name}.py": ("new_solution.py.j2", None),
        pack / "graders" / f"test_{name}.py": ("new_grader.py.j2", None),
        pack / "graders" / f"{name}.toml": ("new_meta.toml.j2", None),
    }
    stub_path = pack / "exercises" / f"{name}.py"
    existing = [p for p in [*files, stub_path] if p.exists()]
    if existing:
        _die("refusing to overwrite " + ", ".join(map(str, existing)) + ". Choose another slug or number")
    ctx = dict(number=number, n2=f"{number:02d}", slug=slug, name=name)
    texts = {p: render(tpl, **ctx) for p, (tpl, _) in files.items()}
    stub = make_stub(texts[pack / "solutions" / f"{name}.py"], f"solutions/{name}.py")
    texts[stub_path] = stub
    for p, body in texts.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "x", encoding="utf-8") as f:  # "x": never overwrite, even in a race
            f.write(body)
        click.echo(f"created {c.rel(p)}")
    packs = {p.resolve() for p in cat.packs}
    if pack.resolve() not in packs:
        click.secho(f"note: {pack} is not one of this project's packs, so `pt-quiz list` will not show it yet. "
                    f"Add it to [tool.pt-quiz] packs in {cat.root / 'pyproject.toml'} or pass --pack {pack}",
                    fg="yellow", err=True)
    click.echo(f"\nNext: fill in the TODOs in {c.rel(pack / 'graders' / f'{name}.toml')}, write your exercise in "
               f"{c.rel(pack / 'solutions' / f'{name}.py')} and its checks in "
               f"{c.rel(pack / 'graders' / f'test_{name}.py')}, then `pt-quiz build` and `pt-quiz validate {number}`.")


# ---------------------------------------------------------------------------
# validate

@click.command("validate")
@click.argument("numbers", type=int, nargs=-1)
@click.option("--budget", type=float, default=60.0, show_default=True,
              help="Seconds of grader time allowed per exercise (measured on the reference).")
@click.option("--no-repeat", is_flag=True, help="Skip grading the reference a second time (determinism check).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Grading runs at once.")
@click.option("--results", "results_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also save every grading result, fingerprinted, to this JSON file (the kit's tests reuse "
                   "results whose fingerprint still matches: set PT_QUIZ_VALIDATE_RESULTS to the file).")
@click.option("--update-debrief", is_flag=True,
              help="Rewrite graders/NN_slug.debrief.json (the classic mistakes and other approaches `pt-quiz debrief` "
                   "shows, with the messages the grader gives them) from this run instead of reporting it as stale.")
@click.option("--mutants", is_flag=True,
              help="Mutation-test the graders instead: plant plausible one-line bugs in each reference (dropped "
                   "dim=/batch_first=/.detach()/zero_grad(), relu<->tanh, +<->-, off-by-one, ...), grade them and "
                   "list those that still get full marks. Record a survivor that changes nothing in "
                   "tests/mutants/NN_slug.toml ([[equivalent]] mutant = \"<key as printed>\", why = \"...\").")
@click.option("--sample", type=int, default=None,
              help="With --mutants: grade only this many mutants per exercise (a fixed, repeatable sample spread "
                   "over the operators; default: all).")
@click.option("--mutants-report", "mutants_report", type=click.Path(dir_okay=False, writable=True), default=None,
              help="With --mutants: also write every graded mutant and its outcome to this JSON file.")
@click.pass_obj
def validate_cmd(c, numbers, budget, no_repeat, jobs, results_path, update_debrief, mutants, sample, mutants_report):
    """Check exercises before students see them (default: all). One line per finding; exit 0 only when none."""
    from ptquiz.validate import catalog_findings, validate

    cat = c.catalog  # prints catalog warnings
    exs = _select(c, numbers)
    if sample is not None and not mutants:
        _die("--sample only applies with --mutants (e.g. pt-quiz validate --mutants --sample 5)")
    if mutants:
        _mutants(cat, exs, sample, jobs, mutants_report)
    pre = catalog_findings(cat.errors) if not numbers else []
    rep = validate(exs, cat.root, budget=budget, repeat=not no_repeat, jobs=jobs,
                   progress=lambda m: click.echo(m, err=True), results_path=results_path,
                   update_debrief=update_debrief)
    findings = pre + rep.findings
    bad = {f.exercise for f in findings}
    for ex in exs:
        if ex.name not in bad:
            click.secho(f"ok   {ex.name}: {rep.summary.get(ex.name, '')}", fg="green")
    for f in findings:
        click.secho(f"FAIL {f}", fg="red")
    n_bad = len(bad)
    click.echo(f"\n{len(exs) - len(bad & {e.name for e in exs})}/{len(exs)} exercise(s) valid, "
               f"{len(findings)} finding(s)" + (f" in {n_bad} exercise(s)" if findings else ""))
    sys.exit(1 if findings else 0)


def _mutants(cat, exs, sample, jobs, report_path):
    from ptquiz import mutants as mt

    if sample is not None and sample < 1:
        _die(f"--sample must be 1 or more, got {sample}")
    try:
        got = mt.run(exs, cat.root, per_exercise=sample, jobs=jobs, progress=lambda m: click.echo(m, err=True))
    except ValueError as e:  # a malformed tests/mutants/*.toml
        _die(str(e))
    bad = 0
    rows = []
    for em in got:
        graded = len(em.graded)
        eq = [m for m in em.survivors if m.key in em.equivalent]
        rate = em.kill_rate
        line = (f"{em.name}: {em.generated} mutant(s), {graded} graded, {em.killed} killed, {len(eq)} equivalent, "
                f"{len(em.unexplained)} survivor(s)" + (f", {len(em.errors)} not graded" if em.errors else "")
                + (f"; kill rate {rate:.0%}" if rate is not None else ""))
        unexplained = em.unexplained
        click.secho(("ok   " if not unexplained and not em.errors else "FAIL ") + line,
                    fg="green" if not unexplained and not em.errors else "red")
        for m in unexplained:
            bad += 1
            click.echo(f"     survivor {mt.diff_line(m)}\n       key: {m.key}")
        for m, err in em.errors:
            bad += 1
            click.echo(f"     not graded {mt.diff_line(m)}: {err[:200]}")
        if sample is None:
            for k in em.stale:
                click.secho(f"     note: tests/mutants/{em.name}.toml lists a mutant no longer generated "
                            f"(remove it): {k}", fg="yellow")
        rows.append({"exercise": em.name, "generated": em.generated, "graded": graded, "killed": em.killed,
                     "equivalent": len(eq), "survivors": len(unexplained), "kill_rate": rate,
                     "mutants": [{"key": m.key, "op": m.op, "line": m.line,
                                  "outcome": ("error" if isinstance(r, str) else
                                              "equivalent" if r.score == r.max_score and m.key in em.equivalent else
                                              "survived" if r.score == r.max_score else "killed"),
                                  "score": None if isinstance(r, str) else r.score,
                                  "max_score": None if isinstance(r, str) else r.max_score}
                                 for m, r in em.graded]})
    total = sum(len(em.graded) for em in got)
    killed = sum(em.killed for em in got)
    click.echo(f"\n{killed}/{total} mutant(s) killed, {bad} survivor(s) or ungraded mutant(s) to review"
               + ("" if not bad else ": add a check and a tests/wrong/ fixture for each real bug, or record it as "
                  "equivalent (with why) in tests/mutants/NN_slug.toml"))
    if report_path:
        Path(report_path).write_text(json.dumps({"format_version": 1, "exercises": rows}, indent=1), encoding="utf-8")
    sys.exit(1 if bad else 0)


# ---------------------------------------------------------------------------
# exports

@click.group("classroom")
def classroom():
    """GitHub Classroom: export a student repository with autograding."""


@classroom.command("export")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("-e", "--exercise", "numbers", type=int, multiple=True, help="Export only these exercises (repeatable).")
@click.option("--title", default="PyTorch exercises", show_default=True, help="Title of the student README.")
@click.option("--timeout", type=int, default=10, show_default=True, help="Minutes allowed per grading step.")
@click.option("--python", "python", default="3.11", show_default=True, help="Python version on the runner.")
@click.option("--force", is_flag=True, help="Replace DEST if it exists and is not empty.")
@click.pass_obj
def classroom_export_cmd(c, dest, numbers, title, timeout, python, force):
    """Write a student repository to DEST: stubs, graders, engine, workflow; no solutions."""
    from ptquiz.export import ExportError, classroom_export

    exs = _select(c, numbers)
    try:
        out = classroom_export(exs, Path(dest), title=title, python=python, timeout_minutes=timeout, force=force)
    except ExportError as e:
        _die(str(e), code=1)
    _notes(out)
    click.echo(f"exported {len(exs)} exercise(s) to {out['dest']} "
               f"({sum(r['max_score'] for r in out['exercises'])} points)")
    click.echo(f"tamper manifest: {out['manifest'].name} sha256 {out['manifest_sha256']} "
               f"(keep a copy: `pt-quiz gradebook --manifest` compares against it)")
    click.echo("next: create a template repository from it (git init && git add -A && git commit), "
               "push it to GitHub and pick it as the starter code of a Classroom assignment")


@click.group("gradescope")
def gradescope():
    """Gradescope: export an autograder."""


@gradescope.command("export")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("-e", "--exercise", "numbers", type=int, multiple=True, help="Export only these exercises (repeatable).")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the autograder zip to upload to FILE.")
@click.option("--force", is_flag=True, help="Replace DEST if it exists and is not empty.")
@click.pass_obj
def gradescope_export_cmd(c, dest, numbers, zip_path, force):
    """Write a Gradescope autograder (setup.sh, run_autograder, the kit without solutions) to DEST."""
    from ptquiz.export import ExportError, gradescope_export

    exs = _select(c, numbers)
    try:
        out = gradescope_export(exs, Path(dest), force=force, zip_path=Path(zip_path) if zip_path else None)
    except ExportError as e:
        _die(str(e), code=1)
    _notes(out)
    click.echo(f"exported a Gradescope autograder for {len(exs)} exercise(s) to {out['dest']}")
    if out.get("zip"):
        click.echo(f"upload {out['zip']} as the autograder (Zip file upload)")
    else:
        click.echo(f"upload a zip of its contents: (cd {out['dest']} && zip -r ../autograder.zip .)")


# ---------------------------------------------------------------------------
# gradebook

@click.command("gradebook")
@click.argument("submissions", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="CSV file (default: stdout).")
@click.option("-e", "--exercise", "numbers", type=int, multiple=True, help="Grade only these exercises (repeatable).")
@click.option("--jobs", type=int, default=2, show_default=True, help="Students graded at once.")
@click.option("--check-timeout", type=float, default=60.0, show_default=True, help="Seconds allowed per check.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Trusted tamper manifest (from the export); default: computed from this project's files.")
@click.pass_obj
def gradebook_cmd(c, submissions, output, numbers, jobs, check_timeout, manifest):
    """Grade many student copies (folders of NN_slug.py files, or whole repositories) into a CSV."""
    from ptquiz.gradebook import run_gradebook, to_csv

    exs = _select(c, numbers)
    trusted = json.loads(Path(manifest).read_text(encoding="utf-8")) if manifest else None
    subs = [Path(s).resolve() for s in submissions]
    click.echo(f"grading {len(subs)} submission(s), {len(exs)} exercise(s), {jobs} at once", err=True)
    rows = run_gradebook(exs, subs, c.catalog.root, jobs=jobs, manifest=trusted, all_exercises=list(c.catalog), check_timeout=check_timeout,
                         progress=lambda m: click.echo(m, err=True))
    text = to_csv(exs, rows)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _notes(out):
    for n in out.get("notes", []):
        click.secho(f"note: {n} (metadata students see by design, e.g. a hint; reword it if that gives too much away)",
                    fg="yellow", err=True)


def register(main):
    for cmd in (new, validate_cmd, classroom, gradescope, gradebook_cmd):
        main.add_command(cmd)
