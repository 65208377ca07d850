"""Nothing the learner wrote is lost (issue 10): the code being graded runs in a scratch folder, the learner's
files are snapshotted before each grading and `pt-quiz restore` puts them back; `reset` never writes through a
link; progress survives commands running at once; a folder, file or permission in the wrong place gets a
message saying what to do.

Runs in throw-away projects (tests/conftest.py `write_pack`); only two tests grade (one `grade`, one `watch`).
"""
import errno
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
from conftest import KIT, MAX01, write_pack
from ptquiz import snapshots
from ptquiz.state import State

SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def proj(tmp_path, monkeypatch):
    root = write_pack(tmp_path / "proj", numbers=(1, 2, 3))
    monkeypatch.setenv("PT_QUIZ_ROOT", str(root))
    monkeypatch.delenv("PT_QUIZ_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(root)
    return root


def files(root):
    return {1: root / "exercises" / "01_custom_module.py", 2: root / "exercises" / "02_custom_module_2.py",
            3: root / "exercises" / "03_custom_module_3.py"}


# a learner's file that, when imported, tries the careless and the deliberate ways to destroy other files
VANDAL = SOL + '''
import os as _os, pathlib as _pl
for _rel in ("pyproject.toml", "exercises/03_custom_module_3.py"):  # relative: the working directory's
    try:
        _os.remove(_rel)
    except OSError:
        pass
with open("written_by_the_learner.txt", "w") as _f:
    _f.write("relative write")
_pl.Path(__file__).with_name("02_custom_module_2.py").unlink(missing_ok=True)  # absolute: reaches the learner's tree
'''


def test_grade_runs_elsewhere_snapshots_first_and_restore_puts_a_deleted_file_back(proj):
    f = files(proj)
    f[1].write_text(VANDAL)
    f[2].write_text("two: my precious work\n")
    f[3].write_text("three: also mine\n")
    r = run("grade", "1", "--json")
    doc = json.loads(r.stdout)  # warnings go to stderr: stdout stays one JSON document
    assert doc["exercises"][0]["score"] == MAX01
    # the relative remove/write hit the scratch folder, not the project
    assert (proj / "pyproject.toml").exists() and f[3].read_text() == "three: also mine\n"
    assert not (proj / "written_by_the_learner.txt").exists()
    # the absolute delete did happen: it is detected, named, and the way back is given
    assert not f[2].exists()
    assert doc["changed_during_grading"] == [
        {"path": "exercises/02_custom_module_2.py", "what": "deleted", "restore": "pt-quiz restore 2"}]
    assert "02_custom_module_2.py (deleted)" in r.stderr and "`pt-quiz restore 2`" in r.stderr
    r = run("restore", "2")
    assert r.exit_code == 0 and "Restored exercises/02_custom_module_2.py from snapshot #1" in r.output
    assert f[2].read_text() == "two: my precious work\n"
    assert "nothing to restore" in run("restore", "2").output
    # restoring over a file backs the file up first
    f[2].write_text("two: a newer attempt\n")
    r = run("restore", "2")
    assert f[2].read_text() == "two: my precious work\n" and "saved as" in r.output
    assert [b.read_text() for b in (proj / ".pt-quiz" / "backups").iterdir()] == ["two: a newer attempt\n"]
    listing = run("restore", "--list").output
    assert "#1" in listing and "`pt-quiz grade 1`" in listing


def test_watch_regrades_elsewhere_and_reports_other_files_it_changed(proj):
    f = files(proj)
    f[1].write_text(SOL + "\nimport pathlib as _pl\n_pl.Path(__file__).with_name('03_custom_module_3.py')"
                          ".write_text('clobbered')\nopen('junk.txt', 'w').close()\n")
    f[3].write_text("three: mine\n")
    run("start", "1")
    r = run("watch", "--once")
    assert r.exit_code == 0 and f"{MAX01}/{MAX01}" in r.stdout
    assert not (proj / "junk.txt").exists()
    assert "03_custom_module_3.py (changed)" in r.stderr and "pt-quiz restore 3" in r.stderr
    assert "01_custom_module.py" not in r.stderr  # the watched file is not reported
    assert run("restore", "3").exit_code == 0 and f[3].read_text() == "three: mine\n"


def test_messages_name_files_relative_to_the_project_not_the_scratch_folder(tmp_path):
    from ptquiz.workdir import reroot
    scratch, exercises = tmp_path / "scratch", tmp_path / "proj" / "exercises"
    rel = os.path.relpath(exercises / "01_x.py", scratch)
    recs = reroot([{"message": {"en": f"{rel}:3: SyntaxError", "zh": f"{rel}:3: 语法错误"}}, {"message": None}],
                  [exercises], str(scratch), tmp_path / "proj")
    assert recs[0]["message"] == {"en": "exercises/01_x.py:3: SyntaxError", "zh": "exercises/01_x.py:3: 语法错误"}


def test_snapshots_are_deduplicated_and_bounded(proj, monkeypatch):
    f = files(proj)
    paths = list(f.values())
    first = snapshots.take(proj, paths, "pt-quiz grade 1")
    assert snapshots.take(proj, paths, "pt-quiz grade 1").name == first.name  # unchanged: not written again
    objects = proj / ".pt-quiz" / "snapshots" / "objects"
    assert len(list(objects.iterdir())) == 1  # three files, all the starting stub: one copy
    f[2].write_text("two\n")
    f[3].write_text("three\n")
    snapshots.take(proj, paths, "pt-quiz grade 1")
    assert len(list(objects.iterdir())) == 3 and len(snapshots.snapshots(proj)) == 2
    monkeypatch.setattr(snapshots, "MAX_SNAPSHOTS", 3)
    for i in range(6):
        f[1].write_text(f"attempt {i}\n")
        snapshots.take(proj, paths, "pt-quiz grade 1")
    kept = snapshots.snapshots(proj)
    assert len(kept) == 3
    assert [snapshots.content(proj, k.files["exercises/01_custom_module.py"]) for k in kept] == \
        [b"attempt 5\n", b"attempt 4\n", b"attempt 3\n"]
    assert len(list(objects.iterdir())) == 3 + 2  # 3 attempts of file 1, files 2 and 3 once: the rest pruned
    monkeypatch.setattr(snapshots, "MAX_STORE_BYTES", 1)
    f[1].write_text("one more\n")
    snapshots.take(proj, paths, "pt-quiz grade 1")
    assert len(snapshots.snapshots(proj)) == 1  # over the size bound: only the newest is kept
    monkeypatch.setattr(snapshots, "MAX_FILE_BYTES", 4)
    assert "exercises/01_custom_module.py" not in snapshots.take(proj, paths, "x").files


def test_restore_says_what_to_do_when_there_is_nothing_to_restore(proj):
    assert "No snapshots yet" in run("restore").output
    snapshots.take(proj, [files(proj)[1]], "pt-quiz grade 1")
    r = run("restore", "2")
    assert r.exit_code == 1 and "No snapshot holds exercises/02_custom_module_2.py" in r.output
    r = run("restore", "1", "--from", "7")
    assert r.exit_code == 1 and "snapshot #7 does not hold" in r.output and "#1" in r.output


def test_reset_replaces_a_link_and_never_writes_through_it(proj, tmp_path):
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("someone else's file\n")
    link = files(proj)[1]
    link.unlink()
    link.symlink_to(elsewhere)
    r = run("reset", "1")
    assert r.exit_code == 0 and "was a link to" in r.output and "never writes through a link" in r.output
    assert elsewhere.read_text() == "someone else's file\n"
    assert not link.is_symlink() and "raise NotImplementedError" in link.read_text()
    assert [b.read_text() for b in (proj / ".pt-quiz" / "backups").iterdir()] == ["someone else's file\n"]
    # a link to nothing: `start` creates the stub in place of the link, nothing where it pointed
    link.unlink()
    link.symlink_to(tmp_path / "nowhere.py")
    assert run("start", "1").exit_code == 0
    assert not (tmp_path / "nowhere.py").exists() and not link.is_symlink() and link.is_file()


def test_a_command_never_reverts_what_another_did_meanwhile(proj):
    stale = State(proj)  # e.g. a `watch` that loaded the state long ago
    assert run("start", "2").exit_code == 0 and run("hint", "2").exit_code == 0
    stale.record(1, 10, 10)
    stale.save()
    data = json.loads((proj / ".pt-quiz" / "state.json").read_text())
    assert data["current"] == 2 and data["started"] == [2] and data["hints"] == {"2": 1}
    assert data["scores"] == {"1": [10, 10]}


def test_concurrent_commands_keep_every_change(tmp_path):
    root = write_pack(tmp_path / "proj", numbers=range(1, 16))
    env = {**os.environ, "PYTHONPATH": str(KIT), "PT_QUIZ_ROOT": str(root), "LANG": "C.UTF-8"}
    env.pop("PT_QUIZ_LANG", None)
    record = ("import sys; from pathlib import Path; from ptquiz.state import State\n"
              "s = State(Path(sys.argv[1])); s.record(int(sys.argv[2]), 1, 2); s.save()")
    cmds = [[sys.executable, "-m", "cli", "start", str(n)] for n in range(1, 16)]
    cmds += [[sys.executable, "-m", "cli", "hint", "1"] for _ in range(4)]
    cmds += [[sys.executable, "-c", record, str(root), str(n)] for n in range(1, 6)]  # what `grade` records
    procs = [subprocess.Popen(c, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    data = json.loads((root / ".pt-quiz" / "state.json").read_text())
    assert sorted(data["started"]) == list(range(1, 16))
    assert data["current"] in range(1, 16)
    assert data["hints"] == {"1": 3}  # four hints of three levels: 1, 2, 3, 3
    assert sorted(o[0].split("\n")[0] for o in outs[15:19]) == ["Hint 1/3 for exercise 1", "Hint 2/3 for exercise 1",
                                                                  "Hint 3/3 for exercise 1", "Hint 3/3 for exercise 1"]
    assert data["scores"] == {str(n): [1, 2] for n in range(1, 6)}
    assert sorted(p.name for p in (root / ".pt-quiz").iterdir()) == ["events.jsonl", "state.json", "state.lock"]  # no temp
    lines = (root / ".pt-quiz" / "events.jsonl").read_text().splitlines()  # one whole line per hint, none interleaved
    assert sorted(json.loads(line)["level"] for line in lines) == [1, 2, 3, 3]


def test_a_negative_hint_level_counts_as_none_seen(proj):
    (proj / ".pt-quiz").mkdir()
    (proj / ".pt-quiz" / "state.json").write_text(json.dumps(
        {"version": 1, "current": 1, "started": [1, 2], "hints": {"1": -3}, "scores": {"2": [4, 10]}}))
    r = run("hint")
    assert r.exit_code == 0 and "Hint 1/3" in r.stdout
    assert "hint level -3 for exercise 1" in r.stderr and "shows hint 1" in r.stderr
    data = json.loads((proj / ".pt-quiz" / "state.json").read_text())
    assert data["hints"] == {"1": 1} and data["scores"] == {"2": [4, 10]}  # the rest of the progress is kept


def test_an_exercise_path_that_is_a_folder_says_move_it(proj):
    f = files(proj)
    f[2].unlink()
    f[2].mkdir()
    for argv in (["start", "2"], ["reset", "2"], ["restore", "2"]):
        r = run(*argv)
        assert r.exit_code == 2, argv
        assert "02_custom_module_2.py is a folder" in r.output and "mv exercises/02_custom_module_2.py" in r.output
        assert "Traceback" not in r.output
    assert f[2].is_dir() and not any(f[2].iterdir())
    # what `grade` reports for it (its grading is shared with `watch`): the folder, not "missing: run reset"
    from ptquiz.runner import CheckResult, ExerciseResult
    from ptquiz.safeio import explain_unusable
    missing = {"en": "exercises/02_custom_module_2.py is missing. Run `pt-quiz reset 2`", "kind": "load"}
    res = ExerciseResult(2, "custom_module_2", {"en": "t"}, 0, 2, "error",
                         [CheckResult("c", {"en": "c"}, "shape", 2, False, 0, missing, "load")], missing)
    explain_unusable([res], {2: f[2]})
    assert "is a folder" in res.message["en"] and "is a folder" in res.checks[0].message["en"]
    assert "是一个文件夹" in res.message["zh"]


def test_dot_pt_quiz_being_a_file_says_rename_it(proj):
    (proj / ".pt-quiz").write_text("not a folder")
    f = files(proj)[1]
    before = f.read_text()
    assert run("list").exit_code == 0
    r = run("start", "1")
    assert r.exit_code == 0 and "A custom nn.Module" in r.stdout
    assert ".pt-quiz is a file" in r.stderr and "mv .pt-quiz .pt-quiz.old" in r.stderr
    r = run("hint", "1")
    assert r.exit_code == 0 and "Hint 1/3" in r.stdout and ".pt-quiz is a file" in r.stderr
    r = run("reset", "1")  # cannot back up: must not overwrite
    assert r.exit_code == 2 and ".pt-quiz is a file" in r.output and f.read_text() == before
    assert run("restore").exit_code == 2
    assert (proj / ".pt-quiz").read_text() == "not a folder"


@pytest.fixture
def read_only(proj, monkeypatch):
    """The project folder made read-only. chmod is enough for a normal user; root ignores it, so there the
    calls that create files and folders fail as a read-only folder makes them fail."""
    files(proj)[3].unlink()  # to see that `start 3` cannot create it
    dirs = [proj, proj / "exercises"]
    for d in dirs:
        d.chmod(0o555)
    if os.geteuid() == 0:
        real_open, real_mkdir = os.open, os.mkdir
        inside = str(proj) + os.sep

        def ro_open(path, flags, *a, **kw):
            if str(os.path.abspath(path)).startswith(inside) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *a, **kw)

        def ro_mkdir(path, *a, **kw):
            if str(os.path.abspath(path)).startswith(inside):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_mkdir(path, *a, **kw)
        monkeypatch.setattr(os, "open", ro_open)
        monkeypatch.setattr(os, "mkdir", ro_mkdir)
    yield proj
    for d in dirs:
        d.chmod(0o755)


def test_a_read_only_project_folder_says_make_it_writable_or_copy_it(read_only):
    f = files(read_only)
    r = run("start", "3")
    assert r.exit_code == 2 and "cannot write exercises/03_custom_module_3.py (permission denied)" in r.output
    assert f"chmod -R u+w {read_only}" in r.output and f"cp -r {read_only} ~/pt-quiz" in r.output
    assert not f[3].exists()
    r = run("start", "1")  # the file exists: the question is shown, progress cannot be recorded
    assert r.exit_code == 0 and "A custom nn.Module" in r.stdout
    assert "progress was not recorded" in r.stderr and "permission denied" in r.stderr
    r = run("hint", "1")
    assert r.exit_code == 0 and "Hint 1/3" in r.stdout and "chmod -R u+w" in r.stderr
    before = f[1].read_text()
    r = run("reset", "1")
    assert r.exit_code == 2 and "permission denied" in r.output and f[1].read_text() == before
    assert "Traceback" not in r.output
