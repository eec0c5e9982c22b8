"""DATABASE_OVERVIEW.md must describe exactly the schema in SQLModel.metadata.

The document is parsed (one markdown table per database table, then ``### Constraints`` and
``### Indexes`` bullet lists in a fixed format) and compared with the models. The parser is strict:
a bullet it cannot read is an error, so a malformed entry cannot silently drop out of the check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import chat_app.models  # noqa: F401  (registers every table)
from chat_app.models.common import UTCDateTime

DOC_PATH = Path(__file__).resolve().parents[2] / "DATABASE_OVERVIEW.md"
TABLE_HEADER = "| Column | Type | Nullable | Description |"


@dataclass
class DocColumn:
    type: str
    nullable: bool


@dataclass
class DocTable:
    columns: dict[str, DocColumn] = field(default_factory=dict)
    primary_key: list[str] | None = None
    unique: dict[str, list[str]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    # column -> (referred table, referred column, ON DELETE action)
    foreign_keys: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    indexes: dict[str, list[str]] = field(default_factory=dict)


class DocFormatError(ValueError):
    pass


_TABLE_HEADING = re.compile(r"^## Table `(\w+)`\s*$")
_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*`([^`]+)`\s*\|\s*(yes|no)\s*\|(.*)\|\s*$")
_COLS = re.compile(r"`(\w+)`")
_PK = re.compile(r"^- PRIMARY KEY \(([^)]*)\)\s*$")
_FK = re.compile(
    r"^- FOREIGN KEY \(`(\w+)`\) REFERENCES `(\w+)` \(`(\w+)`\) "
    r"ON DELETE (CASCADE|SET NULL|RESTRICT|NO ACTION)\b"
)
_UNIQUE = re.compile(r"^- UNIQUE `(\w+)` \(([^)]*)\)")
_CHECK = re.compile(r"^- CHECK `(\w+)`: `([^`]+)`")
_INDEX = re.compile(r"^- `(\w+)` on \(([^)]*)\)")
_NO_INDEX = re.compile(r"^- None\b")


def _columns_of(text: str) -> list[str]:
    return _COLS.findall(text)


def parse_overview(text: str) -> dict[str, DocTable]:
    tables: dict[str, DocTable] = {}
    current: DocTable | None = None
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("## "):
            heading = _TABLE_HEADING.match(stripped)
            current = None
            section = ""
            if heading:
                name = heading.group(1)
                if name in tables:
                    raise DocFormatError(f"line {number}: table {name} documented twice")
                current = tables[name] = DocTable()
                section = "intro"
            continue
        if current is None:
            continue
        if stripped.startswith("### "):
            section = stripped[4:].strip().lower()
            if section not in {"constraints", "indexes"}:
                raise DocFormatError(f"line {number}: unexpected section {stripped!r}")
            continue
        if stripped.startswith("|"):
            if section != "intro":
                raise DocFormatError(f"line {number}: column table outside its place")
            if stripped == TABLE_HEADER or re.fullmatch(r"\|(\s*-+\s*\|)+", stripped):
                continue
            row = _ROW.match(stripped)
            if row is None:
                raise DocFormatError(f"line {number}: unreadable column row {stripped!r}")
            name, type_, nullable, description = row.groups()
            if not description.strip():
                raise DocFormatError(f"line {number}: column {name} has no description")
            if name in current.columns:
                raise DocFormatError(f"line {number}: column {name} documented twice")
            current.columns[name] = DocColumn(type=type_.strip(), nullable=nullable == "yes")
            continue
        if not stripped.startswith("- "):
            continue
        if section == "constraints":
            if m := _PK.match(stripped):
                current.primary_key = _columns_of(m.group(1))
            elif m := _FK.match(stripped):
                current.foreign_keys[m.group(1)] = (m.group(2), m.group(3), m.group(4))
            elif m := _UNIQUE.match(stripped):
                current.unique[m.group(1)] = _columns_of(m.group(2))
            elif m := _CHECK.match(stripped):
                current.checks[m.group(1)] = m.group(2)
            else:
                raise DocFormatError(f"line {number}: unreadable constraint {stripped!r}")
        elif section == "indexes":
            if m := _INDEX.match(stripped):
                current.indexes[m.group(1)] = _columns_of(m.group(2))
            elif not _NO_INDEX.match(stripped):
                raise DocFormatError(f"line {number}: unreadable index {stripped!r}")
    for name, table in tables.items():
        if not table.columns:
            raise DocFormatError(f"table {name}: no column table with header {TABLE_HEADER!r}")
    return tables


def doc_type(column: sa.Column) -> str:
    """How the document spells a column's type (PostgreSQL's names)."""
    type_ = column.type
    if isinstance(type_, UTCDateTime):
        return "TIMESTAMP WITH TIME ZONE"
    if isinstance(type_, TypeDecorator):  # e.g. SQLModel's AutoString: what it stores as
        type_ = type_.impl_instance
    if isinstance(type_, sa.Uuid):
        return "UUID"
    if isinstance(type_, sa.Text):
        return "TEXT"
    if isinstance(type_, sa.String):
        return f"VARCHAR({type_.length})" if type_.length else "VARCHAR"
    if isinstance(type_, sa.Boolean):
        return "BOOLEAN"
    if isinstance(type_, sa.Integer):
        return "INTEGER"
    if isinstance(type_, sa.JSON):
        return "JSON"
    return type(type_).__name__.upper()


def _normalize_sql(text: str) -> str:
    return " ".join(text.split())


def compare(doc: dict[str, DocTable], metadata: sa.MetaData) -> list[str]:
    """Every disagreement between the document and the models, in words; [] when they agree."""
    problems: list[str] = []
    model_tables = {t.name: t for t in metadata.sorted_tables}
    for name in sorted(set(model_tables) - set(doc)):
        problems.append(f"table {name}: in the models, not documented")
    for name in sorted(set(doc) - set(model_tables)):
        problems.append(f"table {name}: documented, not in the models")

    for name in sorted(set(doc) & set(model_tables)):
        table, documented = model_tables[name], doc[name]
        columns = {c.name: c for c in table.columns}
        for col in sorted(set(columns) - set(documented.columns)):
            problems.append(f"column {name}.{col}: in the models, not documented")
        for col in sorted(set(documented.columns) - set(columns)):
            problems.append(f"column {name}.{col}: documented, not in the models")
        for col in sorted(set(columns) & set(documented.columns)):
            model_col, doc_col = columns[col], documented.columns[col]
            if bool(model_col.nullable) != doc_col.nullable:
                problems.append(
                    f"column {name}.{col}: nullable is {model_col.nullable} in the models, "
                    f"{doc_col.nullable} in the document"
                )
            if doc_type(model_col) != doc_col.type:
                problems.append(
                    f"column {name}.{col}: type is {doc_type(model_col)} in the models, "
                    f"{doc_col.type} in the document"
                )

        pk = [c.name for c in table.primary_key.columns]
        if documented.primary_key != pk:
            problems.append(
                f"table {name}: primary key is {pk} in the models, "
                f"{documented.primary_key} in the document"
            )

        unique = {
            c.name: [col.name for col in c.columns]
            for c in table.constraints
            if isinstance(c, sa.UniqueConstraint)
        }
        checks = {
            c.name: _normalize_sql(str(c.sqltext))
            for c in table.constraints
            if isinstance(c, sa.CheckConstraint)
        }
        _compare_named(problems, name, "unique constraint", unique, documented.unique)
        _compare_named(
            problems,
            name,
            "check constraint",
            checks,
            {k: _normalize_sql(v) for k, v in documented.checks.items()},
        )

        fks = {}
        for fk in table.foreign_keys:
            fks[fk.parent.name] = (
                fk.column.table.name,
                fk.column.name,
                (fk.ondelete or "NO ACTION").upper(),
            )
        _compare_named(problems, name, "foreign key on", fks, documented.foreign_keys)

        indexes = {i.name: [c.name for c in i.columns] for i in table.indexes}
        _compare_named(problems, name, "index", indexes, documented.indexes)
    return problems


def _compare_named(
    problems: list[str], table: str, what: str, models: dict, documented: dict
) -> None:
    for key in sorted(set(models) - set(documented), key=str):
        problems.append(f"{what} {key} ({table}): in the models, not documented")
    for key in sorted(set(documented) - set(models), key=str):
        problems.append(f"{what} {key} ({table}): documented, not in the models")
    for key in sorted(set(models) & set(documented), key=str):
        if models[key] != documented[key]:
            problems.append(
                f"{what} {key} ({table}): {models[key]} in the models, "
                f"{documented[key]} in the document"
            )


# ---- the real document -------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def test_overview_matches_the_models(doc_text: str) -> None:
    assert compare(parse_overview(doc_text), SQLModel.metadata) == []


def test_overview_covers_every_table(doc_text: str) -> None:
    parsed = parse_overview(doc_text)
    assert set(parsed) >= {"users", "conversations", "messages"}
    # Sanity: the parser really read the details, so an empty comparison means something.
    assert parsed["users"].unique == {"uq_users_email": ["email"]}
    assert set(parsed["messages"].checks) == {"ck_messages_role", "ck_messages_status"}
    assert parsed["messages"].foreign_keys == {
        "conversation_id": ("conversations", "id", "CASCADE")
    }
    assert parsed["conversations"].indexes == {
        "ix_conversations_owner_updated": ["owner_id", "updated_at"]
    }
    assert sum(len(t.columns) for t in parsed.values()) == sum(
        len(t.columns) for t in SQLModel.metadata.sorted_tables
    )


def test_overview_documents_ownership_and_revocation(doc_text: str) -> None:
    for words in ("## Ownership rule", "session_version", "revoked_tokens", "ON DELETE CASCADE"):
        assert words in doc_text


# ---- the comparison catches disagreements ------------------------------------------------


def _drop_line(text: str, starting_with: str) -> str:
    lines = text.splitlines()
    kept = [line for line in lines if not line.startswith(starting_with)]
    assert len(kept) == len(lines) - 1, f"expected exactly one line starting {starting_with!r}"
    return "\n".join(kept)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} exactly once"
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda t: _drop_line(t, "| `display_name` |"),
            "column users.display_name: in the models, not documented",
        ),
        (
            lambda t: _replace_once(
                t, "| `ttft_ms` | `INTEGER` | yes |", "| `ttft_ms` | `INTEGER` | no |"
            ),
            "column messages.ttft_ms: nullable is True in the models, False in the document",
        ),
        (
            lambda t: _replace_once(t, "| `email` | `VARCHAR(254)` |", "| `email` | `TEXT` |"),
            "column users.email: type is VARCHAR(254) in the models, TEXT in the document",
        ),
        (
            lambda t: _replace_once(
                t,
                "| `ttft_ms` |",
                "| `latency_ms` | `INTEGER` | yes | Made up. |\n| `ttft_ms` |",
            ),
            "column messages.latency_ms: documented, not in the models",
        ),
        (
            lambda t: _replace_once(
                t, "`ix_messages_conversation_created` on", "`ix_messages_created` on"
            ),
            "index ix_messages_conversation_created (messages): in the models, not documented",
        ),
        (
            lambda t: _replace_once(
                t,
                "on (`owner_id`, `updated_at`)",
                "on (`updated_at`, `owner_id`)",
            ),
            "index ix_conversations_owner_updated (conversations): "
            "['owner_id', 'updated_at'] in the models",
        ),
        (
            lambda t: _drop_line(t, "- CHECK `ck_messages_status`"),
            "check constraint ck_messages_status (messages): in the models, not documented",
        ),
        (
            lambda t: _replace_once(t, "UNIQUE `uq_users_email`", "UNIQUE `users_email_key`"),
            "unique constraint uq_users_email (users): in the models, not documented",
        ),
        (
            lambda t: _replace_once(
                t,
                "REFERENCES `users` (`id`) ON DELETE CASCADE — deleting a user deletes their conv",
                "REFERENCES `users` (`id`) ON DELETE SET NULL — deleting a user deletes their conv",
            ),
            "foreign key on owner_id (conversations): ('users', 'id', 'CASCADE') in the models",
        ),
        (
            lambda t: t.replace("## Table `messages`", "## Messages (not a table heading)"),
            "table messages: in the models, not documented",
        ),
    ],
    ids=[
        "column-removed",
        "nullability",
        "type",
        "extra-column",
        "index-renamed",
        "index-columns",
        "check-removed",
        "unique-renamed",
        "fk-ondelete",
        "table-missing",
    ],
)
def test_comparison_reports_a_disagreement(doc_text: str, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    problems = compare(parse_overview(mutate(doc_text)), SQLModel.metadata)
    assert any(p.startswith(expected) for p in problems), problems


def test_comparison_reports_a_model_change(doc_text: str) -> None:
    """The other direction: the models change and the document does not."""
    metadata = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Index("ix_messages_status", metadata.tables["messages"].c.status)
    problems = compare(parse_overview(doc_text), metadata)
    assert problems == ["index ix_messages_status (messages): in the models, not documented"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "| `role` | `VARCHAR(16)` | no |",
            "| `role` | VARCHAR(16) | no |",
        ),  # type not in backticks
        ("| `role` | `VARCHAR(16)` | no |", "| `role` | `VARCHAR(16)` | No |"),
        ("- CHECK `ck_messages_role`:", "- CHEK `ck_messages_role`:"),
        ("- `ix_messages_conversation_created` on", "- ix_messages_conversation_created on"),
    ],
)
def test_malformed_entries_are_errors_not_silently_skipped(
    doc_text: str, old: str, new: str
) -> None:
    with pytest.raises(DocFormatError):
        parse_overview(_replace_once(doc_text, old, new))
