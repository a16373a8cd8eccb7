"""Generate the docs that must not drift: ``docs/json.md``, ``docs/cli.md`` and parts of the README.

``docs/json.md`` comes from gdei's real output, ``docs/cli.md`` from every
command's ``--help``; in the README, the demo output block from a real run of
``gdei analyze sample_logs/`` (80 columns, no colour) and the table of formats
from the format registry.  ``python -m tests.docs_gen`` rewrites them all; the
test suite checks they are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "docs" / "json.md"
CLI_DOC = REPO / "docs" / "cli.md"
COMMANDS = ("analyze", "export", "inspect", "plot", "report", "config")
EXAMPLE = "sample_logs/overfits.csv"

#: every key of a run in ``gdei analyze --format json``, with its meaning
RUN_KEYS = {
    "run": "run name (path relative to the common root of the inputs)",
    "metric": "the training loss the index is computed on (`null` for a run without one)",
    "objective": "the series that says whether the model got better (see the README)",
    "mode": "`min` or `max`: the objective's direction",
    "points": "logged points of the training loss (after restarts)",
    "first_step`, `last_step": "the run's step range (loss and objective)",
    "stop_step": "where the run should have stopped (the last step for a run still improving; "
    "`null` where the index is undefined)",
    "best_step": "the step of the objective's best (smoothed) value",
    "live_stop_step": "where the live plateau rule (`--rule live`) would have stopped it",
    "steps_saved": "`last_step - stop_step`",
    "waste_pct": "`100 * steps_saved / (last_step - first_step)`",
    "wall_saved_s": "wall-clock after the stop, from the log's times or `--seconds-per-step`",
    "gpu_hours_saved": "`wall_saved_s / 3600 * --gpus`",
    "cost_saved": "`gpu_hours_saved * --gpu-hour-cost`",
    "objective_at_stop`, `objective_best`, `objective_final": "the smoothed objective at the "
    "stop, at its best and at the end, in its own units",
    "forgone_pct": "share of the run's total improvement (first value to best) given up by "
    "stopping at `stop_step`",
    "loss_at_stop`, `final_loss": "the smoothed training loss at the stop and at the end "
    "(`null` for a run that ended in NaN/inf)",
    "verdict": "`still improving`, `efficient`, `wasteful`, `over-fitting`, `diverged`, "
    "`index undefined`, `no metric`",
    "reason": "one sentence, with the numbers, saying why",
    "cut_short": "the run ended before its plan (planned length, failed status, or an "
    "unfinished learning-rate schedule)",
    "diverged_step": "where the loss became NaN/inf for good, or started its collapse",
    "framework": "the framework whose own evidence was read (`null` if none)",
    "framework_best_step": "the framework's own best step (Hugging Face `best_global_step`)",
    "framework_stop_step": "where the framework stopped the run itself (its early stopping)",
    "framework_agrees": "whether gdei's stop is within 10% of the run of the framework's best "
    "(only when the framework stopped the run itself)",
    "nonfinite_points": "non-finite values of the training loss",
    "smoothing": "the EMA weight used for this run's loss",
    "note": "anything unusual, in a sentence",
    "wall_clock": "`logged`, `relative`, `derived` or `absent`",
    "superseded_points": "points of the loss replaced after a restart",
}


def real_outputs() -> tuple[dict[str, object], dict[str, object]]:
    """The analyze and inspect documents of the example, run from the repository root."""
    import os

    from typer.testing import CliRunner

    from gdei_cli.cli import app

    here = os.getcwd()
    os.chdir(REPO)
    try:
        runner = CliRunner()
        a = runner.invoke(app, ["analyze", EXAMPLE, "--format", "json"], catch_exceptions=False)
        i = runner.invoke(app, ["inspect", EXAMPLE, "--format", "json"], catch_exceptions=False)
    finally:
        os.chdir(here)
    return json.loads(a.stdout), json.loads(i.stdout)


def render() -> str:
    analyze_doc, inspect_doc = real_outputs()
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in RUN_KEYS.items())
    return f"""# gdei's JSON documents

Both documents carry `schema_version` (now `{analyze_doc["schema_version"]}`). A new key may
be added without a version change; a key removed or renamed, or a meaning changed, bumps the
version. Numbers that are unknown or not finite are `null`.

This page is generated from gdei's real output (`python -m tests.docs_gen`; the test suite
fails when it is out of date).

## `gdei analyze --format json`

`gdei analyze {EXAMPLE} --format json` prints:

```json
{json.dumps(analyze_doc, indent=2)}
```

Each item of `runs`:

| key | meaning |
|---|---|
{rows}

`config` echoes every option the verdicts depend on; `totals` sums the runs that have a stop;
`skipped` lists files passed over: `path`, `line` (or null), `reason`, and `problem`
(true when the file should have been readable: damaged, unreadable, not a regular file;
false when it is merely not a log); `warnings` says what the readers noticed.

## `gdei inspect --format json`

`gdei inspect {EXAMPLE} --format json` prints:

```json
{json.dumps(inspect_doc, indent=2)}
```
"""


README = REPO / "README.md"
TABLE_HEAD = "| format | what | run | default metric |"


def readme_with_format_table() -> str:
    """The README with its table of formats regenerated from the registry."""
    from gdei_cli.readers import registry

    text = README.read_text()
    start = text.index(TABLE_HEAD)
    end = text.index("\n\n", start) + 1
    return text[:start] + registry.markdown_table() + text[end:]


def _invoke(args: list[str]) -> str:
    import os

    from typer.testing import CliRunner

    from gdei_cli.cli import app

    here = os.getcwd()
    os.chdir(REPO)
    try:
        env = {"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
        res = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(here)
    return "\n".join(line.rstrip() for line in res.stdout.splitlines()).strip() + "\n"


def readme_with_demo(text: str) -> str:
    """*text* (the README) with its demo block replaced by the real output."""
    start = text.index("```text\nWhere each run") + len("```text\n")
    end = text.index("```", start)
    return text[:start] + _invoke(["analyze", "sample_logs/"]) + text[end:]


def cli_reference() -> str:
    """``docs/cli.md``: every command's ``--help``, as gdei prints it."""
    parts = [
        "# gdei command-line reference",
        "",
        "Generated from `--help` (`python -m tests.docs_gen`; the test suite fails when it",
        "is out of date). `-h` is short for `--help` everywhere.",
        "",
        "```text",
        "$ gdei --help",
        _invoke(["--help"]).rstrip(),
        "```",
    ]
    for cmd in COMMANDS:
        parts += ["", f"## gdei {cmd}", "", "```text", f"$ gdei {cmd} --help"]
        parts += [_invoke([cmd, "--help"]).rstrip(), "```"]
    return "\n".join(parts) + "\n"


def expected() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    return {
        TARGET: render(),
        CLI_DOC: cli_reference(),
        README: readme_with_demo(readme_with_format_table()),
    }


def main(argv: list[str]) -> int:
    want = expected()
    if "--check" in argv:
        return 0 if all(p.read_text() == t for p, t in want.items()) else 1
    for path, text in want.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
