"""Docs that cannot drift: docs/json.md and docs/cli.md are gdei's real output, the
README's demo block is a real run, and docs/json.md documents every key."""

from __future__ import annotations

import json
import re

from tests import docs_gen


def test_json_md_is_generated_from_real_output():
    assert docs_gen.TARGET.read_text() == docs_gen.render(), (
        "docs/json.md is out of date: run `python -m tests.docs_gen`"
    )


def test_generated_docs_are_current():
    for path, text in docs_gen.expected().items():
        assert path.read_text() == text, f"{path} is out of date: run `python -m tests.docs_gen`"


def test_cli_reference_has_every_command_and_the_exit_codes():
    text = docs_gen.CLI_DOC.read_text()
    for cmd in docs_gen.COMMANDS:
        assert f"$ gdei {cmd} --help" in text
    assert "Exit codes: 0 fine" in text and "130 interrupted" in text


def test_every_run_key_is_documented_and_every_documented_key_exists():
    analyze_doc, _ = docs_gen.real_outputs()
    (run,) = analyze_doc["runs"]
    documented = {k for key in docs_gen.RUN_KEYS for k in re.split(r"`, `", key)}
    assert documented == set(run)


def test_json_examples_parse():
    blocks = re.findall(r"```json\n(.*?)```", docs_gen.TARGET.read_text(), flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        assert json.loads(block)["schema_version"] == 2
