"""Workspace area `profiles` (Bewertungsprofile): the ministry tunes a scoring profile.

For each criterion a slider and a number for its weight and the parameters of its value function;
a live preview of the ranking (top N before and after, each parcel's change of rank, how many move
more than ten places: :mod:`landreg.scoring.preview`, which reads only); the sensitivity of the
ranking to each weight (:func:`landreg.scoring.explain.sensitivity`) as a chart with its table;
"als neue Version speichern" saves and rescores as ``PUT /profiles/{name}`` does
(:func:`landreg.scoring.engine.save_scored_profile`). Reviewers and admins read the profiles;
planners are refused. The form's fields, bounds and messages are the core's.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from api.errors import STATUS_CODES
from api.web.pages import lang_of, page
from api.web.session import CheckedForm, require
from api.web.texts import register
from api.web.texts import t as text_of
from landreg import fields, users
from landreg.access import view_of
from landreg.db import unbounded_statements
from landreg.errors import Conflict, InvalidParameter, NotFound, VersionConflict
from landreg.scoring import preview as previews
from landreg.scoring.criteria import CATALOGUE, EXCLUSIONS
from landreg.scoring.engine import save_scored_profile
from landreg.scoring.explain import sensitivity
from landreg.scoring.indicators import loaded_layers
from landreg.scoring.profiles import Profile, current_profile, current_profiles
from landreg.vocab import CATEGORY

router = APIRouter()
PATH = "/app/profile"
READERS = ("ministry", "reviewer", "admin")
EDITORS = ("ministry",)
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [(PATH, "profiles.nav", READERS)]
#: The sensitivity analysis: each weight changed by ±change percent, the stability of the top N.
CHANGE_DEFAULT, CHANGE_MIN, CHANGE_MAX = 20, 5, 90
SENSITIVITY_TOP_DEFAULT, SENSITIVITY_TOP_MAX = 20, 1000

Reader = Annotated[users.Session, Depends(require(*READERS))]
Editor = Annotated[users.Session, Depends(require(*EDITORS))]

register(
    {
        "profiles.nav": ("Bewertungsprofile", "Scoring profiles"),
        "profiles.title": ("Bewertungsprofile", "Scoring profiles"),
        "profiles.intro": (
            "Jedes Profil gewichtet die Kriterien für eine Sichtweise. Eine Änderung wird als neue Version "
            "gespeichert; die Rangfolge wird sofort neu berechnet.",
            "Each profile weighs the criteria for one perspective. A change is saved as a new version; "
            "the ranking is recomputed at once.",
        ),
        "profiles.intro_readonly": (
            "Sie können die Profile lesen; ändern kann sie das Ministerium.",
            "You can read the profiles; the ministry changes them.",
        ),
        "profiles.caption": ("Aktuelle Profile", "Current profiles"),
        "profiles.name": ("Profil", "Profile"),
        "profiles.version": ("Version", "Version"),
        "profiles.description": ("Beschreibung", "Description"),
        "profiles.categories": ("Flächenkategorien", "Categories"),
        "profiles.all_categories": ("alle", "all"),
        "profiles.method": ("Verfahren", "Method"),
        "profiles.method.weighted_sum": ("Gewichtete Summe", "Weighted sum"),
        "profiles.method.topsis": ("TOPSIS (Nähe zum Ideal)", "TOPSIS (closeness to the ideal)"),
        "profiles.open": ("Bearbeiten", "Edit"),
        "profiles.view": ("Ansehen", "View"),
        "profiles.none": ("Noch keine Profile.", "No profiles yet."),
        "profiles.editor_title": ("Profil „{title}“ (Version {version})", "Profile “{title}” (version {version})"),
        "profiles.back": ("Alle Profile", "All profiles"),
        "profiles.exclusions": ("Ausschlüsse", "Exclusions"),
        "profiles.abstand_class": ("Abstandsklasse", "Distance class"),
        "profiles.none_short": ("keine", "none"),
        "profiles.fixed": (
            "Verfahren, Kategorien und Ausschlüsse bleiben bei dieser Bearbeitung unverändert.",
            "Method, categories and exclusions stay as they are in this editor.",
        ),
        "profiles.about": ("Bezeichnung", "Name and purpose"),
        "profiles.field.title": ("Titel", "Title"),
        "profiles.field.purpose": ("Zweck", "Purpose"),
        "profiles.weights": ("Gewichte und Wertfunktionen", "Weights and value functions"),
        "profiles.weights_hint": (
            "Gewichte in Prozentpunkten (0 bis 100, bis zu zwei Nachkommastellen). Sie werden beim Speichern "
            "auf 100 % normiert.",
            "Weights in percent points (0 to 100, up to two decimals). They are normalised to 100 % when saved.",
        ),
        "profiles.sum": ("Summe der Gewichte: {sum} %", "Sum of the weights: {sum} %"),
        "profiles.weight": ("Gewicht", "Weight"),
        "profiles.weight_slider": ("Gewicht {label} (Schieberegler)", "Weight of {label} (slider)"),
        "profiles.weight_number": ("Gewicht {label} in Prozent", "Weight of {label} in percent"),
        "profiles.more_criteria": ("Weitere Kriterien (Gewicht 0)", "More criteria (weight 0)"),
        "profiles.function": ("Wertfunktion", "Value function"),
        "profiles.function_of": ("Wertfunktion {label}", "Value function of {label}"),
        "profiles.worst": ("Schlechtester Wert (0 Punkte)", "Worst value (0 points)"),
        "profiles.best": ("Bester Wert (volle Punkte)", "Best value (full points)"),
        "profiles.value_of": ("Wert für „{code}“ (0 bis 1)", "Value of “{code}” (0 to 1)"),
        "profiles.bound": ("Obergrenze Stufe {n}", "Upper bound of step {n}"),
        "profiles.step": ("Wert Stufe {n} (0 bis 1)", "Value of step {n} (0 to 1)"),
        "profiles.above": ("Wert darüber (0 bis 1)", "Value above (0 to 1)"),
        "profiles.smaller_better": ("kleiner ist besser", "smaller is better"),
        "profiles.larger_better": ("größer ist besser", "larger is better"),
        "profiles.unit": ("Einheit: {unit}", "Unit: {unit}"),
        "profiles.no_layer": (
            "Kontextebene nicht geladen: zählt derzeit nicht",
            "context layer not loaded: does not count at present",
        ),
        "profiles.preview": ("Vorschau der Rangfolge", "Preview of the ranking"),
        "profiles.preview_hint": (
            "Die Vorschau rechnet aus den gespeicherten Indikatoren und speichert nichts.",
            "The preview computes from the stored indicators and saves nothing.",
        ),
        "profiles.preview_button": ("Vorschau aktualisieren", "Update preview"),
        "profiles.top": ("Anzahl in der Vorschau", "Number in the preview"),
        "profiles.save": ("Als neue Version speichern", "Save as a new version"),
        "profiles.saved": (
            "Als Version {version} gespeichert; die Rangfolge wurde neu berechnet.",
            "Saved as version {version}; the ranking was recomputed.",
        ),
        "profiles.unchanged": (
            "Nichts geändert: weiterhin Version {version}.",
            "Nothing changed: still version {version}.",
        ),
        "profiles.invalid": ("Bitte prüfen: {message}", "Please check: {message}"),
        "profiles.conflict": (
            "inzwischen wurde Version {version} dieses Profils gespeichert; unten steht Ihre Änderung über der "
            "gespeicherten Version: prüfen Sie sie und speichern Sie erneut",
            "version {version} of this profile has been saved meanwhile; your change is shown below over the saved "
            "version: check it and save again",
        ),
        "profiles.moved": (
            "{moved} Flächen rücken um mehr als {places} Plätze",
            "{moved} parcels move by more than {places} places",
        ),
        "profiles.changed": (
            "{changed} von {ranked} Flächen ändern ihren Rang",
            "{changed} of {ranked} parcels change their rank",
        ),
        "profiles.entered_left": (
            "{entered} neu in der Rangfolge, {left} nicht mehr",
            "{entered} new in the ranking, {left} no longer in it",
        ),
        "profiles.before": ("Vorher: Version {version}", "Before: version {version}"),
        "profiles.after": ("Nachher: Entwurf", "After: draft"),
        "profiles.rank": ("Rang", "Rank"),
        "profiles.parcel": ("Fläche (Gemeinde)", "Parcel (municipality)"),
        "profiles.score": ("Punkte", "Score"),
        "profiles.change": ("Veränderung", "Change"),
        "profiles.after_rank": ("Rang nachher", "Rank after"),
        "profiles.up": ("{n} Plätze hinauf", "up {n} places"),
        "profiles.down": ("{n} Plätze hinab", "down {n} places"),
        "profiles.same": ("unverändert", "unchanged"),
        "profiles.new": ("neu", "new"),
        "profiles.out": ("nicht mehr gerankt", "no longer ranked"),
        "profiles.computed": (
            "Berechnet in {seconds} s{cached}.",
            "Computed in {seconds} s{cached}.",
        ),
        "profiles.cached": (" aus den zwischengespeicherten Werten", " from the kept values"),
        "profiles.approximate": (
            "Näherung: Die Indikatoren von {n} Flächen sind älter als die Kontextebenen; die Vorschau nutzt "
            "ihre gespeicherten Werte. Nach „landreg score“ ist sie exakt.",
            "Approximation: the indicators of {n} parcels are older than the context layers; the preview uses "
            "their stored values. After “landreg score” it is exact.",
        ),
        "profiles.nothing_ranked": ("Keine Fläche in der Rangfolge.", "No parcel in the ranking."),
        "profiles.sensitivity": ("Sensitivität der Rangfolge", "Sensitivity of the ranking"),
        "profiles.sensitivity_hint": (
            "Jedes Gewicht wird um ± die Änderung verändert (danach normiert): Wie viele der ersten N bleiben "
            "unter den ersten N, und wie ähnlich bleibt ihre Reihenfolge (Kendalls τ)?",
            "Each weight is changed by ± the change (then normalised): how many of the top N stay in the "
            "top N, and how similar does their order stay (Kendall's τ)?",
        ),
        "profiles.sensitivity_change": ("Änderung je Gewicht (%)", "Change of each weight (%)"),
        "profiles.sensitivity_top": ("Erste N", "Top N"),
        "profiles.sensitivity_button": ("Sensitivität berechnen", "Compute sensitivity"),
        "profiles.sensitivity_draft": (
            "Sensitivität der eingestellten Gewichte",
            "Sensitivity of the weights as set",
        ),
        "profiles.sensitivity_loading": ("Die Sensitivität wird berechnet …", "Computing the sensitivity …"),
        "profiles.sensitivity_load": ("Sensitivität anzeigen", "Show the sensitivity"),
        "profiles.sensitivity_of": (
            "{parcels} Flächen, erste {top}; im ungünstigsten Fall bleiben {kept} % der ersten {top}, "
            "kleinstes τ {tau}.",
            "{parcels} parcels, top {top}; at worst {kept} % of the top {top} stay, smallest τ {tau}.",
        ),
        "profiles.chart_label": (
            "Balkendiagramm: Anteil der ersten {top}, der bei +{change} % und −{change} % je Kriterium bleibt",
            "Bar chart: share of the top {top} that stays at +{change} % and −{change} % per criterion",
        ),
        "profiles.criterion": ("Kriterium", "Criterion"),
        "profiles.variation": ("Änderung", "Change"),
        "profiles.kept": ("Erste N bleiben (%)", "Top N kept (%)"),
        "profiles.tau": ("Kendalls τ (erste N)", "Kendall's τ (top N)"),
        "profiles.plus": ("+{change} %", "+{change} %"),
        "profiles.minus": ("−{change} %", "−{change} %"),
    }
)


#: What each criterion measures, in German (the catalogue says it in English).
register(
    {
        f"profiles.about.{key}": (de, CATALOGUE[key].description)
        for key, de in {
            "restriction_class": "Ordinale Klasse des Gewerbeflächenmanagements Ruhr: keine, leichte, schwere Restriktionen",
            "availability": "Wie bald die Fläche genutzt werden kann",
            "contamination": "Kenntnisstand zu Altlasten (Stufen des FIS AlBo)",
            "ownership": "Öffentlich, ein privater Eigentümer oder zersplittertes Eigentum",
            "owner_willing": "Ob der Eigentümer verkaufen oder entwickeln will",
            "planning_status": "Wie gesichert die geplante Nutzung planungsrechtlich ist",
            "servicing": "Straßen und Leitungen vorhanden",
            "size": "Flächengröße; ab 5 ha regional bedeutsam für Industrie (angenommene Schwellen)",
            "rail_station": "Entfernung der Fläche zum nächsten Bahnhof",
            "transit": "Beste Haltestelle im Umkreis von 1 km: Bedienungsqualität (Bahn 1, Stadt-/U-Bahn 0,8, Bus 0,5, "
            "Rufbus 0,2) mal Nähe (1 an der Haltestelle, 0 bei 1 km)",
            "motorway": "Entfernung zur nächsten Autobahnanschlussstelle; bis 1 km am besten, über 5 km schlecht",
            "port": "Entfernung zum nächsten Hafen",
            "abstand": "Abstand zum nächsten Wohngebiet abzüglich des Abstands der angestrebten Abstandsklasse",
        }.items()
    }
)


def _status_of(exc: Exception) -> int:
    return next(code for cls, code in STATUS_CODES.items() if isinstance(exc, cls))


def _texts(lang: str):
    return lambda key, **values: text_of(key, lang, **values)


def _url(name: str, tail: str = "") -> str:
    return f"{PATH}/{quote(name, safe='')}{tail}"


def _profile(conn, name: str) -> Profile:
    found = current_profile(conn, name, missing_ok=True)
    if found is None:
        raise NotFound(f"no scoring profile {name[:100]!r}")
    return found


def _form(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _is_fragment(request: Request) -> bool:
    """Asked for by the page's script (fetch), which shows the answer in the page."""
    return request.headers.get("x-requested-with") == "fetch"


def _categories(profile: Profile, lang: str, t) -> str:
    if not profile.categories:
        return t("profiles.all_categories")
    return ", ".join(CATEGORY.label(c, lang) for c in profile.categories)


def _code_label(key: str, code: str, lang: str) -> str:
    source = CATALOGUE[key].source_field
    codes = fields.field(source).codes if source else None
    if codes is not None and code in codes.labels:
        return codes.label(code, lang)
    return code


def _field_label(key: str, f: previews.NumberField, lang: str, t) -> str:
    if f.part in ("worst", "best"):
        return t(f"profiles.{f.part}")
    if f.part == "value":
        return t("profiles.value_of", code=_code_label(key, f.code, lang))
    if f.part in ("bound", "step"):
        return t(f"profiles.{f.part}", n=int(f.code) + 1)
    return t("profiles.above")


def _criteria(profile: Profile, values: dict[str, str], lang: str, t, layers: set[str]) -> list[dict]:
    """The editor's fields with their labels, the values to show (as sent back, after a refusal)."""
    out = []
    for c in previews.editor_fields(profile):
        criterion = CATALOGUE[c.key]
        label = criterion.label(lang)
        shown = {f.name: values.get(f.name, f.value) for f in [c.weight, *c.function]}
        direction = None
        if c.function_type == "linear":
            worst, best = (next(f for f in c.function if f.part == p) for p in ("worst", "best"))
            direction = t(
                "profiles.smaller_better" if float(worst.value) > float(best.value) else "profiles.larger_better"
            )
        out.append(
            {
                "key": c.key,
                "label": label,
                "description": t(f"profiles.about.{c.key}"),
                "unit": criterion.unit,
                "in_profile": c.in_profile,
                "no_layer": bool(criterion.layer) and criterion.layer not in layers,
                "direction": direction,
                "weight": c.weight,
                "weight_value": shown[c.weight.name],
                "function": [
                    {"field": f, "label": _field_label(c.key, f, lang, t), "value": shown[f.name]} for f in c.function
                ],
            }
        )
    return out


def _id(name: str) -> str:
    """An element id for a field name (dots read as class selectors in CSS)."""
    return name.replace(".", "-")


def _editor(
    request: Request,
    current,
    profile: Profile,
    *,
    values: dict[str, str] | None = None,
    error: Exception | None = None,
    status: int = 200,
    shown: previews.Preview | None = None,
    notice: str | None = None,
):
    lang = lang_of(request)
    t = _texts(lang)
    values = values or {}
    editable = current.user.role in EDITORS
    with request.app.state.engine.connect() as conn:
        layers = loaded_layers(conn)
    criteria = _criteria(profile, values, lang, t, layers)
    return page(
        request,
        "profiles/editor.html",
        {
            "profile": profile,
            "editable": editable,
            "criteria": criteria,
            "method": t(f"profiles.method.{profile.method}"),
            "categories": _categories(profile, lang, t),
            "exclusions": ", ".join(
                EXCLUSIONS[e].name_en if lang == "en" else EXCLUSIONS[e].name_de for e in profile.exclusions
            )
            or t("profiles.none_short"),
            "title_value": values.get("title", profile.title),
            "purpose_value": values.get("purpose", profile.purpose),
            "top_value": values.get("top", str(previews.TOP_DEFAULT)),
            "top_max": previews.TOP_MAX,
            "title_max": previews.TITLE_MAX,
            "purpose_max": previews.PURPOSE_MAX,
            "error": error,
            "error_field": getattr(error, "field", None),
            "more_open": any(
                not c["in_profile"] and (getattr(error, "field", None) or "").split(".")[1:2] == [c["key"]]
                for c in criteria
            ),
            "id_of": _id,
            "shown": shown,
            "notice": notice,
            "moved_places": previews.MOVED_PLACES,
            "url": _url(profile.name),
            "change_value": str(CHANGE_DEFAULT),
            "change_min": CHANGE_MIN,
            "change_max": CHANGE_MAX,
            "sensitivity_top_value": str(SENSITIVITY_TOP_DEFAULT),
            "sensitivity_top_max": SENSITIVITY_TOP_MAX,
        },
        status_code=status,
    )


# -- the list ---------------------------------------------------------------------------------------
@router.get(PATH)
def profile_list(request: Request, current: Reader):
    lang = lang_of(request)
    t = _texts(lang)
    with request.app.state.engine.connect() as conn:
        profiles = current_profiles(conn)
    rows = [
        {
            "name": p.name,
            "title": p.title,
            "purpose": p.purpose,
            "version": p.version,
            "method": t(f"profiles.method.{p.method}"),
            "categories": _categories(p, lang, t),
            "url": _url(p.name),
        }
        for p in profiles
    ]
    return page(request, "profiles/list.html", {"rows": rows, "editable": current.user.role in EDITORS})


# -- the editor ------------------------------------------------------------------------------------
@router.get(PATH + "/{name}")
def editor(
    request: Request,
    name: str,
    current: Reader,
    saved: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    unchanged: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
):
    lang = lang_of(request)
    t = _texts(lang)
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
    notice = None
    if saved:
        notice = t("profiles.saved", version=saved)
    elif unchanged:
        notice = t("profiles.unchanged", version=unchanged)
    return _editor(request, current, profile, notice=notice)


def _top(values: dict[str, str]) -> int:
    return previews.whole_number(values.get("top"), "top", 1, previews.TOP_MAX, previews.TOP_DEFAULT)


@router.post(PATH + "/{name}/preview")
def preview(request: Request, name: str, current: Editor, form: CheckedForm):
    """The ranking of the edited profile beside the current one: reads only."""
    values = _form(form)
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
        try:
            top = _top(values)
            draft = previews.definition_from_form(profile, values)
            shown = previews.preview(
                conn, profile, draft.profile, top=top, view=view_of(current.user.principal), notes=draft.notes
            )
        except InvalidParameter as exc:
            if _is_fragment(request):
                return page(request, "profiles/_invalid.html", {"error": exc, "id_of": _id}, _status_of(exc))
            return _editor(request, current, profile, values=values, error=exc, status=_status_of(exc))
    if _is_fragment(request):
        return page(
            request,
            "profiles/_preview.html",
            {"shown": shown, "profile": profile, "moved_places": previews.MOVED_PLACES},
        )
    return _editor(request, current, profile, values=values, shown=shown)


@router.post(PATH + "/{name}")
def save(request: Request, name: str, current: Editor, form: CheckedForm):
    """Save the edited profile as a new version and rescore, as ``PUT /profiles/{name}`` does."""
    values = _form(form)
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
    try:
        draft = previews.definition_from_form(profile, values)
    except InvalidParameter as exc:
        return _editor(request, current, profile, values=values, error=exc, status=_status_of(exc))
    based_on = form.get("based_on")
    try:
        with unbounded_statements(), request.app.state.engine.begin() as conn:  # rescoring takes long by design
            saved, notes = save_scored_profile(
                conn,
                profile.name,
                draft.title,
                draft.purpose,
                draft.definition,
                current.user.principal,
                int(based_on) if isinstance(based_on, str) and based_on.isdigit() else None,
            )
    except VersionConflict:  # saved by someone else since the form was opened: their version, not this one
        with request.app.state.engine.connect() as conn:
            profile = _profile(conn, name)
        error = Conflict(_texts(lang_of(request))("profiles.conflict", version=profile.version))
        return _editor(request, current, profile, values=values, error=error, status=409)
    unchanged = any(n.startswith("unchanged") for n in notes)
    query = f"?unchanged={saved.version}" if unchanged else f"?saved={saved.version}"
    return RedirectResponse(_url(profile.name, query), status_code=303)


# -- the sensitivity --------------------------------------------------------------------------------
def _sensitivity_params(change: str | None, top: str | None) -> tuple[float, int]:
    """The change of each weight (whole percent) and the N of the top N."""
    percent = previews.whole_number(change, "change", CHANGE_MIN, CHANGE_MAX, CHANGE_DEFAULT)
    n = previews.whole_number(top, "sensitivity_top", 1, SENSITIVITY_TOP_MAX, SENSITIVITY_TOP_DEFAULT)
    return percent / 100, n


def _sensitivity_page(request: Request, profile: Profile, change: float, top: int, draft: bool):
    lang = lang_of(request)
    with request.app.state.engine.connect() as conn:
        report = sensitivity(conn, profile, change, top)
    percent = round(change * 100)
    labels = {k: CATALOGUE[k].label(lang) for k in profile.weights}
    rows = [
        {
            "label": labels[v["criterion"]],
            "sign": "+" if v["change"] > 0 else "−",
            "kept": round(100 * v["top_n_kept"], 1),
            "tau": v["kendall_tau_top_n"],
        }
        for v in report["variations"]
    ]
    criteria = list(dict.fromkeys(v["criterion"] for v in report["variations"]))
    kept = {(v["criterion"], v["change"] > 0): round(100 * v["top_n_kept"], 1) for v in report["variations"]}
    chart = {
        "labels": [labels[k] for k in criteria],
        "plus": [kept[(k, True)] for k in criteria],
        "minus": [kept[(k, False)] for k in criteria],
    }
    context = {"report": report, "rows": rows, "chart": chart, "percent": percent, "draft": draft}
    if _is_fragment(request):
        return page(request, "profiles/_sensitivity.html", context)
    return page(request, "profiles/sensitivity.html", context | {"profile": profile, "url": _url(profile.name)})


@router.get(PATH + "/{name}/sensitivity")
def sensitivity_of_current(
    request: Request,
    name: str,
    current: Reader,
    change: Annotated[str, Query(max_length=20)] = str(CHANGE_DEFAULT),
    sensitivity_top: Annotated[str, Query(max_length=20)] = str(SENSITIVITY_TOP_DEFAULT),
):
    """The sensitivity of the profile as saved (reads only)."""
    change_, top = _sensitivity_params(change, sensitivity_top)
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
    return _sensitivity_page(request, profile, change_, top, draft=False)


@router.post(PATH + "/{name}/sensitivity")
def sensitivity_of_draft(request: Request, name: str, current: Editor, form: CheckedForm):
    """The sensitivity of the profile as the form sets it (reads only)."""
    values = _form(form)
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
    try:
        change, top = _sensitivity_params(values.get("change"), values.get("sensitivity_top"))
        draft = previews.definition_from_form(profile, values)
    except InvalidParameter as exc:
        if _is_fragment(request):
            return page(request, "profiles/_invalid.html", {"error": exc, "id_of": _id}, _status_of(exc))
        return _editor(request, current, profile, values=values, error=exc, status=_status_of(exc))
    return _sensitivity_page(request, draft.profile, change, top, draft=True)
