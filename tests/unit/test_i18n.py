"""The pigeons message catalogs: compiled catalogs match their sources, and languages are negotiated."""

from __future__ import annotations

import gettext

import pytest
from babel.messages.pofile import read_po

from push_registry.i18n import LOCALES, catalog, negotiate


@pytest.mark.parametrize("language", ["pt_BR", "en", "es"])
def test_every_compiled_catalog_matches_its_po_source(language: str) -> None:
    folder = LOCALES / language / "LC_MESSAGES"
    with (folder / "pigeons.po").open("rb") as source:
        messages = {m.id: m.string for m in read_po(source) if m.id}
    with (folder / "pigeons.mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    assert messages, "the catalog has messages"
    for msgid, msgstr in messages.items():
        assert translations.gettext(msgid) == msgstr, f"{language}: recompile with `make catalogs`"


def test_portuguese_and_spanish_translate_every_message() -> None:
    with (LOCALES / "en" / "LC_MESSAGES" / "pigeons.po").open("rb") as source:
        msgids = [m.id for m in read_po(source) if m.id]
    for language in ("pt_BR", "es"):
        untranslated = [m for m in msgids if catalog("pigeons", language).gettext(m) == m]
        assert untranslated == [], language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "pt_BR"),
        ("", "pt_BR"),
        ("en", "en"),
        ("en-GB,en;q=0.8", "en"),
        ("es-419", "es"),
        ("pt", "pt_BR"),
        ("de, fr;q=0.9", "pt_BR"),
        ("de, es;q=0.4, en;q=0.6", "en"),
        ("en;q=0, es", "es"),
        ("en;q=abc", "pt_BR"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language
