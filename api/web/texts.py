"""What the workspace pages say, German first with English: one catalogue, filled by each area's
module with :func:`register` (keys prefixed by the area, e.g. ``planner.title``)."""

from __future__ import annotations

LANGS = ("de", "en")
_TEXT: dict[str, tuple[str, str]] = {}


def register(texts: dict[str, tuple[str, str]]) -> None:
    """Add an area's texts; a key defined twice is a mistake (two places saying one thing)."""
    twice = set(texts) & set(_TEXT)
    if twice:
        raise ValueError(f"texts defined twice: {', '.join(sorted(twice))}")
    _TEXT.update(texts)


def t(key: str, lang: str = "de", **values) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in; an unknown key shows itself, so a
    missing text is visible on the page (and in the tests) instead of failing the request."""
    de, en = _TEXT.get(key, (key, key))
    text = en if lang == "en" else de
    return text.format(**values) if values else text


register(
    {
        "app.name": ("Flächenregister Ruhr", "Ruhr land register"),
        "app.skip": ("Zum Inhalt springen", "Skip to content"),
        "app.language": ("English", "Deutsch"),
        "app.sign_in": ("Anmelden", "Sign in"),
        "app.sign_out": ("Abmelden", "Sign out"),
        "app.signed_in_as": ("Angemeldet als {name} ({role})", "Signed in as {name} ({role})"),
        "app.nav": ("Hauptnavigation", "Main navigation"),
        "app.error": ("Fehler {status}", "Error {status}"),
        "app.back": ("Zurück", "Back"),
        "app.save": ("Speichern", "Save"),
        "app.cancel": ("Abbrechen", "Cancel"),
        "role.planner": ("Planung", "planner"),
        "role.reviewer": ("Prüfung", "reviewer"),
        "role.ministry": ("Ministerium", "ministry"),
        "role.admin": ("Administration", "admin"),
    }
)
