"""The registry's code lists: the values stored in the database and their labels (German, English).

Stored codes are short German terms in ASCII, so that they read naturally in exports, SQL and URLs
(``bauluecke``, ``verfuegbar``); labels are what people see on maps and in reports.
The database enforces the same lists with CHECK constraints (see the migrations).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeList:
    name: str
    labels: dict[str, tuple[str, str]]  # code -> (German, English)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def label(self, code: str | None, lang: str = "de") -> str | None:
        if code is None:
            return None
        de, en = self.labels[code]
        return en if lang == "en" else de


CATEGORY = CodeList(
    "category",
    {
        "brachflaeche": ("Brachfläche", "Brownfield"),
        "bauluecke": ("Baulücke", "Vacant infill lot"),
        "gewerbeflaeche": ("Gewerbefläche", "Commercial land"),
        "industrieflaeche": ("Industriefläche", "Industrial land"),
    },
)

# Lifecycle of a parcel in the reserve. ``genutzt`` (taken up) and ``andere_nutzung`` (lost to
# another use) leave the reserve stock; the difference matters for Flächensicherung.
STATUS = CodeList(
    "status",
    {
        "potenzial": ("Potenzialfläche", "Potential site"),
        "verfuegbar": ("Verfügbar", "Available"),
        "reserviert": ("Reserviert", "Reserved"),
        "in_entwicklung": ("In Entwicklung", "Under development"),
        "genutzt": ("Genutzt (wiedergenutzt)", "Taken up (reused)"),
        "andere_nutzung": ("Andere Nutzung (Verlust)", "Converted to other use (lost)"),
    },
)

# Land-use designation in the plan (FNP/B-Plan) or regional plan (GIB, ASB).
DESIGNATION = CodeList(
    "designation",
    {
        "GI": ("Industriegebiet (GI)", "Industrial area (GI)"),
        "GE": ("Gewerbegebiet (GE)", "Commercial area (GE)"),
        "GIB": ("Bereich für gewerbliche und industrielle Nutzungen (GIB)", "Regional industrial zone (GIB)"),
        "G": ("Gewerbliche Baufläche (FNP)", "Commercial building land (FNP)"),
        "SO": ("Sondergebiet (SO)", "Special area (SO)"),
        "MI": ("Mischgebiet (MI)", "Mixed area (MI)"),
        "MU": ("Urbanes Gebiet (MU)", "Urban area (MU)"),
        "MK": ("Kerngebiet (MK)", "Core area (MK)"),
        "WA": ("Allgemeines Wohngebiet (WA)", "General residential area (WA)"),
        "WR": ("Reines Wohngebiet (WR)", "Pure residential area (WR)"),
        "W": ("Wohnbaufläche (FNP)", "Residential building land (FNP)"),
        "ASB": ("Allgemeiner Siedlungsbereich (ASB)", "General settlement area (ASB)"),
        "F": ("Fläche für Landwirtschaft/Wald/Grün (F)", "Open land (F)"),
    },
)

PLANNING_STATUS = CodeList(
    "planning_status",
    {
        "bplan_rechtskraeftig": ("B-Plan rechtskräftig", "Zoning plan in force"),
        "bplan_in_aufstellung": ("B-Plan in Aufstellung", "Zoning plan in preparation"),
        "fnp": ("Darstellung im FNP", "Land-use plan designation"),
        "paragraph_34": ("Innenbereich (§ 34 BauGB)", "Built-up area (§ 34 BauGB)"),
        "keine": ("Kein Planungsrecht", "No planning permission"),
    },
)

CONTAMINATION = CodeList(
    "contamination",
    {
        "keine_bekannt": ("Keine Altlasten bekannt", "None known"),
        "saniert": ("Saniert", "Remediated"),
        "untersucht": ("Untersucht", "Investigated"),
        "verdacht": ("Altlastverdacht", "Suspected"),
    },
)

AVAILABILITY = CodeList(
    "availability",
    {
        "kurzfristig": ("Kurzfristig (< 1 Jahr)", "Short term (< 1 year)"),
        "mittelfristig": ("Mittelfristig (1–5 Jahre)", "Medium term (1–5 years)"),
        "langfristig": ("Langfristig (> 5 Jahre)", "Long term (> 5 years)"),
        "nicht_verfuegbar": ("Nicht verfügbar", "Not available"),
    },
)

OWNERSHIP = CodeList(
    "ownership",
    {
        "oeffentlich": ("Öffentlich", "Public"),
        "privat_einzeln": ("Privat (ein Eigentümer)", "Private (single owner)"),
        "privat_mehrere": ("Privat (mehrere Eigentümer)", "Private (fragmented)"),
    },
)

OWNER_WILLING = CodeList(
    "owner_willing",
    {
        "ja": ("Ja", "Yes"),
        "nein": ("Nein", "No"),
        "unbekannt": ("Unbekannt", "Unknown"),
    },
)

SERVICING = CodeList(
    "servicing",
    {
        "erschlossen": ("Erschlossen", "Serviced"),
        "teilweise": ("Teilweise erschlossen", "Partly serviced"),
        "unerschlossen": ("Unerschlossen", "Not serviced"),
    },
)

RESTRICTION_CLASS = CodeList(
    "restriction_class",
    {
        "0": ("Restriktionsfrei", "No restriction"),
        "1": ("Leichte Restriktionen", "Minor restrictions"),
        "2": ("Schwere Restriktionen", "Severe restrictions"),
    },
)

CONTEXT_KIND = CodeList(
    "context_kind",
    {
        "bahnhof": ("Bahnhof", "Railway station"),
        "haltestelle": ("ÖPNV-Haltestelle", "Public transport stop"),
        "autobahnanschluss": ("Autobahnanschluss", "Motorway junction"),
        "hafen": ("Hafen", "Port"),
        "wohngebiet": ("Wohngebiet", "Residential area"),
        "ueberschwemmungsgebiet": ("Überschwemmungsgebiet", "Flood zone"),
        "schutzgebiet": ("Schutzgebiet", "Protected area"),
        "bplan": ("B-Plan-Festsetzungen", "Zoning plan designations"),
    },
)

# The Abstandserlass NRW distance classes (minimum distance to housing).
ABSTAND_CLASS = CodeList(
    "abstand_class",
    {
        "I": ("Klasse I (1500 m)", "Class I (1500 m)"),
        "II": ("Klasse II (1000 m)", "Class II (1000 m)"),
        "III": ("Klasse III (700 m)", "Class III (700 m)"),
        "IV": ("Klasse IV (500 m)", "Class IV (500 m)"),
        "V": ("Klasse V (300 m)", "Class V (300 m)"),
        "VI": ("Klasse VI (200 m)", "Class VI (200 m)"),
        "VII": ("Klasse VII (100 m)", "Class VII (100 m)"),
    },
)

# Why a parcel left the register (stored with its retirement, migration 0019; a retirement recorded
# before then has none: "nicht erfasst"). ``nicht_in_lieferung`` is what an import that retires the
# parcels missing from a municipality's file records; ``sonstiges`` needs a comment saying why.
RETIRE_REASON = CodeList(
    "retire_reason",
    {
        "bebaut": ("Bebaut bzw. wieder genutzt", "Built on / taken up"),
        "zusammengelegt": ("Mit anderen Flächen zusammengelegt", "Merged with other parcels"),
        "geteilt": ("In neue Flächen geteilt", "Split into new parcels"),
        "aufgegeben": ("Keine Wiedernutzungsfläche mehr", "No longer a reuse site"),
        "fehlerfassung": ("Irrtümlich erfasst", "Recorded by mistake"),
        "nicht_in_lieferung": (
            "Nicht mehr in der Lieferung der Gemeinde (Import)",
            "No longer in the municipality's delivery (import)",
        ),
        "sonstiges": ("Sonstiges (siehe Kommentar)", "Other (see comment)"),
    },
)
#: The reason an import records for the parcels it retires because its file no longer lists them.
RETIRE_REASON_IMPORT = "nicht_in_lieferung"
#: The reason whose comment is required.
RETIRE_REASON_OTHER = "sonstiges"
#: The labels of a retirement recorded before reasons were (its reason is empty).
RETIRE_REASON_UNRECORDED = ("nicht erfasst", "not recorded")


def retire_reason_labels(code: str | None) -> tuple[str, str]:
    """(German, English) of a retirement's reason; "nicht erfasst" for none."""
    return RETIRE_REASON.labels[code] if code is not None else RETIRE_REASON_UNRECORDED


#: How an import treats rejected rows: refuse the whole file, or land the valid rows.
IMPORT_MODES = ("all-or-nothing", "keep-valid")
