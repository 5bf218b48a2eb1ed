"""What an import did, row by row: the report shown to the user and stored with the import.

Every problem of every row is kept by the database while the import runs (the staging table
``import_issue``, see ``load``); the report holds the first :data:`KEPT_MAX` rejections and notes
in full, and counts for all of them, so that a file of a million bad rows takes no more memory
than one of ten thousand. Each listing says how many more there are.

Reasons and notes may name options (:func:`landreg.importer.refusals.option`): ``lines`` and
``to_dict`` spell them as the caller's channel does (``--category`` or ``category=…``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from landreg.importer.refusals import Spelling, in_language, kept, neutral, option, render
from landreg.messages import Message

KEPT_MAX = 10_000  # rejections and notes held (and stored) with row, field and reason; the rest are counted
REASONS_PER_FIELD = 20  # reasons counted one by one per field; the others together under OTHER_REASONS
OTHER_REASONS = "(other reasons)"
STORED_ROWS_MAX = KEPT_MAX  # missing parcels listed in the stored report


@dataclass(frozen=True)
class RowIssue:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.reason}"

    def spelled(self, spell: Spelling) -> RowIssue:
        return replace(self, reason=render(self.reason, spell))


class Issues:
    """The problems found in one batch while it is read, before the importer hands them to the database."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, bool]] = []  # (row, field, reason, is_error)
        self.errors = 0

    def reject(self, row: int, field_name: str, reason: str | Message) -> None:
        self.rows.append((row, field_name, kept(reason), True))
        self.errors += 1

    def note(self, row: int, field_name: str, reason: str | Message) -> None:
        self.rows.append((row, field_name, kept(reason), False))


@dataclass
class ImportReport:
    file_name: str
    sha256: str
    layer: str | None
    crs: str
    mode: str
    dry_run: bool
    mapping: dict[str, str] = field(default_factory=dict)  # field -> source column
    unmapped_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)  # left out by the mapping file (ignore: […])
    defaults: dict[str, object] = field(default_factory=dict)
    file_format: str | None = None  # as read (GDAL's driver), whatever the file's name says
    encoding: str | None = None  # of a text table, as read
    geometry_columns: list[str] = field(default_factory=list)  # of a table: its WKT column, or x and y
    file_notes: list[str] = field(default_factory=list)  # how the file was read, where that needed a decision
    rows_read: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    retired: int = 0
    rejected: int = 0  # rows rejected, all of them
    rejections: list[RowIssue] = field(default_factory=list)  # the first KEPT_MAX, by row
    rejections_omitted: int = 0  # rejections beyond those listed (counted in rejection_counts)
    rejection_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> reason -> rejections
    notes: list[RowIssue] = field(default_factory=list)  # the first KEPT_MAX, by row
    notes_omitted: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (AGS, reference) absent from the file
    missing_count: int = 0  # how many (to_dict: its ``missing`` lists the first STORED_ROWS_MAX)
    scored: int = 0  # new and changed parcels scored in the import's transaction
    unscored: int = 0  # written but left for `landreg score --missing` or a full run (found by /ready)
    status: str = "pending"  # committed | rejected | dry-run
    import_id: int | None = None
    submission_id: int | None = None  # the review of a planner's import (landreg.review)
    rejected_file: str | None = None

    def __post_init__(self) -> None:
        #: English text of a reason or note (as the fields above hold it) -> the message it says, kept
        #: with its code and values (refusals.kept), to say it in another language; not a field (not
        #: in ``to_dict`` nor in the API's model)
        self.said: dict[str, str] = {}

    def english(self, text: str) -> str:
        """A reason or note as kept (:func:`~landreg.importer.refusals.kept`) in English, remembering the
        message for :meth:`spelled` in another language."""
        english = in_language(text)
        if english != text:
            self.said[english] = text
        return english

    @property
    def rejection_total(self) -> int:
        """Every rejection (a row may have several)."""
        return len(self.rejections) + self.rejections_omitted

    def to_dict(self, limit: int = STORED_ROWS_MAX, spell: Spelling = neutral, lang: str = "en") -> dict:
        """The report as data (stored, or answered over HTTP), options in reasons and notes spelled by
        ``spell``, reasons and notes in ``lang`` (English for the API and what is stored)."""
        data = asdict(self.spelled(spell, lang))
        data["missing"] = [list(m) for m in self.missing[:limit]]
        data["missing_count"] = len(self.missing)
        data["truncated"] = bool(self.rejections_omitted or self.notes_omitted or len(self.missing) > limit)
        return data

    def spelled(self, spell: Spelling, lang: str = "en") -> ImportReport:
        """A copy whose reasons, notes and counts name options as ``spell`` does, said in ``lang``."""

        def say(text: str) -> str:
            return render(self.said.get(text, text), spell, lang)

        return replace(
            self,
            rejections=[replace(issue, reason=say(issue.reason)) for issue in self.rejections],
            notes=[replace(issue, reason=say(issue.reason)) for issue in self.notes],
            rejection_counts={
                f: {say(reason): n for reason, n in counts.items()} for f, counts in self.rejection_counts.items()
            },
            file_notes=[say(note) for note in self.file_notes],
        )

    def _read_as(self) -> str:
        parts = [self.file_format] if self.file_format else []
        if self.layer and self.file_format in ("XLSX", "ODS"):
            parts.append(f"sheet {self.layer!r}")
        if self.encoding:
            parts.append(f"text in {self.encoding}")
        if self.geometry_columns:
            parts.append("geometry from " + " and ".join(repr(c) for c in self.geometry_columns))
        return ", ".join(parts)

    def lines(self, show: int = 50, spell: Spelling = neutral) -> list[str]:
        """The report as text for the terminal; options spelled by ``spell``."""
        shown = self.spelled(spell)
        out = [
            f"{self.file_name} ({self.crs}, sha256 {self.sha256[:12]}…), mode {self.mode}"
            + (", DRY RUN: nothing written" if self.dry_run else "")
        ]
        if read_as := self._read_as():
            out.append(f"read as {read_as}")
        out += [f"  note: {note}" for note in shown.file_notes]
        out.append("column mapping:")
        out += [f"  {column!r:>28} -> {target}" for target, column in self.mapping.items()]
        out += [f"  {'(default)':>28} -> {target} = {value!r}" for target, value in self.defaults.items()]
        if self.unmapped_columns:
            out.append(f"  not used: {', '.join(self.unmapped_columns)}")
        if self.ignored_columns:
            out.append(f"  ignored (mapping file): {', '.join(self.ignored_columns)}")
        out.append(
            f"rows read {self.rows_read}: new {self.inserted}, changed {self.changed}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}, retired {self.retired}"
        )
        if self.rejection_total:
            by_field = sorted(((sum(c.values()), f) for f, c in self.rejection_counts.items()), reverse=True)
            out.append("rejected rows (" + ", ".join(f"{f}: {n}" for n, f in by_field) + "):")
            out += _listing(shown.rejections, self.rejection_total, show)
            if self.rejection_total > show:
                out.append("rejections by field and reason:")
                for _, f in by_field:
                    counts = sorted(shown.rejection_counts[f].items(), key=lambda c: (c[0] == OTHER_REASONS, -c[1]))
                    out += [f"  {n:>8} × {f}: {reason}" for reason, n in counts]
        if self.notes:
            out.append("notes:")
            out += _listing(shown.notes, len(self.notes) + self.notes_omitted, show)
        if self.missing:
            retire = "" if self.retired else f" (use {option('retire_missing')} to retire them)"
            out.append(
                f"{len(self.missing)} current parcels of these municipalities are not in the file"
                + (" and were retired" if self.retired else render(retire, spell))
                + ":"
            )
            out += [f"  {ags} {ref}" for ags, ref in self.missing[:show]]
            if len(self.missing) > show:
                out.append(f"  … and {len(self.missing) - show} more")
        if self.unscored:
            out.append(f"{self.unscored} new or changed parcels are not scored yet")
        if self.rejected_file:
            out.append(f"rejected rows with their reasons written to {self.rejected_file}")
        out.append(f"status: {self.status}" + (f" (import #{self.import_id})" if self.import_id else ""))
        if self.submission_id:
            out.append(
                f"waiting for review as submission {self.submission_id} (landreg review show {self.submission_id})"
            )
        return out


def _listing(issues: list[RowIssue], total: int, show: int) -> list[str]:
    shown = issues[:show]
    return [f"  {issue}" for issue in shown] + ([f"  … and {total - len(shown)} more"] if total > len(shown) else [])
