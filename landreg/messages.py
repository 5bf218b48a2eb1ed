"""The core's messages to people, German first with English: one catalogue, each text once.

A refusal carries a :class:`Message`, a stable code with named values, instead of a finished
sentence; whoever shows it picks the language: the workspace the person's, the API and the command
line English (their messages stay as they were). Values are written as each language writes them
(``5.000`` and ``31.12.2025`` in German, ``5,000`` and ``2025-12-31`` in English); a value that is
itself a message (a kind of value, a code's label) is rendered in the same language.

Covered so far: the parcel's field checks (:mod:`landreg.parcels`) and retirement, the plan check,
and the importer's refusals, rows' reasons and notes with its CRS checks (:mod:`landreg.importer`).
Refusals of other areas still carry English text (see :class:`landreg.errors.DomainError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGS = ("de", "en")

#: code -> (German, English). Placeholders name the values (a language may leave one out: German
#: names a code by its label); English may use format specs (``:,``, ``!r``) because its values
#: arrive as they are, German gets them already written (see _german).
CATALOGUE: dict[str, tuple[str, str]] = {
    # kinds of value (used inside other messages)
    "kind.bool": ("ja oder nein", "true or false"),
    "kind.int": ("eine ganze Zahl", "a whole number"),
    "kind.float": ("eine Zahl", "a number"),
    "kind.str": ("Text", "text"),
    "kind.date": ("ein Datum (JJJJ-MM-TT, z. B. 2025-12-31)", "a date (YYYY-MM-DD)"),
    # a parcel's fields
    "field.required": ("ist ein Pflichtfeld", "is required"),
    "field.not_settable": ("ist kein Feld, das man setzen kann", "is not a field a user can set"),
    "field.wrong_kind": ("muss {kind} sein, nicht „{value}“", "must be {kind}, not {value!r}"),
    "field.too_long": (
        "ist {length} Zeichen lang; erlaubt sind höchstens {limit}",
        "is {length:,} characters long; at most {limit:,}",
    ),
    "field.nul": (
        "enthält ein NUL-Zeichen, das nicht gespeichert werden kann; bitte entfernen",
        "contains a NUL character, which cannot be stored; remove it",
    ),
    "field.unknown_code": (
        "unbekannter Wert „{value}“; erlaubt: {allowed}",
        "unknown value {value!r}; allowed: {allowed}",
    ),
    "field.out_of_range": ("{value} liegt außerhalb des Zahlenbereichs", "{value} is out of range"),
    "parcel.local_ref_taken": (
        "diese Kennung trägt schon eine andere Fläche der Gemeinde",
        "this reference is already used by another parcel of the municipality",
    ),
    "parcel.unknown_ags": (
        "keine Gemeinde mit diesem Gemeindeschlüssel (AGS) im Register",
        "no municipality with this AGS is in the registry",
    ),
    "parcel.retired_read_only": (
        "die Fläche ist stillgelegt und kann nicht mehr geändert werden",
        "the parcel is retired and cannot be changed",
    ),
    "geom.empty": ("der Umriss ist leer", "geometry is empty"),
    "geom.has_z": (
        "der Umriss hat Z-Koordinaten; Flächen sind 2D: bitte die Z-Werte weglassen",
        "geometry has Z coordinates; parcels are 2D: drop the Z values",
    ),
    "geom.kind": (
        "der Umriss muss ein Polygon oder MultiPolygon sein, kein {kind}",
        "geometry must be a Polygon or MultiPolygon, not a {kind}",
    ),
    # parameters of lists and pages (the API says them in English, the workspace in the person's language)
    "param.whole_number": (
        "{name}: muss eine ganze Zahl sein, nicht „{value}“",
        "{name} must be a whole number, not {value!r}",
    ),
    "param.range": ("{name}: muss zwischen {low} und {high} liegen", "{name} must lie between {low} and {high}"),
    "param.unknown_code": (
        "{field}: unbekannter Wert „{value}“; erlaubt: {allowed}",
        "{field}: unknown value {value!r}; allowed: {allowed}",
    ),
    "param.ags_form": (
        "ags: eine Gemeinde ist ein 8-stelliger Gemeindeschlüssel (AGS), nicht „{value}“",
        "ags: a municipality is an 8-digit AGS (Gemeindeschlüssel), not {value!r}",
    ),
    "param.not_own_ags": (
        "ags: Sie pflegen die Flächen von {own}, nicht von {ags}",
        "ags: you keep the parcels of {own}, not of {ags}",
    ),
    "param.search_too_long": (
        "q: der Suchtext hat {length} Zeichen; höchstens {limit}",
        "q: the search text has {length} characters; at most {limit}",
    ),
    "param.search_control": (
        "q: der Suchtext darf keine Steuerzeichen enthalten",
        "q: the search text may not contain control characters",
    ),
    "param.repeated": (
        "{name}: {count}-mal angegeben; nur einmal angeben",
        "{name}: given {count} times; give it once",
    ),
    "param.flag": ("{name}: 1 oder nichts, nicht „{value}“", "{name}: 1 or nothing, not {value!r}"),
    "param.direction": ("dir: asc oder desc, nicht „{value}“", "dir: asc or desc, not {value!r}"),
    "param.page_size": ("limit: Flächen je Seite sind eine von {sizes}", "limit: parcels per page are one of {sizes}"),
    "param.offset": ("offset: von 0 bis {high}", "offset: from 0 to {high:,}"),
    # an outline sent as GeoJSON (the API's bodies, the workspace's drawing)
    "geojson.invalid": ("keine GeoJSON-Geometrie ({error})", "geometry: not a GeoJSON geometry ({error})"),
    "geojson.has_z": (
        "Flächen sind 2D; bitte die Z-Werte (die dritte Zahl jeder Position) weglassen",
        "geometry: parcels are 2D; drop the Z values (the third number of each position)",
    ),
    "geojson.metres": (
        "die Koordinaten sehen nach Metern aus (etwa UTM, EPSG:25832), nicht nach Längen- und "
        "Breitengraden; geben Sie den Umriss in Grad an (EPSG:{srid}, z. B. [7.466, 51.514])",
        "geometry: the coordinates look like metres (e.g. UTM, EPSG:25832), not longitude and latitude; give "
        "the outline in degrees (EPSG:{srid}, e.g. [7.466, 51.514]) or name its CRS",
    ),
    "geojson.unplaceable": (
        "Koordinaten, die EPSG:{srid} nicht verorten kann",
        "geometry: coordinates outside what EPSG:{srid} can place",
    ),
    # retiring a parcel
    "retire.already": ("wurde bereits am {date} stillgelegt", "was already retired on {date}"),
    "retire.reason_missing": (
        "eine Stilllegung braucht einen Grund; erlaubt: {allowed}",
        "a retirement needs a reason; allowed: {allowed}",
    ),
    "retire.reason_unknown": (
        "unbekannter Grund „{value}“; erlaubt: {allowed}",
        "unknown reason {value!r}; allowed: {allowed}",
    ),
    "retire.comment_needed": (
        "der Grund „{label}“ braucht einen Kommentar, der sagt, warum die Fläche stillgelegt wird",
        "the reason {code} needs a comment that says why the parcel is retired",
    ),
    # a NUL character, which PostgreSQL's text cannot hold, in a request's address or in a value
    "request.nul_parameter": (
        "{name} enthält ein NUL-Zeichen (%00), das nicht gelesen werden kann; bitte entfernen",
        "{name} contains a NUL character (%00), which cannot be read; remove it",
    ),
    "request.nul": (
        "eine Eingabe enthält ein NUL-Zeichen (0x00), das nicht gespeichert werden kann; bitte entfernen",
        "a value contains a NUL character (0x00), which cannot be stored; remove it",
    ),
    # the database went away (down, restarting, unreachable): try again
    "database.unavailable": (
        "Datenbank vorübergehend nicht erreichbar; bitte in einigen Sekunden erneut versuchen",
        "database temporarily unavailable; try again in a few seconds",
    ),
    # the plan check (landreg.safeguarding): ⟦name⟧ is an option, spelled by the adapter (CLI, API, form)
    "plan.subject.plan": ("der Geltungsbereich", "the plan area"),
    "plan.subject.designation": ("Festsetzung {value}: ihre Fläche", "designation {value}: its area"),
    "plan.area.kind": ("{subject} muss ein Polygon oder Multipolygon sein", "{subject} must be a (multi)polygon"),
    "plan.area.not_finite": (
        "{subject} hat Koordinaten, die keine endlichen Zahlen sind",
        "{subject} has coordinates that are not finite numbers",
    ),
    "plan.area.too_large": ("{subject} ist zu groß: {reason}", "{subject} {reason}"),
    "plan.area.invalid": (
        "{subject} ist kein gültiges Polygon: {reason}",
        "{subject} is not a valid polygon: {reason}",
    ),
    "plan.no_use": (
        "der Plan hat keine Festsetzungen: geben Sie seine geplante Nutzung mit ⟦intended_use⟧ an "
        "(z. B. ⟦intended_use=WA⟧)",
        "the plan has no designations: give its intended use with ⟦intended_use⟧ (e.g. ⟦intended_use=WA⟧)",
    ),
    "plan.unknown_use": (
        "⟦intended_use={value}⟧ ist keine Nutzung, die die Planprüfung kennt; erlaubt: {allowed}",
        "⟦intended_use={value}⟧ is not a use the plan check knows; give one of {allowed}",
    ),
    "plan.unknown_class_category": (
        "{value} ist keine Kategorie; Abstandsklassen gibt es für: {allowed}",
        "{value} is not a category; classes are given for: {allowed}",
    ),
    "plan.name_missing": ("die Prüfung braucht einen Namen", "the check needs a name"),
    "plan.name_invalid": (
        "der Name ist {length} Zeichen lang (höchstens {limit}) oder enthält ein NUL-Zeichen",
        "the name is {length:,} characters long (at most {limit:,}) or contains a NUL character",
    ),
    "plan.unknown_class": (
        "unbekannte Abstandsklasse {value}; Klassen: {allowed}",
        "unknown Abstandserlass class {value}; classes: {allowed}",
    ),
    "plan.too_many_designations": (
        "der Plan hat {count} Festsetzungen, mehr als die {limit}, die eine Planprüfung annimmt; prüfen Sie einen "
        "Teil davon (einen Bereich je Datei) oder laden Sie ihn als Kontextebene",
        "the plan has {count:,} designations, more than the {limit} a plan check takes; check a part of it "
        "(one Bereich per file), or load it as a context layer",
    ),
    "plan.designation_use": (
        "die Festsetzung „{value}“ hat keine Nutzung, die die Planprüfung kennt; bekannt: {allowed}",
        "designation {value!r} has no plan-check use; known: {allowed}",
    ),
    "plan.outside_nrw": (
        "der Plan liegt nicht in Nordrhein-Westfalen: {percent} % seiner Fläche liegen in Gemeinden NRWs "
        "(ein Punkt davon: {x}, {y} in EPSG:25832); {hint}",
        "the plan does not lie in North Rhine-Westphalia: {percent}% of its area lies in NRW's municipalities "
        "(a point of it: {x:.1f}, {y:.1f} in EPSG:25832); {hint}",
    ),
    "plan.check_crs": (
        "prüfen Sie die Koordinaten und das Koordinatensystem (⟦crs⟧)",
        "check the coordinates and the CRS (⟦crs⟧)",
    ),
    "plan.elsewhere": (
        "der Plan nennt die Gemeinde {claimed} (XP_Gemeinde ags/rs), aber sein Geltungsbereich liegt in {found}; "
        "berichtigen Sie die Gemeinde in der Plandatei oder prüfen Sie seine Koordinaten und das Koordinatensystem",
        "the plan names the municipality {claimed} (XP_Gemeinde ags/rs), but its area lies in {found}; correct "
        "the Gemeinde in the plan file, or check its coordinates and CRS",
    ),
    "plan.local_coordinates": (
        "die Koordinaten sehen lokal aus (z. B. {x}, {y}: Meter vom Ursprung einer Zeichnung, keine Lage auf der "
        "Erde); exportieren Sie den Plan georeferenziert, z. B. in ETRS89/UTM 32N (EPSG:25832): ein mit ⟦crs⟧ "
        "angegebenes Koordinatensystem kann lokale Koordinaten nicht verorten",
        "the coordinates look local (e.g. {x:.1f}, {y:.1f}: metres from a drawing's origin, not a position on "
        "the earth); export the plan georeferenced, e.g. in ETRS89/UTM 32N (EPSG:25832): a CRS given with "
        "⟦crs⟧ cannot place local coordinates",
    ),
    "plan.unknown_crs": (
        "EPSG:{code} ist kein bekanntes Koordinatensystem; geben Sie den EPSG-Code der Koordinaten an, "
        "z. B. ⟦crs=25832⟧ für ETRS89/UTM 32N",
        "EPSG:{code} is not a known coordinate reference system; give the EPSG code of the coordinates, "
        "e.g. ⟦crs=25832⟧ for ETRS89/UTM 32N",
    ),
    "plan.not_transformable": (
        "die Koordinaten lassen sich nicht von {value} nach EPSG:25832 umrechnen; prüfen Sie sie und das "
        "Koordinatensystem (⟦crs⟧)",
        "the coordinates cannot be transformed from {value} to EPSG:25832; check them and the CRS (⟦crs⟧)",
    ),
    "plan.not_geojson": ("kein GeoJSON ({reason})", "not GeoJSON ({reason})"),
    "plan.unreadable": (
        "lässt sich nicht als Geodatendatei lesen ({reason})",
        "cannot be read as a geodata file ({reason})",
    ),
    "plan.no_layers": (
        "die Datei enthält keine Ebene mit Geodaten; laden Sie die Planfläche als GeoJSON, GeoPackage, "
        "Shapefile (als ZIP) oder XPlanGML hoch",
        "the file holds no layer of geodata; upload the plan area as GeoJSON, GeoPackage, Shapefile (as a ZIP) "
        "or XPlanGML",
    ),
    "plan.several_layers": (
        "{file} hat mehrere Ebenen ({layers}); wählen Sie eine mit ⟦layer⟧",
        "{file} has several layers ({layers}); choose one with ⟦layer⟧",
    ),
    "plan.no_such_layer": (
        "{file} hat keine Ebene „{layer}“; Ebenen: {layers}",
        "{file} has no layer {layer!r}; layers: {layers}",
    ),
    "plan.layer_unreadable": (
        "die Ebene „{layer}“ lässt sich nicht lesen ({reason})",
        "layer {layer!r} cannot be read ({reason})",
    ),
    "plan.layer_without_geometry": (
        "die Ebene „{layer}“ hat keine Geometrie; wählen Sie eine andere mit ⟦layer⟧",
        "layer {layer!r} has no geometry; choose another with ⟦layer⟧",
    ),
    "plan.layer_empty": (
        "die Ebene „{layer}“ hat keine Objekte mit Geometrie",
        "layer {layer!r} has no features with a geometry",
    ),
    "plan.cannot_unite": (
        "die Flächen der Datei lassen sich nicht zu einem Geltungsbereich vereinen, weil eine von ihnen ungültig ist "
        "({reason}); reparieren Sie die Geometrien (z. B. in QGIS mit „Geometrien reparieren“)",
        "its areas cannot be united into one plan area because one of them is invalid ({reason}); repair the "
        "geometries (e.g. in QGIS with 'Fix geometries')",
    ),
    "plan.xml_malformed": (
        "{file} ist kein wohlgeformtes XML ({reason}); exportieren Sie den Plan erneut",
        "{file} is not well-formed XML ({reason}); export the plan again",
    ),
    "plan.file_unreadable": ("{file} lässt sich nicht lesen ({reason})", "{file} cannot be read ({reason})"),
    "plan.xplan_none": (
        "{file} enthält keine XPlanGML-Objekte (keinen XPlanung-Namensraum)",
        "{file} holds no XPlanGML features (no XPlanung namespace)",
    ),
    "plan.xplan_mixed": ("{file} mischt die XPlanGML-Versionen {value}", "{file} mixes XPlanGML versions {value}"),
    "plan.xplan_version": (
        "{file} ist XPlanGML {value}; unterstützt werden 5.x und 6.x: konvertieren Sie den Plan (z. B. mit den "
        "XPlanung-Konvertern der Leitstelle XPlanung)",
        "{file} is XPlanGML {value}; supported are 5.x and 6.x: convert it (e.g. with the XPlanung converters "
        "of the Leitstelle XPlanung)",
    ),
    "plan.xplan_no_plan": (
        "{file} enthält keinen Plan (kein BP_Plan-, FP_Plan- … Objekt)",
        "{file} holds no plan (no BP_Plan, FP_Plan … feature)",
    ),
    "plan.xplan_several": (
        "{file} enthält {count} Pläne ({value}); prüfen Sie einen Plan je Datei",
        "{file} holds {count} plans ({value}); check one plan per file",
    ),
    "plan.xplan_no_area": (
        "der Plan hat keinen Geltungsbereich: weder sein {value}.raeumlicherGeltungsbereich noch der "
        "geltungsbereich eines Bereichs hat eine Geometrie; exportieren Sie den Plan mit seinem Geltungsbereich",
        "the plan has no area: neither its {value}.raeumlicherGeltungsbereich nor a Bereich's geltungsbereich "
        "has a geometry; export the plan with its Geltungsbereich",
    ),
    "plan.gdal_layer": ("GDAL kann {layer} nicht lesen ({reason})", "GDAL cannot read {layer} ({reason})"),
    # -- the importer (landreg.importer) and its CRS checks: file refusals, rows' reasons, notes ----------
    # ⟦name⟧ is an option, spelled by the adapter (--crs, crs=…, the form's label); EPSG codes and SRIDs
    # arrive as text (no thousands separator), numbers as numbers. Kept in the database as code and
    # values (landreg.importer.refusals.kept), said in a language when shown.
    "import.and_more": ("{items} … und {count} weitere", "{items} … and {count} more"),
    "import.nothing": ("nichts", "nothing"),
    "import.of_file": ("Datei {file}: {said}", "{file}: {said}"),
    # coordinate reference systems (landreg.importer.crs)
    "crs.usual.25832": ("ETRS89 / UTM Zone 32N", "ETRS89 / UTM 32N"),
    "crs.usual.4326": ("geographische Länge/Breite (WGS 84)", "longitude/latitude (WGS 84)"),
    "crs.usual.31466": ("Gauß-Krüger, 2. Streifen", "Gauß-Krüger zone 2"),
    "crs.usual.31467": ("Gauß-Krüger, 3. Streifen", "Gauß-Krüger zone 3"),
    "crs.usual.4647": ("ETRS89 / UTM 32N mit der Zonenkennung 32", "ETRS89 / UTM 32N with the zone prefix 32"),
    "crs.usual.3857": ("Web-Mercator", "Web Mercator"),
    "crs.unknown": (
        "unbekanntes Koordinatensystem „{value}“; geben Sie einen EPSG-Code an, z. B. 25832 oder 4326",
        "unknown CRS {value!r}; give an EPSG code such as 25832 or 4326",
    ),
    "crs.missing": (
        "{file} nennt kein Koordinatensystem; geben Sie es unter ⟦crs⟧ an (z. B. ⟦crs=25832⟧ für ETRS89/UTM 32N, "
        "⟦crs=4326⟧ für geographische Länge/Breite)",
        "{file} does not say which coordinate reference system it uses; give it with ⟦crs⟧ (e.g. ⟦crs=25832⟧ for "
        "ETRS89/UTM 32N, ⟦crs=4326⟧ for longitude/latitude)",
    ),
    "crs.missing_guess": (
        "{file} nennt kein Koordinatensystem; geben Sie es unter ⟦crs⟧ an: nach ihren Werten sind die Koordinaten "
        "{usual} (⟦crs={code}⟧)",
        "{file} does not say which coordinate reference system it uses; give it with ⟦crs⟧: by their values the "
        "coordinates are {usual} (⟦crs={code}⟧)",
    ),
    "crs.conflict": (
        "{file} gibt {declared} an, ⟦crs⟧ aber {given}; lassen Sie ⟦crs⟧ leer, um das Koordinatensystem der Datei "
        "zu verwenden, oder berichtigen Sie die Datei",
        "{file} declares {declared} but ⟦crs⟧ says {given}; drop ⟦crs⟧ to use the file's CRS, or fix the file",
    ),
    "crs.not_transformable": (
        "Koordinaten in {crs} lassen sich nicht nach EPSG:{target} umrechnen",
        "coordinates in {crs} cannot be transformed to EPSG:{target}",
    ),
    "crs.geojson_default": (
        "GeoJSON ohne „crs“-Angabe, also geographische Länge/Breite in Grad (RFC 7946)",
        'GeoJSON without a "crs" member, which means longitude/latitude in degrees (RFC 7946)',
    ),
    "crs.said.option": ("⟦crs⟧ nennt {name}", "⟦crs⟧ says {name}"),
    "crs.said.geojson": ("die Datei ist {default}", "the file is {default}"),
    "crs.said.file": ("die Datei gibt {name} an", "the file declares {name}"),
    "crs.looks_degrees": (
        "die Koordinaten sehen nach geographischer Länge/Breite in Grad aus (z. B. {x} / {y}), aber {said}; "
        "geben Sie sie als solche an: ⟦crs=4326⟧{swap}",
        "the coordinates look like longitude/latitude in degrees (e.g. {x:.5f}, {y:.5f}), but {said}; declare "
        "them as such with ⟦crs=4326⟧{swap}",
    ),
    "crs.swap_columns": (
        ", nachdem Sie die Spalten vertauscht haben (die Breite stand zuerst)",
        " after swapping the columns (latitude was given first)",
    ),
    "crs.looks_metres": (
        "die Koordinaten sehen nach projizierten Metern aus (z. B. {x} / {y}), aber {said}{degrees}; {fix}{replaces}",
        "the coordinates look like projected metres (e.g. {x:.1f}, {y:.1f}), but {said}{degrees}; {fix}{replaces}",
    ),
    "crs.in_degrees": (" (in Grad)", " (degrees)"),
    "crs.replaces_default": ("; das ersetzt die Vorgabe von GeoJSON", ", which replaces that default"),
    "crs.fix.guess": (
        "nach ihren Werten sind sie {usual}: geben Sie ⟦crs={code}⟧ an",
        "by their values they are {usual}: give ⟦crs={code}⟧",
    ),
    "crs.fix.projected": (
        "geben Sie das projizierte Koordinatensystem an, z. B. ⟦crs=25832⟧",
        "give the projected CRS, e.g. ⟦crs=25832⟧",
    ),
    "crs.fix.check": ("prüfen Sie die Koordinaten und das Koordinatensystem", "check the coordinates and the CRS"),
    "crs.swapped": (
        "die Achsen scheinen vertauscht: mit getauschtem x und y {they} in NRW (erster Punkt {x} / {y}); "
        "vertauschen Sie die x- und die y-Spalte",
        "the axes appear to be swapped: with x and y exchanged {they} in NRW (first point {x:.5f}, {y:.5f}); "
        "exchange the x and y columns",
    ),
    # what lies (or not) in NRW: the parcels of an import, a plan, a context layer's features (crs.about)
    "crs.they_lie.parcels": ("liegen die Flächen", "the parcels lie"),
    "crs.they_lie.plan": ("liegt der Plan", "the plan lies"),
    "crs.they_lie.features": ("liegen die Objekte", "the features lie"),
    "crs.they_do_not_lie.parcels": ("die Flächen liegen", "the parcels do not lie"),
    "crs.they_do_not_lie.plan": ("der Plan liegt", "the plan does not lie"),
    "crs.they_do_not_lie.features": ("die Objekte liegen", "the features do not lie"),
    "crs.gauss_krueger": (
        "die Koordinaten sehen nach Gauß-Krüger, {zone}. Streifen aus (x ≈ {x}), nicht nach {name}; geben Sie "
        "⟦crs={code}⟧ an",
        "the coordinates look like Gauß-Krüger zone {zone} (x ≈ {x:,}), not {name}; declare ⟦crs={code}⟧",
    ),
    "crs.zone_prefix": (
        "die Koordinaten tragen die Zonenkennung 32 (x ≈ {x}): sie sind EPSG:4647, nicht {name}; geben Sie "
        "⟦crs=4647⟧ an",
        "the coordinates carry the zone prefix 32 (x ≈ {x:,}): they are EPSG:4647, not {name}; declare ⟦crs=4647⟧",
    ),
    "crs.outside_nrw": (
        "{they} nicht in Nordrhein-Westfalen (erster Punkt {x} / {y} in {name}); {fix}",
        "{they} in North Rhine-Westphalia (first point {x:.1f}, {y:.1f} in {name}); {fix}",
    ),
    # reading the file (landreg.importer.sources)
    "import.no_such_file": ("{file}: keine solche Datei", "{file}: no such file"),
    "import.empty_file": ("{file}: die Datei ist leer", "{file}: the file is empty"),
    "import.no_features": ("{file}: die Datei enthält keine Objekte", "{file}: the file contains no features"),
    "import.unreadable_from": (
        "{file}: lässt sich nicht lesen (ab Zeile {row}): {reason}",
        "{file}: cannot be read (row {row} onwards): {reason}",
    ),
    "import.unreadable_geodata": (
        "{file}: lässt sich nicht als Geodatendatei lesen (beschädigt oder unvollständig?): {reason}",
        "{file}: cannot be read as a geodata file (corrupt or truncated?): {reason}",
    ),
    "import.unreadable": ("{file}: lässt sich nicht lesen: {reason}", "{file}: cannot be read: {reason}"),
    "import.xls": (
        "{file} ist eine Arbeitsmappe von Excel 97–2003 (.xls), die hier nicht gelesen werden kann; speichern Sie "
        "sie als Excel-Arbeitsmappe (.xlsx) oder als CSV und importieren Sie diese",
        "{file} is an Excel 97–2003 workbook (.xls), which cannot be read here; save it as an Excel workbook "
        "(.xlsx) or as CSV and import that",
    ),
    "import.pdf": (
        "{file} ist ein PDF-Dokument; importieren Sie die Daten selbst (z. B. GeoPackage, Shapefile, CSV)",
        "{file} is a PDF document; import the data itself (e.g. GeoPackage, Shapefile, CSV)",
    ),
    "import.zip_unreadable": (
        "{file}: ist kein lesbares ZIP-Archiv (abgeschnitten oder beschädigt?)",
        "{file}: is not a readable zip archive (truncated or corrupt?)",
    ),
    "import.zip_no_shapefile": (
        "{file}: das ZIP-Archiv enthält kein Shapefile (.shp); es enthält: {names}",
        "{file}: the zip archive holds no shapefile (.shp); it contains: {names}",
    ),
    "import.zip_several": (
        "{file}: das ZIP-Archiv enthält mehrere Shapefiles ({names}); importieren Sie sie einzeln",
        "{file}: the zip archive holds several shapefiles ({names}); import them one by one",
    ),
    "import.undecodable": (
        "{file} {given}{detail}; geben Sie die Zeichenkodierung der Datei unter ⟦encoding⟧ an, z. B. "
        "⟦encoding=cp1252⟧ (Windows), ⟦encoding=latin-1⟧ oder ⟦encoding=utf-8⟧",
        "{file} {given}{detail}; give the file's encoding with ⟦encoding⟧, e.g. ⟦encoding=cp1252⟧ (Windows), "
        "⟦encoding=latin-1⟧ or ⟦encoding=utf-8⟧",
    ),
    "import.not_valid_text": ("ist kein gültiger Text in {encoding}", "is not valid {encoding} text"),
    "import.no_encoding": (
        "nennt seine Zeichenkodierung nicht und ist kein UTF-8",
        "does not say its text encoding and is not UTF-8",
    ),
    "import.at_byte": (" ({reason} bei Byte {byte})", " ({reason} at byte {byte})"),
    "import.read_as_cp1252": (
        "{file} ist kein UTF-8 und nennt seine Zeichenkodierung nicht: gelesen als Windows-1252 (cp1252), wie "
        "Excel und andere Windows-Programme schreiben; das ergibt {letters}; falls Buchstaben falsch aussehen, "
        "geben Sie die Kodierung unter ⟦encoding⟧ an",
        "{file} is not UTF-8 and does not say its encoding: read as Windows-1252 (cp1252), as Excel and other "
        "Windows programs write it, which gives {letters}; if letters look wrong, give the encoding with ⟦encoding⟧",
    ),
    "import.read_as_wide": (
        "{file} ist {wide}-Text (wie Excels „Unicode-Text“ ihn schreibt) und wird so gelesen",
        "{file} is {wide} text (as Excel's “Unicode text” writes it): read as such",
    ),
    "import.read_as_format": (
        "{file} ist {what}, nicht was sein Name sagt, und wird so gelesen",
        "{file} is {what}, not what its name says: read as such",
    ),
    "import.format.xlsx": ("eine Excel-Arbeitsmappe (XLSX)", "an Excel workbook (XLSX)"),
    "import.format.ods": ("eine OpenDocument-Tabelle (ODS)", "an OpenDocument spreadsheet (ODS)"),
    "import.format.csv": ("CSV-Text", "CSV text"),
    "import.sheet_not_spreadsheet": (
        "{file} ist keine Tabellenkalkulation: ⟦sheet⟧ wählt ein Blatt einer XLSX- oder ODS-Arbeitsmappe; wählen "
        "Sie eine Ebene unter ⟦layer⟧",
        "{file} is no spreadsheet: ⟦sheet⟧ chooses a sheet of an XLSX or ODS workbook; choose a layer with ⟦layer⟧",
    ),
    "import.sheet_and_layer": (
        "⟦sheet⟧ und ⟦layer⟧ nennen verschiedene Blätter; geben Sie nur eines an",
        "⟦sheet⟧ and ⟦layer⟧ name different sheets; give one",
    ),
    "import.no_such_sheet": (
        "{file} hat kein Tabellenblatt „{wanted}“; seine Blätter: {names}",
        "{file} has no sheet {wanted!r}; its sheets are: {names}",
    ),
    "import.no_such_layer": (
        "{file} hat keine Ebene „{wanted}“; seine Ebenen: {names}",
        "{file} has no layer {wanted!r}; its layers are: {names}",
    ),
    "import.sheet_chosen": (
        "{file} hat die Tabellenblätter {names}: gelesen wurde „{sheet}“, das einzige mit Koordinaten oder "
        "Umrissen (ein anderes wählen Sie unter ⟦sheet⟧)",
        "{file} has the sheets {names}: read {sheet!r}, the only one with coordinates or outlines (choose another "
        "with ⟦sheet⟧)",
    ),
    "import.several_sheets": (
        "{file} hat mehrere Tabellenblätter ({names}); wählen Sie eines unter ⟦sheet⟧",
        "{file} has several sheets ({names}); choose one with ⟦sheet⟧",
    ),
    "import.several_layers": (
        "{file} hat mehrere Ebenen ({names}); wählen Sie eine unter ⟦layer⟧",
        "{file} has several layers ({names}); choose one with ⟦layer⟧",
    ),
    "import.no_such_column": (
        "die Datei hat keine Spalte „{column}“ ({option}); ihre Spalten: {columns}",
        "the file has no column {column!r} ({option}); its columns are: {columns}",
    ),
    "import.wkt_or_xy": (
        "geben Sie entweder ⟦wkt_column⟧ oder ⟦x_column⟧ und ⟦y_column⟧ an, nicht beides",
        "give either ⟦wkt_column⟧ or ⟦x_column⟧ and ⟦y_column⟧, not both",
    ),
    "import.x_and_y": (
        "geben Sie sowohl ⟦x_column⟧ als auch ⟦y_column⟧ an",
        "give both ⟦x_column⟧ and ⟦y_column⟧",
    ),
    "import.wkt_found": (
        "die Umrisse werden als WKT aus der Spalte „{column}“ gelesen (⟦wkt_column⟧)",
        "the outlines are read as WKT from the column {column!r} (⟦wkt_column⟧)",
    ),
    "import.outlines_and_points": (
        "die Datei hat Umrisse (Spalte „{column}“) und Punkte (Spalten „{x}“, „{y}“): die Umrisse werden gelesen, "
        "die Punkte weggelassen",
        "the file has outlines (column {column!r}) and points (columns {x!r}, {y!r}): the outlines are read, the "
        "points left out",
    ),
    "import.no_geometry_found": (
        "{file}: keine Geometrie gefunden: eine Tabelle braucht den Umriss jeder Fläche als WKT (eine Spalte wie "
        "„WKT“ mit POLYGON((…))) oder Koordinaten in x/y-Spalten (z. B. Rechtswert/Hochwert, GeoX/GeoY); nennen Sie "
        "sie unter ⟦wkt_column⟧ oder unter ⟦x_column⟧ und ⟦y_column⟧; ihre Spalten: {columns}",
        "{file}: found no geometry: a table needs each parcel's outline as WKT (a column such as 'WKT' holding "
        "POLYGON((…))) or coordinates in x/y columns (e.g. Rechtswert/Hochwert, GeoX/GeoY); name them with "
        "⟦wkt_column⟧, or ⟦x_column⟧ and ⟦y_column⟧; its columns are: {columns}",
    ),
    "import.several_srids": (
        "{file}: das WKT der Spalte „{column}“ nennt mehrere Koordinatensysteme ({srids}); exportieren Sie die "
        "Datei in einem einzigen",
        "{file}: the WKT of the column {column!r} names several coordinate reference systems ({srids}); export the "
        "file in one",
    ),
    "import.unknown_srid": (
        "{file}: das WKT nennt SRID={srid}, das ist kein bekannter EPSG-Code",
        "{file}: the WKT says SRID={srid}, which is no known EPSG code",
    ),
    "import.crs_from_srid": (
        "das Koordinatensystem EPSG:{srid} ist dem SRID={srid} des WKT entnommen",
        "the coordinate reference system EPSG:{srid} is taken from the WKT's SRID={srid}",
    ),
    "import.crs_unreadable": (
        "{file} gibt ein Koordinatensystem an, das sich nicht lesen lässt; berichtigen Sie es in der Datei, oder "
        "entfernen Sie es und geben Sie das Koordinatensystem unter ⟦crs⟧ an",
        "{file} declares a coordinate reference system that cannot be read; fix it in the file, or remove it and "
        "give the CRS with ⟦crs⟧",
    ),
    "import.own_geometry": (
        "{file} hat eine eigene Geometrie ({format}); {given} ist für Tabellen (CSV, XLSX, ODS)",
        "{file} has its own geometry ({format}); {given} is for tables (CSV, XLSX, ODS)",
    ),
    "import.crs_given": (
        "{file} ist {default}: gelesen in {crs}, wie ⟦crs⟧ angibt",
        "{file} is {default}: it is read in {crs} as ⟦crs⟧ says",
    ),
    "import.municipality_not_yours": (
        "⟦municipality⟧ {ags}: dafür dürfen Sie nicht importieren; geben Sie eine Ihrer Gemeinden an ({allowed}) "
        "oder lassen Sie das Feld leer",
        "⟦municipality⟧ {ags}: you may not import for it; give one of your municipalities ({allowed}) or leave it "
        "empty",
    ),
    "import.no_municipalities": (
        "das Register enthält noch keine Gemeinden: laden Sie sie zuerst mit `landreg seed`",
        "the registry holds no municipalities yet: load them first with `landreg seed`",
    ),
    # a row's problems: read from the file (sources), decided alone (rows), set-wise (load)
    "import.no_geometry": ("kein Umriss", "no geometry"),
    "import.wkt_empty": ("kein Umriss (die WKT-Spalte ist leer)", "no geometry (the WKT column is empty)"),
    "import.wkt_unreadable": ("das WKT lässt sich nicht lesen: {reason}", "WKT cannot be read: {reason}"),
    "import.wkt_unreadable_bare": ("das WKT lässt sich nicht lesen", "WKT cannot be read"),
    "import.wkt_other_srid": (
        "das WKT nennt SRID={srid}, die Datei SRID={file_srid}",
        "the WKT says SRID={srid}, the file's SRID={file_srid}",
    ),
    "import.xy_not_numbers": ("x/y ({x}, {y}) sind keine Zahlen", "x/y ({x}, {y}) are not numbers"),
    "import.required.empty": (
        "ist ein Pflichtfeld: die Spalte „{column}“ ist leer{hint}",
        "is required: column {column!r} is empty{hint}",
    ),
    "import.required.category_hint": (
        "; geben Sie den Zeilen ohne Kategorie eine unter ⟦category⟧ (z. B. ⟦category=bauluecke⟧)",
        "; give the rows without one a category with ⟦category⟧ (e.g. ⟦category=bauluecke⟧)",
    ),
    "import.required.no_category": (
        "ist ein Pflichtfeld: keine Spalte enthält die Kategorie (erkannte Namen: {named} …); nennen Sie ihre Spalte "
        "in einer Zuordnungsdatei (⟦mapping⟧), z. B. columns: {example}, oder geben Sie den Zeilen ohne "
        "Kategorie eine unter ⟦category⟧ (z. B. ⟦category=bauluecke⟧)",
        "is required: no column holds it (recognised names: {named} …); name its column in a mapping file "
        "(⟦mapping⟧), e.g. columns: {example}, give the rows without one a category with ⟦category⟧ "
        "(e.g. ⟦category=bauluecke⟧)",
    ),
    "import.required.no_reference": (
        "ist ein Pflichtfeld: keine Spalte enthält die eigene Kennung der Fläche (erkannte Namen: {named} …); "
        "nennen Sie ihre Spalte in einer Zuordnungsdatei (⟦mapping⟧), z. B. columns: {example}",
        "is required: no column holds the parcel's own reference (recognised names: {named} …); name its column "
        "in a mapping file (⟦mapping⟧), e.g. columns: {example}",
    ),
    "import.not_polygon": (
        "ein {kind}, wo ein Polygon nötig ist: eine Fläche braucht ihren Umriss{hint}",
        "a {kind} where a polygon is needed: a parcel needs its outline{hint}",
    ),
    "import.points_hint": (
        " (die Spalten „{x}“/„{y}“ ergeben einen Punkt; ergänzen Sie den Umriss als WKT, z. B. in einer Spalte "
        "„WKT“ mit POLYGON((…)), oder nennen Sie seine Spalte unter ⟦wkt_column⟧)",
        " (the columns {x!r}/{y!r} give a point; add the outline as WKT, e.g. a column 'WKT' with POLYGON((…)), "
        "or name its column with ⟦wkt_column⟧)",
    ),
    "import.dims_dropped": ("{dims}-Werte weggelassen; Flächen sind 2D", "{dims} values dropped; parcels are 2D"),
    "import.outside_nrw": ("liegt außerhalb Nordrhein-Westfalens", "lies outside North Rhine-Westphalia"),
    "import.repaired": (
        "der Umriss war ungültig ({reason}) und wurde repariert; seine Fläche änderte sich um {change} %",
        "geometry was not valid ({reason}) and was repaired; its area changed by {change:.3f} %",
    ),
    "import.invalid": (
        "der Umriss ist ungültig: {reason}; eine Reparatur würde seine Fläche von {before} m² auf {after} m² "
        "ändern, um mehr als die erlaubten {tolerance} %",
        "geometry is not valid: {reason}; repairing it would change its area from {before:.1f} m² to {after:.1f} "
        "m², more than the {tolerance:.2f} % tolerated",
    ),
    "import.near_claim": (
        "als {claimed} übernommen, wie {claim} angibt: nach den generalisierten Grenzen des Registers (DVG2) "
        "liegen {where}, aber alles liegt höchstens {tolerance} m von {claimed} entfernt",
        "taken as {claimed}, as {claim} says: the registry's generalised boundaries (DVG2) put {where}, but all of "
        "it lies within {tolerance:g} m of {claimed}",
    ),
    "import.claim.option": ("das Feld ⟦municipality⟧", "⟦municipality⟧"),
    "import.claim.mapping": ("die Vorgabe der Zuordnungsdatei", "the mapping file's default"),
    "import.claim.column": ("die Spalte „{column}“", "the column {column!r}"),
    "import.claim_fix.column": (
        "; falls die Spalte „{column}“ falsch ist, lassen Sie sie mit ignore: [{column}] in der Zuordnungsdatei "
        "(⟦mapping⟧) weg",
        "; if the column {column!r} is wrong, leave it out with ignore: [{column}] in the mapping file (⟦mapping⟧)",
    ),
    "import.claim_fix.option": (
        "; ⟦municipality⟧ gilt für jede Zeile: lassen Sie die Angabe weg, um die gefundene Gemeinde zu übernehmen",
        "; ⟦municipality⟧ claims it for every row: leave it out to take the municipality found",
    ),
    "import.area_implausible": (
        "eine Größe von {area} m² ist für eine Fläche unplausibel (erwartet: {min} bis {max} m²)",
        "an area of {area} m² is implausible for a parcel (expected {min} to {max} m²)",
    ),
    "import.declared_area": (
        "die Datei nennt {declared} m², der Umriss misst {area} m²",
        "the file states {declared} m², the geometry measures {area} m²",
    ),
    "import.not_yours": (
        "liegt in {ags} {name}, für die Sie nicht importieren dürfen (Ihre Gemeinden: {allowed})",
        "lies in {ags} {name}, for which you may not import (your municipalities: {allowed})",
    ),
    "import.duplicate": (
        "die Kennung {ref} kommt für diese Gemeinde mehrmals in der Datei vor (Zeilen {rows})",
        "reference {ref} appears more than once for this municipality in the file (rows {rows})",
    ),
    "import.outside_municipalities": (
        "liegt außerhalb aller Gemeinden des Registers",
        "lies outside every municipality in the registry",
    ),
    "import.unknown_ags": (
        "keine Gemeinde mit dem Gemeindeschlüssel {ags} im Register",
        "no municipality with AGS {ags} is in the registry",
    ),
    "import.other_municipality": (
        "liegt zu {share} % in {ags} {name}, nicht in der angegebenen Gemeinde {claimed} {claimed_name} (Teile "
        "davon liegen mehr als {tolerance} m von ihr entfernt){fix}",
        "lies in {ags} {name} ({share} % of its area), not in the municipality it claims: {claimed} {claimed_name} "
        "(parts of it lie more than {tolerance} m from there){fix}",
    ),
    "import.retired_reference": (
        "eine Fläche mit dieser Kennung wurde am {date} stillgelegt; geben Sie der neuen Fläche eine neue Kennung",
        "a parcel with this reference was retired on {date}; give the new parcel a new reference",
    ),
    "import.other_reasons": ("(andere Gründe)", "(other reasons)"),
    # -- end of the importer's messages ----------------------------------------------------------------
}


@dataclass(frozen=True, eq=False)
class Message:
    """A message as a code and its values; :meth:`text` writes it in a language."""

    code: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"no message {self.code!r} in landreg.messages.CATALOGUE")

    def text(self, lang: str = "en") -> str:
        de, en = CATALOGUE[self.code]
        if lang == "de":
            return de.format(**{name: _german(value) for name, value in self.values.items()})
        return en.format(**{name: _english(value) for name, value in self.values.items()})

    def __str__(self) -> str:
        return self.text("en")

    def __repr__(self) -> str:
        return f"Message({self.code!r}, {dict(self.values)!r})"


def message(code: str, /, **values: Any) -> Message:
    return Message(code, values)


def text(code: str, lang: str = "en", /, **values: Any) -> str:
    """The text of message ``code`` in ``lang`` with ``values``."""
    return Message(code, values).text(lang)


def _german(value: Any) -> Any:
    if isinstance(value, Message):
        return value.text("de")
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, float):
        return f"{value:,}".replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d.%m.%Y")
    return value


def _english(value: Any) -> Any:
    if isinstance(value, Message):
        return value.text("en")
    if isinstance(value, dt.datetime | dt.date):
        return f"{value:%Y-%m-%d}"
    return value
