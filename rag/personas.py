"""Persona cards: YAML front matter plus `## ` sections, turned into prompts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rag.errors import PersonaError, UnknownNameError

Section = list[str] | str

_NUMBER = re.compile(r"^\d+[.)]\s*")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_FENCE = re.compile(r"^\s*(?:```|~~~)")

# Grounding matters more than the persona: cards without their own rules still get these.
DEFAULT_ANSWERING_RULES = [
    "Answer only from the retrieved passages and cite them as [n]",
    "When the passages do not cover the question, say so plainly",
]


@dataclass(frozen=True)
class Persona:
    """A persona card: who the assistant is and how it answers."""

    name: str
    title: str
    description: str
    sections: dict[str, Section]

    def items(self, key: str) -> list[str]:
        """A section as a list: its bullets, or its text as one item; [] when absent."""
        value = self.sections.get(key, [])
        if isinstance(value, str):
            return [value] if value else []
        return list(value)

    @property
    def directives(self) -> list[str]:
        """The behavioural directives as bullet strings."""
        return self.items("behavioral directives") or self.items("behavioural directives")

    @property
    def answering_rules(self) -> list[str]:
        """The card's answering rules, else the defaults every persona follows."""
        return self.items("answering rules") or list(DEFAULT_ANSWERING_RULES)

    def system_prompt(self) -> str:
        """A compact system prompt for LLM engines: role, constraints, directives, rules."""
        opening = " ".join([f"You are {_role_phrase(self.title)}.", *self.items("role summary")])
        parts = [
            opening,
            _bullet_block("Constraints", self.items("constraints")),
            _bullet_block("How you work", self.directives),
            _bullet_block("Answering rules", self.answering_rules),
        ]
        return "\n\n".join(part for part in parts if part)

    def framing(self) -> str:
        """A one-line lead-in for the extractive engine, like 'As a Databricks developer: '."""
        return f"As {_role_phrase(self.title)}: "


def _role_phrase(title: str) -> str:
    """'Databricks Developer' -> 'a Databricks developer' (the last word is the role noun)."""
    words = title.split() or ["assistant"]
    last = words[-1]
    if len(words) > 1 and last.istitle():
        words[-1] = last.lower()
    article = "an" if words[0][0].lower() in "aeiou" else "a"
    return f"{article} {' '.join(words)}"


def _bullet_block(heading: str, items: list[str]) -> str:
    """'Heading:' followed by one '- item' line each; '' when there are none."""
    if not items:
        return ""
    return "\n".join([f"{heading}:", *(f"- {item}" for item in items)])


def _normalise(heading: str) -> str:
    """'## 6. Behavioral Directives ##' -> 'behavioral directives'."""
    text = _NUMBER.sub("", heading.strip().strip("#").strip())
    return " ".join(text.lower().split())


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line saying where the YAML breaks; +2 for the opening '---' and 1-based lines."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"line {exc.problem_mark.line + 2}: {exc.problem}"
    return " ".join(str(exc).split())


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """The front matter mapping and the Markdown body after it."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise PersonaError(
            f"{path}: no YAML front matter; start the card with a '---' block with name and title"
        )
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
    if end is None:
        raise PersonaError(f"{path}: the front matter is never closed; add a '---' line after it")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        raise PersonaError(f"{path}: front matter is not valid YAML ({problem})") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise PersonaError(f"{path}: front matter must be key: value pairs like 'name: my-persona'")
    return meta, "\n".join(lines[end + 1 :])


def _trim(lines: list[str]) -> list[str]:
    """Drop blank lines and horizontal rules at both ends."""
    kept = [line.rstrip() for line in lines]
    while kept and (not kept[0].strip() or _RULE.match(kept[0])):
        kept.pop(0)
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        kept.pop()
    return kept


def _bullets(lines: list[str]) -> list[str] | None:
    """The items when every line is a bullet or its indented continuation, else None."""
    items: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if match := _BULLET.match(line):
            items.append(line[match.end() :].strip())
        elif items and line[:1].isspace():
            items[-1] = f"{items[-1]} {line.strip()}"
        else:
            return None
    return items or None


def _content(lines: list[str]) -> Section:
    """A section body: a list when it is a bullet list, else its text."""
    kept = _trim(lines)
    items = _bullets(kept)
    return items if items is not None else "\n".join(kept)


def _parse_sections(body: str, path: Path) -> dict[str, Section]:
    """Split the body at `## ` headings, ignoring headings inside code fences."""
    raw: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            key = _normalise(line[3:])
            if key in raw:
                raise PersonaError(f"{path}: section '{key}' appears twice; merge them")
            current = raw[key] = []
        elif current is not None:
            current.append(line)
    if not raw:
        raise PersonaError(f"{path}: no '## ' sections; add at least '## Role Summary'")
    return {key: _content(lines) for key, lines in raw.items()}


def load_persona(path: Path) -> Persona:
    """Read one card; its name is the front matter `name`, else the file stem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PersonaError(f"{path}: persona card not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(f"{path}: cannot read the persona card ({exc})") from exc
    meta, body = _split_front_matter(text, path)
    sections = _parse_sections(body, path)
    name = str(meta.get("name") or path.stem)
    title = str(meta.get("title") or name.replace("-", " ").title())
    description = " ".join(str(meta.get("description") or "").split())
    return Persona(name=name, title=title, description=description, sections=sections)


def list_personas(folder: Path) -> list[str]:
    """The persona names in a folder: the stems of its `*.md` cards, sorted."""
    if not folder.is_dir():
        raise PersonaError(f"persona folder {folder} not found; set LAKESAGE_PERSONAS_DIR")
    cards = (p for p in folder.glob("*.md") if p.is_file() and p.stem.lower() != "readme")
    return sorted(p.stem for p in cards)


def get_persona(name: str, folder: Path) -> Persona:
    """The persona card `<folder>/<name>.md`; unknown names list the available ones."""
    available = list_personas(folder)
    if name not in available:
        listed = ", ".join(available) or f"none (no cards in {folder})"
        raise UnknownNameError(f"unknown persona {name!r}; available: {listed}")
    path = folder / f"{name}.md"
    persona = load_persona(path)
    if persona.name != name:
        raise PersonaError(
            f"{path}: front matter says name '{persona.name}'; make it match the file name"
        )
    return persona
