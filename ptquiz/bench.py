"""Speed benchmark: `python -m ptquiz.bench [--repeat N] [--exercise N]`.

Times, in one run on one machine, the bare `python -c "import torch, torchvision"`
baseline and the kit's commands, and prints ratios (machines here are shared and
noisy: compare ratios, not seconds). Targets (issue #2):

* `pt-quiz grade N` (one exercise)      <= 1.5 x baseline
* `pt-quiz list` / `start` / `hint`     <= 0.3 s each
* a `watch` re-grade after a save       <= 1 s for an exercise whose checks compute in < 0.5 s

Grades the reference solutions in a throw-away copy of the project, so nothing of yours is touched.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd, env, cwd, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exercise", type=int, default=1, help="the exercise for the single-exercise and watch timings")
    ap.add_argument("--no-all", action="store_true", help="skip `grade --all` (slow)")
    args = ap.parse_args(argv)

    from .catalog import Catalog, find_root

    src = find_root()
    tmp = Path(tempfile.mkdtemp(prefix="ptquiz-bench-"))
    try:
        for sub in ("exercises", "solutions", "graders"):
            shutil.copytree(src / sub, tmp / sub)
        shutil.copy(src / "pyproject.toml", tmp / "pyproject.toml")
        env = {**os.environ, "PT_QUIZ_ROOT": str(tmp)}
        py = sys.executable
        cli = [py, "-m", "cli"] if not shutil.which("pt-quiz") else ["pt-quiz"]
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
        n = str(args.exercise)
        rows = []
        base = timed([py, "-c", "import torch, torchvision"], env, tmp, args.repeat)
        rows.append(("python -c 'import torch, torchvision' (baseline)", base, 1.0, ""))
        for verb in (["list"], ["start", n], ["hint", n]):
            s = timed(cli + verb, env, tmp, args.repeat)
            rows.append(("pt-quiz " + " ".join(verb), s, s / base, "target <= 0.3 s"))
        s = timed(cli + ["grade", n, "--target", "solutions"], env, tmp, args.repeat)
        rows.append((f"pt-quiz grade {n}", s, s / base, "target <= 1.5x"))
        if not args.no_all:
            count = len(Catalog(tmp))
            s = timed(cli + ["grade", "--all", "--target", "solutions"], env, tmp, 1)
            rows.append((f"pt-quiz grade --all ({count} exercises)", s, s / base, ""))
        # watch: a warm parent, one forked re-grade per save
        code = ("import sys, time, statistics; from ptquiz.catalog import Catalog; from ptquiz import watch;"
                f"ex = Catalog().get({args.exercise}); watch._preimport(ex.grader_path);"
                "ts = []\nfor _ in range(%d):\n    t = time.perf_counter(); r = watch.grade_forked(ex); ts.append(time.perf_counter() - t)\n"
                "print(statistics.median(ts), r.score, r.max_score)" % max(3, args.repeat))
        shutil.copy(tmp / "solutions" / f"{Catalog(tmp).get(args.exercise).name}.py", tmp / "exercises")
        out = subprocess.run([py, "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
        try:
            s = float(out.stdout.split()[0])
            rows.append((f"watch re-grade of {n} (warm)", s, s / base, "target <= 1 s"))
        except (IndexError, ValueError):
            rows.append((f"watch re-grade of {n} (warm)", float("nan"), float("nan"), out.stderr[-300:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'command':<52} {'median s':>9} {'x baseline':>11}  note")
    for name, s, ratio, note in rows:
        print(f"{name:<52} {s:>9.2f} {ratio:>11.2f}  {note}")


if __name__ == "__main__":
    main()
