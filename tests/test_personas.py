"""Persona cards: our own card, the shared seed card as-is, dropped-in cards and broken ones."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.errors import PersonaError, UnknownNameError
from rag.personas import (
    DEFAULT_ANSWERING_RULES,
    Persona,
    get_persona,
    list_personas,
    load_persona,
)

REPO = Path(__file__).resolve().parent.parent
PERSONAS = REPO / "personas"
# Read at import: the autouse fixture in conftest clears LAKESAGE_* variables per test.
SEEDS = Path(os.environ.get("LAKESAGE_TEST_SEEDS", REPO.parent / "shared" / "seeds"))
SEED_CARD = "databricks-developer-persona.md"
SEED_SECTIONS = {
    "role summary",
    "goals & responsibilities",
    "tools & capabilities",
    "knowledge scope",
    "constraints",
    "behavioral directives",
    "interaction protocol",
    "example workflows",
    "templates & patterns",
    "metadata",
}

CUSTOM_CARD = """---
name: spark-tuner
title: Spark Performance Tuner
description: Tunes Spark jobs.
---

# Persona: Spark Performance Tuner

## 1) Role Summary

Someone who reads query plans
before touching a config key.

---

## Behavioral Directives

- Start from the Spark UI
- Change one setting at a time,
  then measure again

## Example Workflows

```
## not a section: inside a code fence
```

## Answering rules

1. Quote the exact `spark.sql.*` key
2. Cite passages as [n]
"""


@pytest.fixture
def seed_card(tmp_path: Path) -> Path:
    """The shared seed card copied into tmp_path; missing fails under CI, skips elsewhere."""
    source = SEEDS / SEED_CARD
    if not source.is_file():
        message = f"seed persona card not found at {source}; set LAKESAGE_TEST_SEEDS"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    target = tmp_path / "seeds" / SEED_CARD
    target.parent.mkdir()
    shutil.copy(source, target)
    return target


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A persona folder with our card and a dropped-in custom one."""
    root = tmp_path / "personas"
    root.mkdir()
    shutil.copy(PERSONAS / "databricks-developer.md", root)
    (root / "spark-tuner.md").write_text(CUSTOM_CARD, encoding="utf-8")
    (root / "README.md").write_text("# How to write a card\n", encoding="utf-8")
    return root


def test_our_card_loads_with_role_constraints_and_directives() -> None:
    persona = get_persona("databricks-developer", PERSONAS)
    assert persona.name == "databricks-developer"
    assert persona.title == "Databricks Developer"
    assert "Spark" in persona.description
    assert SEED_SECTIONS | {"answering rules"} == set(persona.sections)
    assert isinstance(persona.sections["role summary"], str)
    assert "Delta Lake" in persona.sections["role summary"]
    assert len(persona.items("constraints")) >= 4
    assert len(persona.directives) >= 4
    assert all(isinstance(item, str) and item for item in persona.directives)
    assert "databricks-developer" in list_personas(PERSONAS)


def test_system_prompt_has_role_directives_constraints_and_rules() -> None:
    persona = get_persona("databricks-developer", PERSONAS)
    prompt = persona.system_prompt()
    assert prompt.startswith("You are a Databricks developer. A senior engineer")
    for item in [*persona.items("constraints"), *persona.directives, *persona.answering_rules]:
        assert f"- {item}" in prompt
    assert "Answering rules:" in prompt
    assert "[2]" in prompt and "do not cover" in prompt
    # Tools and example workflows stay out: the prompt should stay compact.
    assert "Hyperopt" not in prompt
    assert len(prompt) < 3000


def test_framing_is_a_short_lead_in() -> None:
    persona = get_persona("databricks-developer", PERSONAS)
    assert persona.framing() == "As a Databricks developer: "


@pytest.mark.parametrize(
    ("title", "framing"),
    [
        ("Apache Spark Expert", "As an Apache Spark expert: "),
        ("Lakehouse Architect", "As a Lakehouse architect: "),
        ("Reviewer", "As a Reviewer: "),
        ("Delta Lake SRE", "As a Delta Lake SRE: "),
    ],
)
def test_framing_derives_from_the_title(title: str, framing: str) -> None:
    assert Persona("x", title, "", {}).framing() == framing


def test_seed_card_loads_as_is(seed_card: Path) -> None:
    persona = load_persona(seed_card)
    assert persona.name == "databricks-developer-persona"  # no `name` key: the file stem
    assert persona.title == "Databricks Developer"
    assert set(persona.sections) == SEED_SECTIONS
    assert len(persona.directives) == 5
    assert persona.directives[0].startswith("Provide optimized Databricks implementations")
    metadata = persona.sections["metadata"]
    assert isinstance(metadata, list) and metadata[-1] == "**Context Window Limit**: 32000 tokens"
    workflows = persona.sections["example workflows"]
    assert isinstance(workflows, str) and "```" in workflows and "---" not in workflows
    assert get_persona("databricks-developer-persona", seed_card.parent) == persona


def test_seed_card_prompt_falls_back_to_default_answering_rules(seed_card: Path) -> None:
    prompt = load_persona(seed_card).system_prompt()
    assert prompt.startswith("You are a Databricks developer. A specialized data platform")
    for rule in DEFAULT_ANSWERING_RULES:
        assert f"- {rule}" in prompt


def test_dropped_in_card_is_listed_and_parsed(folder: Path) -> None:
    assert list_personas(folder) == ["databricks-developer", "spark-tuner"]
    persona = get_persona("spark-tuner", folder)
    assert (
        persona.sections["role summary"]
        == "Someone who reads query plans\nbefore touching a config key."
    )
    assert persona.directives == [
        "Start from the Spark UI",
        "Change one setting at a time, then measure again",
    ]
    assert persona.answering_rules == ["Quote the exact `spark.sql.*` key", "Cite passages as [n]"]
    assert "not a section" in str(persona.sections["example workflows"])
    assert set(persona.sections) == {
        "role summary",
        "behavioral directives",
        "example workflows",
        "answering rules",
    }
    assert persona.framing() == "As a Spark Performance tuner: "
    assert "Constraints:" not in persona.system_prompt()


def test_name_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    card = tmp_path / "notes-helper.md"
    card.write_text("---\ndescription: helps\n---\n## Role Summary\nHelps.\n", encoding="utf-8")
    persona = load_persona(card)
    assert (persona.name, persona.title, persona.description) == (
        "notes-helper",
        "Notes Helper",
        "helps",
    )


def test_unknown_name_lists_the_available(folder: Path) -> None:
    with pytest.raises(UnknownNameError) as caught:
        get_persona("nope", folder)
    assert (
        str(caught.value) == "unknown persona 'nope'; available: databricks-developer, spark-tuner"
    )


def test_unknown_name_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="available: none"):
        get_persona("nope", tmp_path)


def test_missing_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="LAKESAGE_PERSONAS_DIR"):
        list_personas(tmp_path / "absent")


def test_front_matter_name_must_match_the_file(tmp_path: Path) -> None:
    (tmp_path / "alias.md").write_text(CUSTOM_CARD, encoding="utf-8")
    with pytest.raises(PersonaError, match=r"alias\.md: front matter says name 'spark-tuner'"):
        get_persona("alias", tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("## Role Summary\nNo front matter.\n", "no YAML front matter"),
        ("---\nname: [unclosed\n---\n## Role Summary\nx\n", "not valid YAML (line 2"),
        ("---\nname: x\n## Role Summary\nx\n", "never closed"),
        ("---\n- a\n- b\n---\n## Role Summary\nx\n", "key: value pairs"),
        ("---\nname: x\n---\n# Only a title\n\nSome text.\n", "no '## ' sections"),
        ("---\nname: x\n---\n## Rules\n- a\n## 2. rules\n- b\n", "section 'rules' appears twice"),
        ("", "no YAML front matter"),
    ],
)
def test_broken_cards_name_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    card = tmp_path / "broken-card.md"
    card.write_text(text, encoding="utf-8")
    with pytest.raises(PersonaError) as caught:
        load_persona(card)
    message = str(caught.value)
    assert "broken-card.md" in message and problem in message
    assert "\n" not in message


def test_unreadable_card_is_a_persona_error(tmp_path: Path) -> None:
    card = tmp_path / "binary.md"
    card.write_bytes(b"---\nname: \xff\xfe\n---\n")
    with pytest.raises(PersonaError, match=r"binary\.md: cannot read"):
        load_persona(card)
    with pytest.raises(PersonaError, match="not found"):
        load_persona(tmp_path / "absent.md")
