"""Instructor features: new, validate, classroom export, gradescope export, gradebook.

Grading is slow (seconds per run), so only a few tests grade, always on the small `pack`
project (copies of exercise 01); validate's decision logic is tested with a fake grader.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import KIT
from ptquiz import validate as V
from ptquiz.catalog import Catalog
from ptquiz.export import MANIFEST, check_tamper
from ptquiz.runner import CheckResult, ExerciseResult, GradeResult
from ptquiz.stubs import solution_lines

WRONG01 = KIT / "tests" / "wrong" / "01_custom_module"


def run(*args):
    import cli

    return CliRunner().invoke(cli.main, ["--lang", "en", *map(str, args)])


def fill_todos(meta: Path):
    s = meta.read_text(encoding="utf-8")
    s = s.replace('topics = ["TODO: topic"]', 'topics = ["nn.Linear"]')
    s = re.sub(r'en = "TODO: ([^"]*)"', r'en = "Filled in: \1"', s)
    s = re.sub(r'zh = "TODO: ([^"]*)"', r'zh = "已填写：\1"', s)
    s = re.sub(r'(question|answer)\.en = "TODO: ([^"]*)"', r'\1.en = "Filled in: \2"', s)
    s = re.sub(r'(question|answer)\.zh = "TODO: ([^"]*)"', r'\1.zh = "已填写：\2"', s)
    s = s.replace("TODO: why the answer works: the concept in a short paragraph.", "A scaled linear layer scales.")
    s = s.replace("TODO: 为什么这样写是对的：用一小段话讲清概念。", "缩放线性层会缩放输出。")
    s = s.replace("TODO: what to build and what the grader checks (markdown).", "Build a scaled linear layer.")
    s = s.replace("TODO: 题目描述（markdown）。", "实现一个缩放线性层。")
    meta.write_text(s, encoding="utf-8")
    assert not [ln for ln in s.splitlines() if "TODO" in ln and not ln.startswith("#")]


# ---------------------------------------------------------------------------
# new + validate, for real

def test_new_scaffolds_and_validate_fails_until_filled_in(pack):
    res = run("new", "scaled_linear")
    assert res.exit_code == 0, res.output
    name = "03_scaled_linear"  # the pack holds 01 and 02: next free number
    files = [pack / "solutions" / f"{name}.py", pack / "graders" / f"test_{name}.py",
             pack / "graders" / f"{name}.toml", pack / "exercises" / f"{name}.py"]
    assert all(f.exists() for f in files)
    assert "TODO: English title" in run("list").output  # appears at once
    grader = files[1].read_text()
    for cat in ("shape", "gradient", "training", "device", "correctness"):
        assert f'category="{cat}"' in grader
    assert "Scaffolded" not in files[3].read_text()  # the author's note never reaches the stub
    # never overwrites
    before = [f.read_text() for f in files]
    for args in (("new", "scaled_linear"), ("new", "other", "--number", "3"), ("new", "other", "--number", "1")):
        res = run(*args)
        assert res.exit_code == 2 and ("already" in res.output or "refusing" in res.output), res.output
    assert run("new", "Bad-Slug").exit_code == 2
    assert [f.read_text() for f in files] == before

    res = run("validate", "3", "--no-repeat", "--jobs", "2")
    assert res.exit_code == 1, res.output
    fails = [ln for ln in res.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and "TODO" in fails[0] and "Fix:" in fails[0], res.output  # reference full, stub zero

    fill_todos(files[2])
    res = run("validate", "3", "--jobs", "2")
    assert res.exit_code == 0, res.output
    assert "ok   03_scaled_linear: reference 10/10, stub 0/10" in res.stdout


def test_new_into_a_pack(pack, tmp_path):
    course = tmp_path / "course"
    res = run("--pack", course, "new", "extra", "--into", course)
    assert res.exit_code == 0, res.output
    assert (course / "graders" / "03_extra.toml").exists()
    res = run("new", "loose", "--into", tmp_path / "elsewhere")
    assert res.exit_code == 0 and "not one of this project's packs" in res.output


# ---------------------------------------------------------------------------
# validate's decisions, with a fake grader (no pytest run)

def _result(ex, passed: dict, dur=0.1):
    checks = [CheckResult(c.name, c.title, c.category, c.points, passed.get(c.name, False),
                          c.points if passed.get(c.name, False) else 0,
                          None if passed.get(c.name) else {"en": "nope", "zh": "不"}, None, dur)
              for c in ex.checks()]
    return ExerciseResult(ex.number, ex.slug, ex.title, sum(c.score for c in checks),
                          sum(c.points for c in checks), "partial", checks)


def test_validate_findings_with_fake_grading(pack):
    for n in (1, 2):  # two wrong fixtures for exercise 01 in the pack
        d = pack / "tests" / "wrong" / "01_custom_module"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(WRONG01 / "flattens_input.py", d / f"w{n}.py")
    cat = Catalog(pack)
    ex = cat.get(1)
    names = [c.name for c in ex.checks()]
    calls = []

    def fake(exs, target, workers=None, cwd=None):
        calls.append(sorted(p.name for p in target.iterdir()))
        src = (target / f"{ex.name}.py").read_text()
        if src == (pack / "solutions" / f"{ex.name}.py").read_text():
            n_ref = sum(1 for c in calls if c) - 1
            passed = {k: True for k in names} if n_ref == 0 else {k: k != names[-1] for k in names}
            return GradeResult([_result(ex, passed, dur=40.0)])
        if "raise NotImplementedError" in src:
            return GradeResult([_result(ex, {names[0]: True})])
        return GradeResult([_result(ex, {k: True for k in names})])  # wrong fixtures get full marks

    rep = V.validate([ex], pack, budget=60, grade_fn=fake)
    assert len(calls) == 5  # reference, stub, 2 wrong fixtures, reference again: one file per run
    text = "\n".join(map(str, rep.findings))
    assert "stub scores 2/" in text and names[0] in text
    assert text.count("gets full marks") == 2
    assert "twice gave different results" in text
    assert "over the 60 s budget" in text  # 5 checks x 40 s on the second run
    assert all(": " in str(f) and "Fix: " in str(f) for f in rep.findings)
    assert not rep.ok


def test_validate_checks_messages_and_alternatives_and_saves_fingerprinted_results(pack, tmp_path):
    ex = Catalog(pack).get(1)
    names = [c.name for c in ex.checks()]
    wrong = pack / "tests" / "wrong" / ex.name
    alt = pack / "tests" / "alt" / ex.name
    wrong.mkdir(parents=True)
    alt.mkdir(parents=True)
    (wrong / "named.py").write_text('"""Wrong.\nexpect-message: flattened\n"""\nNAMED = 1\n')
    (wrong / "unnamed.py").write_text('"""Wrong.\nexpect-message: a message nobody gives\n"""\nUNNAMED = 1\n')
    (alt / "good.py").write_text("GOOD = 1\n")
    (alt / "refused.py").write_text("REFUSED = 1\n")

    def fake(exs, target, workers=None, cwd=None):
        src = (target / f"{ex.name}.py").read_text()
        if src == (pack / "solutions" / f"{ex.name}.py").read_text() or "GOOD" in src:
            return GradeResult([_result(ex, {k: True for k in names})])
        if "raise NotImplementedError" in src:
            return GradeResult([_result(ex, {})])
        r = _result(ex, {k: k != names[0] for k in names})
        r.checks[0].message = {"en": "the input was flattened", "zh": "输入被展平"}
        return GradeResult([r])

    out = tmp_path / "results.json"
    rep = V.validate([ex], pack, budget=60, grade_fn=fake, results_path=out)
    text = "\n".join(map(str, rep.findings))
    assert "unnamed.py loses points, but no failure message mentions 'a message nobody gives'" in text
    assert "named.py loses" not in text.replace("unnamed.py", "")
    assert "tests/alt/01_custom_module/refused.py scores" in text and "good.py" not in text
    saved = V.load_results(out)
    assert {label for (_, label) in saved} >= {"reference", "stub", "wrong:named.py", "alt:good.py", "reference-again"}
    fp, res = saved[(ex.name, "alt:good.py")]
    assert res.score == res.max_score and fp == V.fingerprint(ex, (alt / "good.py").read_text())
    # a result is only as good as what produced it: any change to the grader changes the fingerprint
    ex.grader_path.write_text(ex.grader_path.read_text() + "\n# changed\n")
    assert V.fingerprint(ex, (alt / "good.py").read_text()) != fp
    assert V.load_results(tmp_path / "missing.json") == {}


def test_validate_static_checks(pack):
    g = pack / "graders" / "test_01_custom_module.py"
    g.write_text(g.read_text() + "\nimport solutions.x\nfrom solutions import y\nP = 'solutions/01_custom_module.py'\n")
    assert len(V.imports_solutions(g)) == 3
    assert V.imports_solutions(KIT / "graders" / "test_01_custom_module.py") == []
    (pack / "exercises" / "02_custom_module_2.py").write_text("# edited\n")
    meta = pack / "graders" / "01_custom_module.toml"
    meta.write_text(meta.read_text().replace('en = "A custom nn.Module"', 'en = "TODO: title"'))
    cat = Catalog(pack)
    rep = V.Report()
    V.check_metadata(cat.get(1), rep)
    V.check_stub_sync(cat.get(2), rep)
    text = "\n".join(map(str, rep.findings))
    assert "TODO placeholders in title.en" in text and "stale" in text and "pt-quiz build" in text
    # metadata the catalog refuses (a missing language) is a finding too
    bad = pack / "graders" / "05_bad.toml"
    bad.write_text(meta.read_text().replace("number = 1\n", "number = 5\n").replace('slug = "custom_module"', 'slug = "bad"')
                   .replace('zh = "自定义 nn.Module"', ""))
    found = V.catalog_findings(Catalog(pack).errors)
    assert found and found[0].exercise == "05_bad" and "title.zh" in found[0].problem


def test_rounds_hold_one_file_per_exercise():
    jobs = [("a", "ref", ""), ("a", "stub", ""), ("b", "ref", ""), ("a", "w1", ""), ("b", "stub", "")]
    rounds = V.make_rounds(jobs)
    assert len(rounds) == 3 and rounds[0] == {"a": ("ref", ""), "b": ("ref", "")}


# ---------------------------------------------------------------------------
# GitHub Classroom export (no grading)

def test_classroom_export(pack, tmp_path):
    dest = tmp_path / "assignment"
    res = run("classroom", "export", dest, "--title", "Week 1")
    assert res.exit_code == 0, res.output
    for rel in ("exercises/01_custom_module.py", "exercises/02_custom_module_2.py", "graders/test_01_custom_module.py",
                "graders/01_custom_module.toml", "graders/stubs/01_custom_module.py", "ptquiz/runner.py",
                "ptquiz/templates/classroom.yml.j2", "cli.py", "pyproject.toml", "README.md", ".gitignore",
                ".github/workflows/classroom.yml", ".github/classroom/autograding.json", MANIFEST):
        assert (dest / rel).is_file(), rel
    assert not (dest / "solutions").exists() and not (dest / ".git").exists() and not (dest / "tests").exists()
    assert not list(dest.rglob("__pycache__"))
    # no solution text anywhere
    cat = Catalog(pack)
    needles = [s for ex in cat for s in solution_lines(ex.solution_path.read_text())]
    assert needles
    hints = " ".join(h["en"] + h["zh"] for ex in cat for h in ex.hints)
    for p in dest.rglob("*"):
        if p.is_file():
            found = [s for s in needles if s in p.read_text(errors="replace")]
            if re.fullmatch(r"\d\d_\w+\.toml", p.name):  # metadata: only in hints students are shown anyway
                assert all(s in hints for s in found), (p, found)
            else:
                assert not found, (p, found)
    assert (dest / "exercises" / "01_custom_module.py").read_text() == (pack / "exercises" / "01_custom_module.py").read_text()
    assert 'packs = []' in (dest / "pyproject.toml").read_text()
    readme = (dest / "README.md").read_text()
    assert "Week 1" in readme and "pt-quiz grade 1" in readme and "download.pytorch.org/whl/cpu" in readme

    wf = yaml.safe_load((dest / ".github/workflows/classroom.yml").read_text())
    assert wf["name"] == "Autograding Tests"
    assert wf["on"] == ["push", "repository_dispatch"]
    assert wf["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    assert list(wf["jobs"]) == ["run-autograding-tests"]
    job = wf["jobs"]["run-autograding-tests"]
    assert job["runs-on"] == "ubuntu-latest" and job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    setup = "\n".join(s.get("run", "") for s in steps[:4])
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in setup
    assert setup.index("whl/cpu") < setup.index("pip install -e .")
    grading = [s for s in steps if s.get("id", "").startswith("ex-")]
    assert [s["id"] for s in grading] == ["ex-01", "ex-02"]
    for s, n in zip(grading, (1, 2)):
        assert re.fullmatch(r"[a-z0-9-]+", s["id"])
        assert f"grade {n} --classroom" in s["run"] and s["continue-on-error"] is True
    rep = steps[-1]
    assert rep["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert rep["with"]["runners"] == "ex-01,ex-02"
    assert rep["env"] == {"EX-01_RESULTS": "${{ steps.ex-01.outputs.result }}",
                          "EX-02_RESULTS": "${{ steps.ex-02.outputs.result }}"}

    legacy = json.loads((dest / ".github/classroom/autograding.json").read_text())
    assert [t["points"] for t in legacy["tests"]] == [ex.max_score() for ex in Catalog(pack)]
    for t in legacy["tests"]:
        assert set(t) == {"name", "setup", "run", "input", "output", "comparison", "timeout", "points"}
        assert isinstance(t["timeout"], int)
    assert "whl/cpu" in legacy["tests"][0]["setup"]

    # the student copy works on its own: list/reset use graders/stubs (no solutions)
    env = {**os.environ, "PT_QUIZ_ROOT": str(dest)}
    out = subprocess.run([sys.executable, str(dest / "cli.py"), "--lang", "en", "list"], cwd=dest, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "A custom nn.Module" in out.stdout, out.stderr
    (dest / "exercises" / "01_custom_module.py").write_text("# my work\n")
    out = subprocess.run([sys.executable, str(dest / "cli.py"), "--lang", "en", "reset", "1"], cwd=dest, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (dest / "exercises" / "01_custom_module.py").read_text() == (dest / "graders/stubs/01_custom_module.py").read_text()

    # tamper evidence
    assert check_tamper(dest)["tampered"] is False
    with open(dest / "graders" / "test_01_custom_module.py", "a") as f:
        f.write("\n# pass everything\n")
    (dest / "conftest.py").write_text("")
    (dest / "ptquiz" / "report.py").unlink()
    t = check_tamper(dest)
    assert t["tampered"] and t["changed"] == ["graders/test_01_custom_module.py"]
    assert t["added"] == ["conftest.py"] and t["missing"] == ["ptquiz/report.py"]
    # every file that changes grading is covered: a plugin shadowed from the top folder, a packaging file,
    # the workflow, a module shadowed beside the learner's files
    (dest / "conftest.py").unlink()
    (dest / "pytest_timeout.py").write_text("def pytest_configure(config): pass\n")
    (dest / "setup.py").write_text("")
    (dest / "exercises" / "torch.py").write_text("")
    wf = next((dest / ".github" / "workflows").glob("*.yml"))
    wf.write_text(wf.read_text() + "\n# echo result=full-marks\n")
    t = check_tamper(dest)
    assert t["added"] == ["exercises/torch.py", "pytest_timeout.py", "setup.py"], t
    assert wf.relative_to(dest).as_posix() in t["changed"]

    # never overwrites a non-empty folder unless --force
    res = run("classroom", "export", dest)
    assert res.exit_code == 1 and "--force" in res.output
    assert run("classroom", "export", dest, "--force", "-e", "1").exit_code == 0
    assert not (dest / "conftest.py").exists() and not (dest / "exercises" / "02_custom_module_2.py").exists()


def test_export_refuses_solution_text_and_notes_graders_that_quote_it(pack, tmp_path, monkeypatch):
    ref = solution_lines((pack / "solutions" / "01_custom_module.py").read_text())[0]
    # a grader that quotes its own solution: exported (graders are the instructor's text), with a note
    g = pack / "graders" / "test_01_custom_module.py"
    g.write_text(g.read_text() + f"\n# {ref}\n")
    res = run("classroom", "export", tmp_path / "a")
    assert res.exit_code == 0 and "note: graders/test_01_custom_module.py: solution line" in res.output
    # solution text in a generated stub (here: a stub generator that lets the block through) is refused
    import ptquiz.export as export
    monkeypatch.setattr(export, "pristine_stub", lambda ex: ex.solution_path.read_text())
    monkeypatch.setattr(export, "_public_text", lambda exercises: "")
    res = run("classroom", "export", tmp_path / "b")
    assert res.exit_code == 1 and "solution text" in res.output and "exercises/01_custom_module.py" in res.output
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------
# Gradescope, simulated /autograder layout (one grading run)

def test_gradescope_export_and_run(pack, tmp_path):
    src = tmp_path / "autograder" / "source"
    res = run("gradescope", "export", src, "-e", "1", "--zip", tmp_path / "autograder.zip")
    assert res.exit_code == 0, res.output
    assert os.access(src / "run_autograder", os.X_OK) and os.access(src / "setup.sh", os.X_OK)
    assert "download.pytorch.org/whl/cpu" in (src / "setup.sh").read_text()
    import zipfile
    assert {"setup.sh", "run_autograder"} <= set(zipfile.ZipFile(tmp_path / "autograder.zip").namelist())
    assert not (src / "solutions").exists()
    sub = tmp_path / "autograder" / "submission" / "exercises"
    sub.mkdir(parents=True)
    shutil.copy(WRONG01 / "flattens_input.py", sub / "01_custom_module.py")
    (sub.parent / "conftest.py").write_text("raise SystemExit('not me')\n")  # ignored: not an exercise file
    with open(src / "graders" / "01_custom_module.toml", "a") as f:  # tampering shows in the output
        f.write("\n# edited\n")
    results = tmp_path / "autograder" / "results" / "results.json"
    env = {**os.environ, "PT_QUIZ_GS_SOURCE": str(src), "PT_QUIZ_GS_SUBMISSION": str(sub.parent),
           "PT_QUIZ_GS_RESULTS": str(results), "PT_QUIZ_GS_PYTHON": sys.executable}
    env.pop("PT_QUIZ_ROOT", None)
    out = subprocess.run(["bash", str(src / "run_autograder")], env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(results.read_text())
    assert set(doc) == {"score", "execution_time", "output", "tests"}
    assert 0 < doc["score"] < Catalog(pack).get(1).max_score() and sum(t["score"] for t in doc["tests"]) == doc["score"]
    assert len(doc["tests"]) == len(Catalog(pack).get(1).checks()) and all(t["status"] in ("passed", "failed") for t in doc["tests"])
    assert "WARNING" in doc["output"] and "graders/01_custom_module.toml" in doc["output"]


# ---------------------------------------------------------------------------
# gradebook: one student's crash, hang or tampering never touches another's row

def test_gradebook(pack, tmp_path):
    subs = tmp_path / "class"
    alice = subs / "alice"  # a whole repository (Classroom clone) with a tampering attempt
    assert run("classroom", "export", alice, "-e", "1").exit_code == 0
    shutil.copy(pack / "solutions" / "01_custom_module.py", alice / "exercises" / "01_custom_module.py")
    (alice / "conftest.py").write_text("# sneaky\n")
    bob = subs / "bob"  # bare files; crashes the process that imports it
    bob.mkdir(parents=True)
    (bob / "01_custom_module.py").write_text("import os\nos._exit(3)\n")
    carol = subs / "carol"  # hangs on import
    carol.mkdir()
    (carol / "01_custom_module.py").write_text("while True:\n    pass\n")
    out = tmp_path / "grades.csv"
    res = run("gradebook", alice, bob, carol, "-e", "1", "--jobs", "2", "--check-timeout", "15", "-o", out)
    assert res.exit_code == 0, res.output
    assert "[3/3]" in res.output  # progress on stderr
    import csv
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    assert list(rows) == ["alice", "bob", "carol"]
    assert set(rows["alice"]) == {"student", "01_custom_module", "total", "max", "hints", "solutions_viewed", "tamper",
                                  "flags", "errors"}
    assert rows["bob"]["hints"] == rows["bob"]["solutions_viewed"] == ""  # no .pt-quiz/events.jsonl
    assert rows["alice"]["01_custom_module"] == rows["alice"]["max"] == rows["alice"]["total"] != "0"
    assert rows["alice"]["tamper"].startswith("yes") and "conftest.py" in rows["alice"]["tamper"]
    assert rows["bob"]["total"] == "0" and rows["bob"]["errors"] and rows["bob"]["tamper"] == ""
    assert rows["carol"]["total"] == "0" and rows["carol"]["errors"]


ATTACK_KIT = """
import sys
from pathlib import Path
from torch import nn
KIT = Path({kit!r})
# rewrite the instructor's grader so that everyone graded after gets full marks, and destroy solutions/
(KIT / "graders" / "test_01_custom_module.py").write_text(
    "from ptquiz.gradelib import check\\n@check(points=10, category='correctness')\\ndef test_ok(ex):\\n    pass\\n")
(KIT / "solutions" / "01_custom_module.py").unlink()
Path("graders").mkdir(exist_ok=True)  # relative paths land in a scratch folder, not the kit
Path("graders", "test_01_custom_module.py").write_text("pass")


class MyModule(nn.Module):
    def __init__(self, in_features=10, out_features=5):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x)
"""

ATTACK_COPY = """
import sys
from pathlib import Path
# rewrite the very grader file this submission is being graded with (found through sys.modules)
for name, mod in list(sys.modules.items()):
    f = getattr(mod, "__file__", None) or ""
    if f.endswith("test_01_custom_module.py"):
        Path(f).write_text("# gone\\n")
raise SystemExit(0)
"""


def test_gradebook_grades_each_student_against_a_pristine_copy_and_restores_the_kit(pack, tmp_path):
    """A submission that rewrites the instructor's grader and deletes solutions/ changes nobody else's score:
    the kit is restored from memory and the row says so; one that rewrites its own copy gets its scores withheld."""
    grader = pack / "graders" / "test_01_custom_module.py"
    solution = pack / "solutions" / "01_custom_module.py"
    before = {grader: grader.read_bytes(), solution: solution.read_bytes()}
    subs = tmp_path / "class"
    for name, body in (("a_mallory", ATTACK_KIT.format(kit=str(pack))), ("b_bob", None), ("c_trent", ATTACK_COPY)):
        (subs / name).mkdir(parents=True)
        text = body if body is not None else (pack / "exercises" / "01_custom_module.py").read_text()
        (subs / name / "01_custom_module.py").write_text(text)
    out = tmp_path / "grades.csv"
    res = run("gradebook", *sorted(subs.iterdir()), "-e", "1", "--jobs", "1", "-o", out)
    assert res.exit_code == 0, res.output
    import csv
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    assert {f: f.read_bytes() for f in before} == before  # the instructor's kit is as it was
    assert "the instructor's kit changed" in rows["a_mallory"]["flags"] and "solutions/01_custom_module.py" in \
        rows["a_mallory"]["flags"]
    assert rows["b_bob"]["total"] == "0" and not rows["b_bob"]["flags"]  # the stub, graded by the real grader
    assert rows["c_trent"]["total"] == "0" and "scores withheld" in rows["c_trent"]["flags"]
    assert not (pack / "graders" / "graders").exists()


def test_classroom_export_of_the_whole_kit_has_no_solution_text(tmp_path, monkeypatch):
    """The real exercises, not a toy pack: every line that only solutions/ contain stays out of the export."""
    from ptquiz.export import _public_text

    monkeypatch.setenv("PT_QUIZ_ROOT", str(KIT))
    dest = tmp_path / "kit-assignment"
    res = run("classroom", "export", dest)
    assert res.exit_code == 0, res.output
    assert not (dest / "solutions").exists() and not (dest / ".git").exists()
    cat = Catalog(KIT)
    public = _public_text(list(cat))
    secret = [(ex.name, s) for ex in cat for s in solution_lines(ex.solution_path.read_text()) if s not in public]
    assert len(secret) > 10 * len(cat)  # the check has teeth: most solution lines are secret
    body = "\n".join(p.read_text(errors="replace") for p in dest.rglob("*")  # graders: notes, not errors
                     if p.is_file() and p.parent.name != "graders")
    leaked = [(n, s) for n, s in secret if s in body]
    assert not leaked, leaked[:5]
    for ex in cat:
        assert (dest / "exercises" / f"{ex.name}.py").read_text() == (dest / "graders" / "stubs" / f"{ex.name}.py").read_text()


def test_export_never_replaces_the_project_or_a_folder_it_did_not_write(pack, tmp_path):
    for dest in (pack, pack / "exercises", pack.parent):
        res = run("classroom", "export", dest, "--force")
        assert res.exit_code != 0 and "overwrite your exercises" in res.output, dest
    assert (pack / "exercises" / "01_custom_module.py").exists() and (pack / "solutions").exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    res = run("gradescope", "export", other, "--force")
    assert res.exit_code != 0 and "not an earlier pt-quiz export" in res.output
    assert (other / "mine.txt").read_text() == "keep"


def test_gradescope_prefers_the_students_exercise_over_stub_copies(tmp_path):
    from ptquiz.export import copy_submission
    sub = tmp_path / "sub"
    for rel, text in {"graders/stubs/01_a.py": "stub", "exercises/01_a.py": "mine", "x/02_b.py": "b",
                      ".git/01_a.py": "git"}.items():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    assert copy_submission(sub, out, {"01_a", "02_b"}) == ["01_a.py", "02_b.py"]
    assert (out / "01_a.py").read_text() == "mine" and (out / "02_b.py").read_text() == "b"
