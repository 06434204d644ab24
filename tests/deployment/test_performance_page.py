"""docs/performance.md's figures name what printed them: every table sits under a heading whose section
names the command (`make bench`), the date of its run and the machine it ran on."""

from __future__ import annotations

import re

from tests.deployment import names

PAGE = "docs/performance.md"
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
MACHINE = "x86_64 2-core"


def sections(page: str) -> dict[str, str]:
    """`##` heading -> the section's text (its `###` subsections included)."""
    parts = re.split(r"^## (.+)$", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def unlabelled_tables(page: str) -> list[str]:
    """The sections that hold a table of figures without the command, the date and the machine."""
    problems = []
    for heading, text in sections(page).items():
        has_table = any(line.lstrip().startswith("|---") for line in text.splitlines())
        missing = [
            what
            for what, present in (
                ("`make bench`", "`make bench`" in text),
                ("a date", DATE.search(text) is not None),
                (f"the machine ({MACHINE})", MACHINE in text),
            )
            if not present
        ]
        if has_table and missing:
            problems.append(f"{heading}: a table without {', '.join(missing)}")
    return problems


def test_every_table_of_the_performance_page_names_its_command_date_and_machine() -> None:
    page = names.documents()[PAGE]
    assert sum(1 for line in page.splitlines() if line.lstrip().startswith("|---")) >= 3
    assert unlabelled_tables(page) == []


def test_a_table_without_its_run_is_reported() -> None:
    page = "## Warm latency\n\nSome run.\n\n| call | p50 ms |\n|---|---|\n| GET | 8.81 |\n"
    assert unlabelled_tables(page) == [
        f"Warm latency: a table without `make bench`, a date, the machine ({MACHINE})"
    ]
