"""gettext message catalogs and Accept-Language negotiation for the APIs that answer in several languages."""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent / "locales"
# Language tag prefix → catalog; the first entry is the default.
_CATALOGS = {"pt": "pt_BR", "en": "en", "es": "es"}
DEFAULT_LANGUAGE = "pt_BR"


def negotiate(accept_language: str | None) -> str:
    """The catalog for an Accept-Language header (q-values honoured); unknown languages get pt-BR."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        catalog = _CATALOGS.get(tag.strip().lower()[:2])
        if catalog and quality > 0:
            ranked.append((-quality, position, catalog))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


@cache
def catalog(domain: str, language: str) -> gettext.NullTranslations:
    return gettext.translation(domain, LOCALES, languages=[language], fallback=False)
