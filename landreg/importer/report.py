"""What an import did, row by row: the report shown to the user and stored with the import."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

STORED_ROWS_MAX = 10_000  # rejections/notes kept in the stored report; the counts are always complete


@dataclass(frozen=True)
class RowIssue:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.reason}"


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
    defaults: dict[str, object] = field(default_factory=dict)
    rows_read: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    retired: int = 0
    rejections: list[RowIssue] = field(default_factory=list)
    notes: list[RowIssue] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (AGS, reference) absent from the file
    status: str = "pending"  # committed | rejected | dry-run
    import_id: int | None = None
    rejected_file: str | None = None

    @property
    def rejected(self) -> int:
        return len({issue.row for issue in self.rejections})

    def reject(self, row: int, field_name: str, reason: str) -> None:
        self.rejections.append(RowIssue(row, field_name, reason))

    def note(self, row: int, field_name: str, reason: str) -> None:
        self.notes.append(RowIssue(row, field_name, reason))

    def reasons_by_row(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for issue in sorted(self.rejections, key=lambda i: i.row):
            out.setdefault(issue.row, []).append(f"{issue.field}: {issue.reason}")
        return out

    def to_dict(self, limit: int = STORED_ROWS_MAX) -> dict:
        data = asdict(self)
        data["rejected"] = self.rejected
        data["rejections"] = [asdict(i) for i in sorted(self.rejections, key=lambda i: i.row)[:limit]]
        data["notes"] = [asdict(i) for i in self.notes[:limit]]
        data["missing"] = [list(m) for m in self.missing[:limit]]
        data["truncated"] = max(len(self.rejections), len(self.notes), len(self.missing)) > limit
        return data

    def lines(self, show: int = 50) -> list[str]:
        """The report as text for the terminal."""
        out = [
            f"{self.file_name} ({self.crs}, sha256 {self.sha256[:12]}…), mode {self.mode}"
            + (", DRY RUN: nothing written" if self.dry_run else "")
        ]
        out.append("column mapping:")
        out += [f"  {column!r:>28} -> {target}" for target, column in self.mapping.items()]
        out += [f"  {'(default)':>28} -> {target} = {value!r}" for target, value in self.defaults.items()]
        if self.unmapped_columns:
            out.append(f"  not used: {', '.join(self.unmapped_columns)}")
        out.append(
            f"rows read {self.rows_read}: new {self.inserted}, changed {self.changed}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}, retired {self.retired}"
        )
        if self.rejections:
            by_reason = Counter(i.field for i in self.rejections)
            out.append("rejected rows (" + ", ".join(f"{f}: {n}" for f, n in by_reason.most_common()) + "):")
            out += [f"  {issue}" for issue in sorted(self.rejections, key=lambda i: i.row)[:show]]
            if len(self.rejections) > show:
                out.append(f"  … and {len(self.rejections) - show} more")
        if self.notes:
            out.append("notes:")
            out += [f"  {issue}" for issue in self.notes[:show]]
            if len(self.notes) > show:
                out.append(f"  … and {len(self.notes) - show} more")
        if self.missing:
            out.append(
                f"{len(self.missing)} current parcels of these municipalities are not in the file"
                + (" and were retired" if self.retired else " (use --retire-missing to retire them)")
                + ":"
            )
            out += [f"  {ags} {ref}" for ags, ref in self.missing[:show]]
        if self.rejected_file:
            out.append(f"rejected rows with their reasons written to {self.rejected_file}")
        out.append(f"status: {self.status}" + (f" (import #{self.import_id})" if self.import_id else ""))
        return out
