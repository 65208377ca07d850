"""What keeps grades trustworthy (issue 10), piece by piece: the source scan, the run-time guard, the sealed
records, flagged results in the reports, the reaper, SIGTERM to `grade`, a Python without the test plugins,
and the messages for files Python cannot read or import in time. tests/test_exploits.py grades whole attacks.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import cli
from conftest import KIT, MAX01
from ptquiz import gradelib, runner  # noqa: F401  (gradelib: imported before any guard takes its baseline)
from ptquiz.catalog import Catalog
from ptquiz.integrity import Guard, scan_source, seal
from ptquiz.plugin import LearnerLoadError, load_learner
from ptquiz.report import render_text

SOL = (KIT / "solutions" / "01_custom_module.py").read_text(encoding="utf-8")


def scan(tmp_path, code, name="01_custom_module.py"):
    f = tmp_path / name
    f.write_text(textwrap.dedent(code), encoding="utf-8")
    return scan_source(f, [tmp_path])


# ---------------------------------------------------------------------------
# the source scan

@pytest.mark.parametrize("code, what", [
    ("import pytest\n", "import pytest"),
    ("from _pytest import reports\n", "import _pytest"),
    ("import ptquiz.gradelib as g\n", "import ptquiz.gradelib"),
    ("import sys\nsys.modules['torch']\n", "sys.modules"),
    ("import gc\n", "import gc"),
    ("import inspect\n", "import inspect"),
    ("import sys\nf = sys._getframe(1)\n", "_getframe"),
    ("def f(e):\n    return e.__traceback__.tb_frame.f_back\n", ".f_back"),
    ("import torch\nwith torch._C.DisableTorchFunction():\n    pass\n", "._C"),
    ("from torch import _C\n", "torch._C"),
    ("import ctypes\n", "import ctypes"),
    ("import torch\ntorch.allclose = lambda *a, **k: True\n", "assigning to torch.allclose"),
    ("from torch import nn\nsetattr(nn.Module, '__call__', None)\n", "setattr(nn.Module"),
    ("import torch\nclass T(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, *a): pass\n",
     "def __torch_function__"),
    ("import builtins\nbuiltins.len = None\n", "import builtins"),
    ("__builtins__['len'] = None\n", "__builtins__"),
    ("exec('x = 1')\n", "exec"),
    ("x = open('/proc/1/cmdline').read()\n", "/proc/"),
    ("import os\nos.kill(os.getppid(), 9)\n", "os.kill"),
    ("import torch\ntorch.load('f', weights_only=False)\n", "weights_only=False"),
    ("import helper\n", "import helper"),
    ("from . import x\n", "a relative import"),
])
def test_the_source_scan_flags_what_reaches_for_the_grader(tmp_path, code, what):
    (tmp_path / "helper.py").write_text("x = 1\n")
    flags = scan(tmp_path, code)
    assert flags and flags[0]["kind"] == "source" and what in flags[0]["en"], flags
    assert flags[0]["zh"] and "remove it" in flags[0]["en"]


def test_the_source_scan_never_flags_an_honest_answer():
    """Every reference, stub and correct alternative (and every wrong answer but the one that unpickles)."""
    files = [*(KIT / "solutions").glob("*.py"), *(KIT / "exercises").glob("*.py"), *(KIT / "tests" / "alt").glob("*/*.py"),
             *(KIT / "tests" / "wrong").glob("*/*.py")]
    flagged = {f.name for f in files if scan_source(f, [f.parent, KIT])}
    assert len(files) > 200 and flagged == {"weights_only_false.py"}, flagged


def test_the_source_scan_reads_the_file_as_python_does(tmp_path):
    f = tmp_path / "01_custom_module.py"
    f.write_bytes(b"# -*- coding: utf-7 -*-\n+AGk-mport gc\n")  # "import gc", spelled in UTF-7
    assert scan_source(f, [])
    f.write_bytes(b"x = '\xff'\n")  # not UTF-8: it cannot be imported either
    assert scan_source(f, []) == []


# ---------------------------------------------------------------------------
# the run-time guard

@pytest.fixture
def guard():
    g = Guard()
    g.take()
    g.learner_files.add("/nowhere/01_custom_module.py")
    assert g.check() == []  # taking and checking in a clean process finds nothing
    yield g
    g.check()  # whatever a test left behind is put back


def test_the_guard_notices_replaced_functions_and_puts_them_back(guard):
    orig = torch.allclose
    torch.allclose = lambda *a, **k: True
    torch.Tensor.allclose = lambda *a, **k: True
    changed = guard.check()
    assert torch.allclose is orig and "allclose" not in torch.Tensor.__dict__
    assert any("torch.allclose was replaced" in c for c in changed), changed
    assert any("Tensor.allclose was added" in c for c in changed), changed
    assert guard.check() == []


def test_the_guard_accepts_what_python_and_torch_change_by_themselves(guard):
    import copyreg
    import io

    for opt in (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD):  # Optimizer.step's profiling hook
        opt([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch.save(torch.nn.Linear(1, 1), io.BytesIO())  # copyreg caches __slotnames__ on the pickled classes
    copyreg._slotnames(torch.nn.Linear)
    assert guard.check() == []


def test_the_guard_notices_swapped_code_and_pytest_patches(guard):
    import _pytest.reports

    code = gradelib.fail.__code__
    gradelib.fail.__code__ = (lambda *a, **k: None).__code__
    orig = _pytest.reports.TestReport.from_item_and_call
    _pytest.reports.TestReport.from_item_and_call = classmethod(lambda cls, item, call: None)
    changed = guard.check()
    assert gradelib.fail.__code__ is code and _pytest.reports.TestReport.__dict__["from_item_and_call"] is not None
    assert _pytest.reports.TestReport.from_item_and_call.__func__ is orig.__func__
    assert any("fail had its code swapped" in c for c in changed) and any("from_item_and_call" in c for c in changed)


def test_the_guard_notices_a_lying_tensor_subclass_and_disabled_torch_functions(guard):
    learner = next(iter(guard.learner_files))
    code = compile(textwrap.dedent("""
        import torch
        class Liar(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return True
        with torch._C.DisableTorchFunction():
            pass
    """), learner, "exec")
    exec(code, {})
    changed = guard.check()
    assert any("Tensor subclass Liar" in c for c in changed), changed
    assert any("DisableTorchFunction (used at line" in c for c in changed), changed
    with torch._C.DisableTorchFunction():  # the grader's own use is not the learner's
        pass
    assert guard.check() == []


def test_assert_close_compares_plain_tensors():
    from ptquiz.gradelib import CheckFailed, assert_close, plain

    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True if getattr(func, "__name__", "") == "allclose" else super().__torch_function__(func, types, args, kwargs or {})

    liar = torch.zeros(3).as_subclass(Liar)
    assert type(plain(liar)) is torch.Tensor
    with pytest.raises(CheckFailed, match="values differ"):
        assert_close(liar, torch.ones(3))


# ---------------------------------------------------------------------------
# sealed records

def _record_file(tmp_path, key, records, forged=()):
    path = tmp_path / "results.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, r in enumerate(records, 1):
            text = json.dumps({"seq": i, **r})
            f.write(text + "\t" + seal(key, text) + "\n")
        for r in forged:
            f.write(json.dumps(r) + "\n")
    return path


def _passing(ex):
    out = [{"nodeid": "", "when": "session", "outcome": "started", "duration": 0, "message": None}]
    for c in ex.checks():
        for when in ("setup", "call", "teardown"):
            out.append({"nodeid": f"test_{ex.name}.py::{c.name}", "when": when, "outcome": "passed", "duration": 0,
                        "message": None})
    return out


def test_a_forged_or_removed_record_flags_the_result(tmp_path):
    ex = Catalog(KIT).get(1)
    target = tmp_path / "t"
    target.mkdir()
    (target / f"{ex.name}.py").write_text(SOL, encoding="utf-8")
    key = os.urandom(32)
    genuine = _passing(ex)
    ok = runner.score([ex], runner.read_records(_record_file(tmp_path, key, genuine), key), target)[0]
    assert ok.status == "passed" and ok.score == MAX01 and not ok.flags

    forged = [{"seq": len(genuine) + 1, **r} for r in genuine[1:4]]
    res = runner.score([ex], runner.read_records(_record_file(tmp_path, key, genuine[:1], forged), key), target)[0]
    assert res.status == "flagged" and res.score == 0 and res.flags[0]["kind"] == "channel"

    path = _record_file(tmp_path, key, genuine)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # one line removed
    res = runner.score([ex], runner.read_records(path, key), target)[0]
    assert res.status == "flagged" and "missing" in res.flags[0]["en"]

    path.write_text("\n".join(lines) + "\n" + lines[-1][:20])  # cut short by a killed controller: not tampering
    res = runner.score([ex], runner.read_records(path, key), target)[0]
    assert res.status == "passed"


def test_a_flagged_result_says_so_in_text_and_json(tmp_path):
    ex = Catalog(KIT).get(1)
    target = tmp_path / "t"
    target.mkdir()
    (target / f"{ex.name}.py").write_text("import gc\n" + SOL, encoding="utf-8")
    res = runner.score([ex], _passing(ex), target)[0]
    assert res.status == "flagged" and res.score == 0 and res.withheld == MAX01
    assert all(c.reported == "passed" and not c.passed and c.score == 0 for c in res.checks)
    result = runner.GradeResult([res])
    text = render_text(result, "en")
    assert f"flagged: score withheld (its checks reported {MAX01}/{MAX01})" in text and "⚠" in text and "import gc" in text
    assert "已标记" in render_text(result, "zh")
    doc = result.to_json("en")["exercises"][0]
    assert doc["status"] == "flagged" and doc["withheld"] == MAX01 and doc["flags"][0]["kind"] == "source"
    assert doc["score"] == 0 and all(c["reported"] == "passed" for c in doc["checks"])


# ---------------------------------------------------------------------------
# processes

def _sleepers(mark):
    out = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and mark.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                stat = Path(f"/proc/{name}/stat").read_bytes()
                if stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X"):
                    out.append(int(name))
        except OSError:
            pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper is Linux's")
def test_the_reaper_leaves_nothing_running(tmp_path):
    mark = f"ptquiz-reaper-test-{os.getpid()}"
    script = tmp_path / "leak.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess
        sleep = ["{sys.executable}", "-c", "import time; time.sleep(600)  # {mark}"]
        subprocess.Popen(sleep)
        subprocess.Popen(["setsid", *sleep])
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sleep[0], sleep)
            os._exit(0)
        import time; time.sleep(1)
    """))
    r = subprocess.run([sys.executable, str(KIT / "ptquiz" / "reaper.py"), "--", sys.executable, str(script)], timeout=120)
    assert r.returncode == 0
    time.sleep(0.3)
    left = _sleepers(mark)
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left


def test_sigterm_to_grade_leaves_no_pytest_and_no_temp_folder(pack, tmp_path):
    (pack / "exercises" / "01_custom_module.py").write_text(SOL.replace(
        "return self.linear(x)", "import time\n        time.sleep(600)"), encoding="utf-8")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(KIT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "grade", "1"], cwd=pack, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300
    while time.monotonic() < end and not any(p.name.startswith("ptquiz-") for p in tmpdir.iterdir()):
        time.sleep(0.2)
    time.sleep(3)  # pytest and its workers start
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    from test_exploits import no_leftovers
    assert not no_leftovers(pack)
    assert not [p.name for p in tmpdir.iterdir() if p.name.startswith("ptquiz-")]


def test_a_python_without_the_test_plugins_is_a_grading_error(pack, tmp_path, monkeypatch):
    python = tmp_path / "python-without-plugins"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # -S: no site-packages, so no pytest
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    r = CliRunner().invoke(cli.main, ["grade", "1"], catch_exceptions=False)
    assert r.exit_code == 3, r.output
    assert "could not run the graders" in r.output and "No module named pytest" in r.output
    monkeypatch.undo()
    monkeypatch.setattr(runner, "missing_plugins", lambda: ["pytest-xdist"])
    r = CliRunner().invoke(cli.main, ["grade", "1"], catch_exceptions=False)
    assert r.exit_code == 3 and "lacks pytest-xdist" in r.output and "pip install pytest-xdist" in r.output


# ---------------------------------------------------------------------------
# loading the learner's file

def test_a_file_python_cannot_read_is_not_graded_as_if_decoded(tmp_path):
    f = tmp_path / "01_custom_module.py"
    f.write_bytes(SOL.encode().replace(b"import torch", b"import torch\nNAME = 'caf\xe9'", 1))  # import refuses it
    with pytest.raises(LearnerLoadError, match="cannot read this file as text.*Save it as UTF-8"):
        load_learner(f)


def test_an_import_that_runs_out_of_time_says_so(tmp_path):
    f = tmp_path / "01_custom_module.py"
    f.write_text("import pytest\npytest.fail('Timeout (>3.0s) from pytest-timeout.')\n")  # what the limit raises
    with pytest.raises(LearnerLoadError, match="did not finish importing within 3.0 s"):
        load_learner(f)


@pytest.fixture
def pack3(tmp_path, monkeypatch):
    from conftest import write_pack
    root = write_pack(tmp_path / "proj", numbers=(1, 2, 3))
    monkeypatch.setenv("PT_QUIZ_ROOT", str(root))
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("PT_QUIZ_LANG", raising=False)
    monkeypatch.chdir(root)
    return root


def test_an_exercise_stops_after_two_time_outs_and_the_others_are_still_graded(pack3, monkeypatch):
    """One endless loop costs two time limits, not one per check; the other exercises keep their points."""
    monkeypatch.setenv("PT_QUIZ_CHECK_TIMEOUT", "3")
    ex = pack3 / "exercises"
    (ex / "01_custom_module.py").write_text(SOL.replace("return self.linear(x)", "while True:\n            pass"))
    (ex / "02_custom_module_2.py").write_text(SOL)
    (ex / "03_custom_module_3.py").write_text(SOL)
    t0 = time.monotonic()
    r = CliRunner().invoke(cli.main, ["grade", "1", "2", "3", "--json", "--workers", "1"], catch_exceptions=False)
    doc = json.loads(r.output)
    one, two, three = doc["exercises"]
    msgs = [c["message"] or "" for c in one["checks"]]
    assert sum("longer than 3" in m for m in msgs) == 2, msgs
    assert any(m.startswith("Not run: 2 checks of this exercise already ran out of time") for m in msgs), msgs
    assert two["score"] == two["max_score"] and three["score"] == three["max_score"]
    assert time.monotonic() - t0 < 300


def test_gradebook_an_endless_loop_in_one_exercise_costs_that_exercise_only(pack, tmp_path):
    """Each exercise has its own budget in a gradebook too: a loop in 01 never zeroes the student's correct 02."""
    import csv
    student = tmp_path / "class" / "dana"
    student.mkdir(parents=True)
    (student / "01_custom_module.py").write_text(SOL.replace("return self.linear(x)", "while True:\n            pass"))
    (student / "02_custom_module_2.py").write_text(SOL)
    out = tmp_path / "grades.csv"
    r = CliRunner().invoke(cli.main, ["gradebook", str(student), "-e", "1", "-e", "2", "--check-timeout", "3",
                                      "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    row = next(csv.DictReader(out.open()))
    assert row["02_custom_module_2"] == str(MAX01), row
    assert row["01_custom_module"] != str(MAX01) and "timeout" in row["errors"] and "noresult" not in row["errors"], row
