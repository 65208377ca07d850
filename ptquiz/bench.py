"""Speed benchmark: `python -m ptquiz.bench [--repeat N] [--exercise N]`.

Times, in one run on one machine, the bare `python -c "import torch, torchvision"`
baseline and the kit's commands, and prints ratios (machines here are shared and
noisy: compare ratios, not seconds). Targets:

* `pt-quiz grade --all` (every reference)   <= 5 x baseline (on 2 cores)
* `pt-quiz grade N` for the slowest exercise <= 1.5 x baseline
* `pt-quiz list` / `start` / `hint`          <= 0.3 s each
* a `watch` re-grade after a save            <= 1 s for an exercise whose checks compute in < 0.5 s

`grade --all` is also broken down: the checks' own compute time (summed over the workers), the
slowest exercises by compute, and what is left (start-up, collection, scheduling).

Grades the reference solutions in a throw-away copy of the project, so nothing of yours is touched.
"""
from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--exercise", type=int, default=None,
                    help="the exercise for the single-exercise and watch timings (default: the slowest by compute, "
                         "found by the `grade --all` run; 1 with --no-all)")
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
        rows, notes = [], []
        base = timed([py, "-c", "import torch, torchvision"], env, tmp, args.repeat)
        rows.append(("python -c 'import torch, torchvision' (baseline)", base, 1.0, ""))
        number = args.exercise
        if not args.no_all:
            cat = Catalog(tmp)
            t0 = time.perf_counter()
            out = subprocess.run(cli + ["grade", "--all", "--target", "solutions", "--json"], env=env, cwd=tmp,
                                 capture_output=True, text=True, check=False)
            s = time.perf_counter() - t0
            rows.append((f"pt-quiz grade --all ({len(cat)} exercises)", s, s / base, "target <= 5x"))
            try:
                doc = json.loads(out.stdout)
                compute = {f"{e['number']:02d}_{e['slug']}": sum(c.get("duration") or 0 for c in e["checks"])
                           for e in doc["exercises"]}
                total = sum(compute.values())
                from .runner import worker_count
                w = worker_count(len(cat))
                notes.append(f"grade --all: {doc['score']}/{doc['max_score']} points; checks computed {total:.1f} s in all "
                             f"({total / w:.1f} s per worker with {w} workers); the other {max(0.0, s - total / w):.1f} s of "
                             f"the {s:.1f} s are start-up (interpreter, torch, plugins in each worker), collection and "
                             "scheduling")
                top = sorted(compute.items(), key=lambda kv: -kv[1])[:5]
                notes.append("slowest by compute: " + ", ".join(f"{k} {v:.2f} s" for k, v in top))
                if number is None and top:
                    number = int(top[0][0][:2])
            except (ValueError, KeyError, TypeError):
                notes.append("grade --all --json gave no readable JSON: " + (out.stderr or out.stdout)[-300:])
        number = number or 1
        n = str(number)
        for verb in (["list"], ["start", n], ["hint", n]):
            s = timed(cli + verb, env, tmp, args.repeat)
            rows.append(("pt-quiz " + " ".join(verb), s, s / base, "target <= 0.3 s"))
        s = timed(cli + ["grade", n, "--target", "solutions"], env, tmp, args.repeat)
        rows.append((f"pt-quiz grade {n}" + (" (the slowest)" if args.exercise is None and not args.no_all else ""),
                     s, s / base, "target <= 1.5x"))
        # watch: a warm parent, one forked re-grade per save
        code = ("import sys, time, statistics; from ptquiz.catalog import Catalog; from ptquiz import watch;"
                f"ex = Catalog().get({number}); watch._preimport(ex.grader_path);"
                "ts = []\nfor _ in range(%d):\n    t = time.perf_counter(); r = watch.grade_forked(ex); ts.append(time.perf_counter() - t)\n"
                "print(statistics.median(ts), r.score, r.max_score)" % max(3, args.repeat))
        shutil.copy(tmp / "solutions" / f"{Catalog(tmp).get(number).name}.py", tmp / "exercises")
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
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
