"""Texts of the CLI in English and Chinese. Language: --lang, else $PT_QUIZ_LANG, else the locale."""
from __future__ import annotations

import os

LANGS = ("en", "zh")

T = {
    "no_exercise": {"en": "there is no exercise {n}. Valid numbers: {valid}",
                    "zh": "没有第 {n} 题。可选题号：{valid}"},
    "progress": {"en": "Progress: {passed}/{total} exercises passed", "zh": "进度：已通过 {passed}/{total} 题"},
    "edit": {"en": "Edit", "zh": "编辑文件"},
    "implement": {"en": "What to implement", "zh": "需要实现"},
    "next_steps": {"en": "When ready: `pt-quiz grade {n}` · stuck: `pt-quiz hint {n}` · auto re-grade on save: `pt-quiz watch`",
                   "zh": "完成后：`pt-quiz grade {n}` · 卡住了：`pt-quiz hint {n}` · 保存即评分：`pt-quiz watch`"},
    "created": {"en": "Created {path} from the starting stub.", "zh": "已根据初始代码创建 {path}。"},
    "kept": {"en": "Your file {path} already exists: it was left as it is.", "zh": "你的文件 {path} 已存在，未做任何改动。"},
    "no_current": {"en": "No exercise started yet. Run `pt-quiz start 1` (or `pt-quiz list`).",
                   "zh": "还没有开始任何题目。运行 `pt-quiz start 1`（或 `pt-quiz list`）。"},
    "nothing_to_grade": {"en": "Nothing to grade: start an exercise (`pt-quiz start 1`), name one (`pt-quiz grade 3`) or use --all.",
                         "zh": "没有可评分的题目：先开始一题（`pt-quiz start 1`），或指定题号（`pt-quiz grade 3`），或使用 --all。"},
    "hint": {"en": "Hint {level}/{total} for exercise {n}", "zh": "第 {n} 题提示 {level}/{total}"},
    "hint_last": {"en": "(That was the last hint. `pt-quiz solution {n}` shows the reference.)",
                  "zh": "（这是最后一条提示。`pt-quiz solution {n}` 可查看参考答案。）"},
    "total": {"en": "Total", "zh": "总分"},
    "backup": {"en": "Your previous file was saved as {path}", "zh": "你之前的文件已备份到 {path}"},
    "reset_done": {"en": "Restored {path} to the starting stub.", "zh": "已将 {path} 恢复为初始代码。"},
    "reset_missing": {"en": "{path} did not exist; it now holds the starting stub.", "zh": "{path} 原本不存在，现已写入初始代码。"},
    "was_link": {"en": "{path} was a link to {target}: pt-quiz never writes through a link, so {target} was not changed; "
                        "{path} is now a regular file.",
                 "zh": "{path} 原本是指向 {target} 的链接：pt-quiz 从不通过链接写入，因此 {target} 未被改动；{path} 现在是普通文件。"},
    "not_saved": {"en": "your progress was not recorded: {why}", "zh": "进度未能保存：{why}"},
    "event_not_saved": {"en": "this was not added to your practice history (.pt-quiz/events.jsonl; `pt-quiz stats`, "
                              "`pt-quiz review`): {why}",
                        "zh": "本次操作未能记入练习记录（.pt-quiz/events.jsonl；`pt-quiz stats`、`pt-quiz review`）：{why}"},
    "no_snapshot_taken": {"en": "no snapshot of your files was taken before grading: {why}",
                          "zh": "评分前未能为你的文件建立快照：{why}"},
    "changed_during": {"en": "while grading, these files of yours were changed or deleted (by the code being graded, unless "
                             "you edited them meanwhile). Their versions from just before grading are kept in a snapshot:",
                       "zh": "评分期间，你的以下文件被修改或删除了（是被评分的代码所为，除非你同时在编辑它们）。"
                             "评分前一刻的版本保存在快照中："},
    "changed_how": {"en": {"changed": "changed", "deleted": "deleted"}, "zh": {"changed": "被修改", "deleted": "被删除"}},
    "restore_with": {"en": "put one back with `pt-quiz restore N` (your current file is backed up first); "
                           "`pt-quiz restore --list` shows every snapshot.",
                     "zh": "用 `pt-quiz restore N` 恢复（会先备份你当前的文件）；`pt-quiz restore --list` 列出所有快照。"},
    "no_snapshots": {"en": "No snapshots yet: one is taken before every `pt-quiz grade` and every `watch` re-grade.",
                     "zh": "还没有快照：每次 `pt-quiz grade` 和 `watch` 重新评分之前都会建立一个快照。"},
    "snapshots_head": {"en": "Snapshots of your exercise files, newest first (taken before each grading):",
                       "zh": "你的练习文件快照，最新的在前（每次评分前建立）："},
    "snapshot_differs": {"en": "differs from your file now: {which}", "zh": "与你当前文件不同：{which}"},
    "snapshots_foot": {"en": "Restore a file: `pt-quiz restore N` (the newest copy that differs from it) or "
                             "`pt-quiz restore N --from K` (snapshot #K); `pt-quiz restore N --list` shows N's copies.",
                       "zh": "恢复文件：`pt-quiz restore N`（与当前文件不同的最新副本）或 `pt-quiz restore N --from K`"
                             "（第 K 号快照）；`pt-quiz restore N --list` 列出第 N 题的所有副本。"},
    "versions_head": {"en": "Copies of {path} in the snapshots, newest first:", "zh": "{path} 在快照中的副本，最新的在前："},
    "same_as_now": {"en": "same as your file now", "zh": "与你当前文件相同"},
    "lines": {"en": "{n} lines", "zh": "{n} 行"},
    "never_snapshotted": {"en": "No snapshot holds {path} yet (snapshots are taken before each grading).",
                          "zh": "还没有任何快照包含 {path}（每次评分前才会建立快照）。"},
    "nothing_to_restore": {"en": "{path} is the same as its newest snapshot: nothing to restore. For an older copy: "
                                 "`pt-quiz restore {n} --list`, then `pt-quiz restore {n} --from K`.",
                           "zh": "{path} 与其最新快照相同，无需恢复。如需更早的副本：先运行 `pt-quiz restore {n} --list`，"
                                 "再运行 `pt-quiz restore {n} --from K`。"},
    "bad_snapshot_number": {"en": "snapshot #{k} does not hold {path}. It is in: {which}. See `pt-quiz restore {n} --list`.",
                            "zh": "第 {k} 号快照不包含 {path}。包含它的快照：{which}。见 `pt-quiz restore {n} --list`。"},
    "restored": {"en": "Restored {path} from snapshot #{k} (taken {when}, before `{reason}`).",
                 "zh": "已从第 {k} 号快照（{when}，`{reason}` 之前）恢复 {path}。"},
    "no_solutions": {"en": "This copy of the kit has no reference solutions (solutions/{name}.py is missing).",
                     "zh": "当前副本没有参考答案（缺少 solutions/{name}.py）。"},
    "confirm_solution": {"en": "You have not passed exercise {n} yet. Show the reference solution anyway?",
                         "zh": "你还没有通过第 {n} 题。仍然要查看参考答案吗？"},
    "no_stub": {"en": "No starting stub for exercise {n}: neither solutions/{name}.py nor graders/stubs/{name}.py exists.",
                "zh": "第 {n} 题没有初始代码：solutions/{name}.py 和 graders/stubs/{name}.py 都不存在。"},
    "watching": {"en": "Watching {path} — grading on every save. Ctrl-C to stop.",
                 "zh": "正在监视 {path}，每次保存都会重新评分。按 Ctrl-C 退出。"},
    "all_passed": {"en": "All checks passed. Next: `pt-quiz start {n}`", "zh": "全部通过！下一题：`pt-quiz start {n}`"},
    # review queue (ptquiz/review.py)
    "review_empty": {"en": "Nothing to review yet: the queue holds the exercises you have graded (`pt-quiz grade N`).",
                     "zh": "还没有可复习的题目：复习队列包含你评过分的题目（`pt-quiz grade N`）。"},
    "review_none_due": {"en": "Nothing due for review. Next: exercise {n} on {date} (in {days} day(s)). "
                              "The whole queue: `pt-quiz review --list`; practise it now anyway: `pt-quiz review --ahead`.",
                        "zh": "目前没有到期的复习。下一题：第 {n} 题，{date}（{days} 天后）。完整队列：`pt-quiz review --list`；"
                              "现在就提前练习：`pt-quiz review --ahead`。"},
    "review_head": {"en": "Due for review (most overdue first):", "zh": "到期的复习（逾期最久的在前）："},
    "review_queue_head": {"en": "Review queue (SM-2), soonest first:", "zh": "复习队列（SM-2），最近到期的在前："},
    "review_cols": {"en": ["ex", "due", "interval", "ease", "last practised", "title"],
                    "zh": ["题号", "到期日", "间隔", "难度", "上次练习", "标题"]},
    "review_days": {"en": "{n} d", "zh": "{n} 天"},
    "review_open": {"en": "Review of exercise {n}: a fresh starting stub is in {path} (your own exercises/ file is not "
                          "touched, and this review does not change your score). Solve it from memory, then "
                          "`pt-quiz review grade`.",
                    "zh": "复习第 {n} 题：全新的初始代码已写入 {path}（你在 exercises/ 中的文件不会被改动，复习也不影响你的成绩）。"
                          "凭记忆完成后运行 `pt-quiz review grade`。"},
    "review_continue": {"en": "Review of exercise {n} is open ({tries} grading(s) so far): keep editing {path}, then "
                              "`pt-quiz review grade`.",
                        "zh": "第 {n} 题的复习尚未完成（已评分 {tries} 次）：继续编辑 {path}，然后运行 `pt-quiz review grade`。"},
    "review_recreated": {"en": "{path} was deleted: wrote a fresh starting stub there.",
                         "zh": "{path} 已被删除：已在原处重新写入初始代码。"},
    "review_missing": {"en": "{path} was deleted. Run `pt-quiz review` to write a fresh stub there.",
                       "zh": "{path} 已被删除。运行 `pt-quiz review` 重新写入初始代码。"},
    "review_nothing_open": {"en": "No review is open. Run `pt-quiz review` first.",
                            "zh": "当前没有进行中的复习。请先运行 `pt-quiz review`。"},
    "review_passed": {"en": "Review passed (quality {q}/5). Next review of exercise {n}: {date}, in {days} day(s); "
                            "ease {ef}.",
                      "zh": "复习通过（质量 {q}/5）。第 {n} 题下次复习：{date}，{days} 天后；难度系数 {ef}。"},
    "review_not_yet": {"en": "Not full marks yet: fix {path} and run `pt-quiz review grade` again "
                             "(stuck: `pt-quiz hint {n}`).",
                       "zh": "尚未满分：修改 {path} 后再次运行 `pt-quiz review grade`（卡住了：`pt-quiz hint {n}`）。"},
    # stats (ptquiz/stats.py)
    "stats_empty": {"en": "No practice recorded yet: `pt-quiz grade`, `hint` and `solution` add to "
                          ".pt-quiz/events.jsonl.",
                    "zh": "还没有练习记录：`pt-quiz grade`、`hint` 和 `solution` 会写入 .pt-quiz/events.jsonl。"},
    "stats_totals": {"en": "{practised} exercise(s) practised, {passed} passed ({first_try} at the first grading), "
                           "{hints} hint(s), {solutions} solution(s) viewed, {minutes} min.",
                     "zh": "练习 {practised} 题，通过 {passed} 题（{first_try} 题首次评分即通过），提示 {hints} 次，"
                           "查看答案 {solutions} 题，用时 {minutes} 分钟。"},
    "stats_topics": {"en": "Topics, weakest first:", "zh": "知识点（最薄弱的在前）："},
    "stats_categories": {"en": "Check categories:", "zh": "检查类别："},
    "stats_cols": {"en": "  {name}  done  passed  1st-try  hints  solutions  mistakes  min",
                   "zh": "  {name}  练习  通过  首次通过  提示  看答案  出错题数  分钟"},
    "stats_failed_in": {"en": "{cat} checks failed in {n} exercise(s)", "zh": "{cat} 类检查在 {n} 道题中失败过"},
    "stats_time": {"en": "Time: {method}.", "zh": "用时：相邻事件间隔小于 30 分钟的部分之和（开始到第一次评分或提示之前的时间不计）。"},
    "status": {"en": {"passed": "passed", "partial": "partial", "failed": "failed", "todo": "to do", "error": "error",
                      "missing": "missing", "new": "—"},
               "zh": {"passed": "已通过", "partial": "部分通过", "failed": "未通过", "todo": "未完成", "error": "出错",
                      "missing": "文件缺失", "new": "—"}},
    # -- pt-quiz mock (ptquiz/mock.py) --
    "mock_bad_minutes": {"en": "--minutes {minutes} is not a time limit: give a positive number of minutes, e.g. `pt-quiz mock --minutes 45`.",
                         "zh": "--minutes {minutes} 不是有效的时限：请给出正的分钟数，例如 `pt-quiz mock --minutes 45`。"},
    "mock_bad_count": {"en": "--count {count}: a mock needs at least one exercise, e.g. `pt-quiz mock --count 3`.",
                       "zh": "--count {count}：模拟面试至少需要一道题，例如 `pt-quiz mock --count 3`。"},
    "mock_bad_topic": {"en": "no exercise has a topic matching {topic!r}. Known topics: {known}",
                       "zh": "没有题目的主题包含 {topic!r}。已有主题：{known}"},
    "mock_no_match": {"en": "no exercise matches these --difficulty/--topic filters. Loosen them (`pt-quiz mock` alone picks from all).",
                      "zh": "没有题目符合这些 --difficulty/--topic 条件。请放宽条件（只运行 `pt-quiz mock` 则从全部题目中选）。"},
    "mock_already": {"en": "another mock was started meanwhile; run `pt-quiz mock` to see it.",
                     "zh": "另一个模拟面试刚刚已经开始；运行 `pt-quiz mock` 查看。"},
    "mock_deleted": {"en": "the folder of mock {id} ({path}) was deleted, so it cannot go on or be scored. Close it with "
                           "`pt-quiz mock finish`, then start another with `pt-quiz mock`.",
                     "zh": "模拟面试 {id} 的文件夹（{path}）已被删除，无法继续或评分。请运行 `pt-quiz mock finish` 关闭它，"
                           "再用 `pt-quiz mock` 开始新的一场。"},
    "mock_corrupt": {"en": "{path} (mock {id}) was unreadable; it was kept as {kept} and the mock was closed without a score "
                           "(your files in its folder are untouched). Start another with `pt-quiz mock`.",
                     "zh": "{path}（模拟面试 {id}）无法读取；已保留为 {kept}，该场模拟面试已关闭且不计分（其文件夹中的文件未被改动）。"
                           "用 `pt-quiz mock` 开始新的一场。"},
    "mock_started": {"en": "Mock interview {id} started: {minutes} min (seed {seed}; the same --seed picks the same exercises).",
                     "zh": "模拟面试 {id} 已开始：{minutes} 分钟（种子 {seed}；相同的 --seed 会选出相同的题目）。"},
    "mock_resumed": {"en": "Mock interview {id} is still running: here it is again.",
                     "zh": "模拟面试 {id} 仍在进行中，再次显示如下。"},
    "mock_ignored": {"en": "(the options given are ignored while this mock runs; `pt-quiz mock finish` ends it)",
                     "zh": "（模拟面试进行期间忽略所给选项；`pt-quiz mock finish` 可结束它）"},
    "mock_only": {"en": "only {found} exercise(s) match the filters (asked for {count}).",
                  "zh": "只有 {found} 道题符合条件（要求 {count} 道）。"},
    "mock_rules": {"en": "Rules:\n"
                         "  - Time limit: {minutes} min. The first pt-quiz command after the time limit ends the mock; `pt-quiz mock finish` ends it early.\n"
                         "  - `pt-quiz grade` grades the mock's files (`pt-quiz grade N` one of them). Your normal progress is not changed.\n"
                         "  - {free} grade runs per exercise are free; each further one costs {gcost} % of its points; at most {maxg}.\n"
                         "  - Each hint level (`pt-quiz hint N`) costs {hint} % of that exercise's points.\n"
                         "  - An exercise scores its best grade run started before the time limit, less those costs.\n"
                         "  - `pt-quiz solution` is locked and `pt-quiz watch` is not available until the mock ends.\n"
                         "  - {passat} % of the total passes.",
                   "zh": "规则：\n"
                         "  - 时限 {minutes} 分钟。超时后运行的第一个 pt-quiz 命令会结束模拟面试；`pt-quiz mock finish` 可提前结束。\n"
                         "  - `pt-quiz grade` 为模拟面试的文件评分（`pt-quiz grade N` 只评其中一题）。不改变你平时的进度。\n"
                         "  - 每题前 {free} 次评分免费；之后每次扣该题分数的 {gcost} %；最多 {maxg} 次。\n"
                         "  - 每级提示（`pt-quiz hint N`）扣该题分数的 {hint} %。\n"
                         "  - 每题得分 = 时限前开始的最好一次评分，减去上述扣分。\n"
                         "  - 模拟面试结束前 `pt-quiz solution` 被锁定，`pt-quiz watch` 不可用。\n"
                         "  - 总分达到 {passat} % 即通过。"},
    "mock_banner": {"en": "Mock {id}: {left} left · exercises {numbers} · files in {folder}/",
                    "zh": "模拟面试 {id}：剩余 {left} · 题目 {numbers} · 文件在 {folder}/"},
    "mock_next": {"en": "Grade: `pt-quiz grade` · hint (costs points): `pt-quiz hint N` · where you stand: `pt-quiz mock status` · "
                        "end now: `pt-quiz mock finish`",
                  "zh": "评分：`pt-quiz grade` · 提示（扣分）：`pt-quiz hint N` · 查看进度：`pt-quiz mock status` · "
                        "立即结束：`pt-quiz mock finish`"},
    "mock_status_row": {"en": "grade runs {runs}/{maxg} · best {best}/{max} · hints {hints}",
                        "zh": "评分 {runs}/{maxg} 次 · 最好 {best}/{max} · 提示 {hints}"},
    "mock_none": {"en": "No mock interview is running. Start one: `pt-quiz mock` (past ones: `pt-quiz mock history`).",
                  "zh": "当前没有进行中的模拟面试。开始一场：`pt-quiz mock`（以往记录：`pt-quiz mock history`）。"},
    "mock_ended_deadline": {"en": "Mock {id} reached its time limit and is over: only grade runs started before it count.",
                            "zh": "模拟面试 {id} 已到时限并结束：只计算时限前开始的评分。"},
    "mock_saved": {"en": "Scorecard saved: {txt} and {json}", "zh": "成绩单已保存：{txt} 和 {json}"},
    "mock_abandoned": {"en": "Closed mock {id} without a score (its folder was gone). Start another: `pt-quiz mock`.",
                       "zh": "已关闭模拟面试 {id}，不计分（其文件夹已不存在）。开始新的一场：`pt-quiz mock`。"},
    "debrief_ready": {"en": "Full marks on {n} for the first time. Read the debrief: `pt-quiz debrief {n}` (why it works, "
                               "classic mistakes, follow-up questions).",
                      "zh": "第 {n} 题首次满分。看看讲解：`pt-quiz debrief {n}`（原理、常见错误、追问）。"},
    "debrief_locked": {"en": "the debrief of exercise {n} opens at full marks (last grade: {last}). Keep going: "
                                "`pt-quiz hint {n}` for a nudge, `pt-quiz grade {n}` to check; or `pt-quiz debrief {n} --force` "
                                "to read it now (recorded).",
                       "zh": "第 {n} 题满分后才能查看讲解（上次评分：{last}）。继续加油：`pt-quiz hint {n}` 获取提示，"
                             "`pt-quiz grade {n}` 评分；或用 `pt-quiz debrief {n} --force` 现在查看（会被记录）。"},
    "debrief_never": {"en": "not graded yet", "zh": "尚未评分"},
    "debrief_forced": {"en": "Shown before full marks on {n} (--force; recorded in your history).",
                       "zh": "第 {n} 题尚未满分即查看讲解（--force；已记入历史）。"},
    "mock_locked": {"en": "locked until the mock ends: `pt-quiz mock finish` (or wait for its time limit).",
                    "zh": "模拟面试结束前已锁定：`pt-quiz mock finish`（或等到时限结束）。"},
    "mock_not_in": {"en": "exercise {n} is not part of the running mock; its exercises: {numbers}.",
                    "zh": "第 {n} 题不在当前模拟面试中；本场题目：{numbers}。"},
    "mock_which": {"en": "name the exercise: `pt-quiz hint N` (the mock's exercises: {numbers}).",
                   "zh": "请指定题号：`pt-quiz hint N`（本场题目：{numbers}）。"},
    "mock_recreated": {"en": "{path} was missing (deleted?): it now holds a fresh starting stub.",
                       "zh": "{path} 不存在（被删除了？）：现已写入新的初始代码。"},
    "mock_hint_cost": {"en": "(mock: {level} hint level(s) used on exercise {n}: −{pct} % of its points)",
                       "zh": "（模拟面试：第 {n} 题已用 {level} 级提示：扣该题分数的 {pct} %）"},
    "mock_grade_limit": {"en": "exercise(s) {numbers} used all {maxg} grade runs of this mock: not graded again.",
                         "zh": "第 {numbers} 题已用完本场的 {maxg} 次评分：不再评分。"},
    "mock_time_left": {"en": "Mock {id}: {left} left. Grade runs: {runs}.", "zh": "模拟面试 {id}：剩余 {left}。评分次数：{runs}。"},
    "mock_no_watch": {"en": "`pt-quiz watch` is not available during a mock (as in a real screen, you run the checks yourself): "
                            "use `pt-quiz grade`. The mock ends with `pt-quiz mock finish` or at its time limit.",
                      "zh": "模拟面试期间不能使用 `pt-quiz watch`（就像真实面试，需自己运行检查）：请用 `pt-quiz grade`。"
                            "模拟面试在 `pt-quiz mock finish` 或时限到达时结束。"},
    "mock_history_head": {"en": "Mock interviews, oldest first:", "zh": "模拟面试记录，最早的在前："},
    "mock_history_none": {"en": "No mock interviews yet. Start one: `pt-quiz mock`.", "zh": "还没有模拟面试记录。开始一场：`pt-quiz mock`。"},
    "mock_hist_status": {"en": {"active": "running", "finished": "finished (no scorecard)", "unreadable": "unreadable"},
                         "zh": {"active": "进行中", "finished": "已结束（无成绩单）", "unreadable": "无法读取"}},
    "card_head": {"en": "Mock interview {id}: scorecard", "zh": "模拟面试 {id}：成绩单"},
    "card_when": {"en": "Started {when}, {minutes} min; {ended} after {took}.", "zh": "开始于 {when}，时限 {minutes} 分钟；{took} 后{ended}。"},
    "card_ended": {"en": {"deadline": "ended at the time limit", "finish": "finished early"},
                   "zh": {"deadline": "到时结束", "finish": "提前结束"}},
    "card_row": {"en": "score {score}/{max} (best grade {best} − hints {hcost} − extra grade runs {gcost}) · first full marks {first} · "
                       "grade runs {runs} · hints {hints}",
                 "zh": "得分 {score}/{max}（最好评分 {best} − 提示 {hcost} − 额外评分 {gcost}）· 首次满分 {first} · 评分 {runs} 次 · 提示 {hints}"},
    "card_late": {"en": "({n} grade run(s) after the time limit not counted)", "zh": "（时限后的 {n} 次评分不计）"},
    "card_ungraded": {"en": "(the file changed after its last grade run that counted: those edits are not scored)",
                      "zh": "（该文件在最后一次计分的评分之后又被修改：这些修改不计分）"},
    "card_result": {"en": "Result: {score}/{max} = {pct} % — {verdict} ({need} % needed)",
                    "zh": "结果：{score}/{max} = {pct} % — {verdict}（需 {need} %）"},
    "card_pass": {"en": "pass", "zh": "通过"},
    "card_nopass": {"en": "no pass", "zh": "未通过"},
    "card_followups": {"en": "Follow-up questions on what you attempted (answer them aloud, as in an interview):",
                       "zh": "针对你做过的题目的追问（像面试一样大声回答）："},
    "card_no_followups": {"en": "(no follow-up questions for this exercise yet)", "zh": "（本题暂无追问）"},
}


def detect_lang(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    env = os.environ.get("PT_QUIZ_LANG", "").lower()
    if env in LANGS:
        return env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        val = os.environ.get(var, "")
        if val:
            return "zh" if val.lower().startswith("zh") else "en"
    return "en"


def t(key: str, lang: str, **kw) -> str:
    entry = T[key]
    s = entry.get(lang) or entry["en"]
    return s.format(**kw) if kw else s
