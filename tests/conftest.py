import os
import shutil
import sys
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
from ptquiz.catalog import read_checks  # noqa: E402
# exercise 01's full marks (the small test pack copies exercise 01): tests never hard-code its points
MAX01 = sum(c.points for c in read_checks(KIT / "graders" / "test_01_custom_module.py"))

os.environ.setdefault("OMP_NUM_THREADS", "1")


def write_pack(root: Path, numbers=(1, 2)) -> Path:
    """A small self-contained project: exercise 01 of the kit copied under several numbers."""
    for sub in ("exercises", "solutions", "graders"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.pt-quiz]\npacks = []\n')
    src = "01_custom_module"
    for n in numbers:
        name = f"{n:02d}_custom_module" if n == 1 else f"{n:02d}_custom_module_{n}"
        slug = name[3:]
        meta = (KIT / "graders" / f"{src}.toml").read_text(encoding="utf-8")
        meta = meta.replace("number = 1\n", f"number = {n}\n").replace('slug = "custom_module"', f'slug = "{slug}"')
        (root / "graders" / f"{name}.toml").write_text(meta, encoding="utf-8")
        shutil.copy(KIT / "graders" / f"test_{src}.py", root / "graders" / f"test_{name}.py")
        shutil.copy(KIT / "solutions" / f"{src}.py", root / "solutions" / f"{name}.py")
        shutil.copy(KIT / "exercises" / f"{src}.py", root / "exercises" / f"{name}.py")
    return root


@pytest.fixture
def pack(tmp_path, monkeypatch):
    root = write_pack(tmp_path / "proj")
    monkeypatch.setenv("PT_QUIZ_ROOT", str(root))
    monkeypatch.delenv("PT_QUIZ_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(root)
    return root


def pytest_terminal_summary(terminalreporter):
    """Say how many grading results tests/test_grading.py took from `pt-quiz validate --results` (CI)."""
    mod = sys.modules.get("test_grading")
    if mod is not None and getattr(mod, "SAVED", None):
        terminalreporter.write_line(f"test_grading: reused {len(mod.REUSED)} grading result(s) saved by "
                                    f"`pt-quiz validate --results` (fingerprints matched); graded the rest")
