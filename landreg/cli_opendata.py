"""``landreg opendata refresh|show``: the open data files (:mod:`landreg.opendata`), for a daily
timer (cron or systemd) and for the demo after loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from landreg import opendata
from landreg.db import make_engine

opendata_app = typer.Typer(
    help="Offene Daten: the public view as GeoPackage, CSV and GeoJSON with a DCAT-AP.de catalogue.",
    no_args_is_help=True,
)


@opendata_app.command("refresh")
def refresh(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Target directory (default: LANDREG_DOWNLOADS_DIR).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rewrite even when the public data is unchanged.")] = False,
) -> None:
    """Write the files when the public data changed since the last refresh; meant for a daily timer."""
    target = directory or opendata.downloads_dir()
    result = opendata.refresh(make_engine(), target, force=force)
    manifest = result.manifest
    if not result.changed:
        typer.echo(f"unchanged since {manifest['generated_at']}: {manifest['count']} parcels in {target}")
        return
    typer.echo(f"{manifest['count']} parcels written to {target} (Datenstand {manifest['datenstand']})")
    for f in manifest["files"]:
        typer.echo(f"  {f['name']:<32} {f['size']:>12,} bytes  sha256 {f['sha256'][:16]}…")


@opendata_app.command("show")
def show(
    directory: Annotated[Path | None, typer.Option("--dir", help="Directory (default: LANDREG_DOWNLOADS_DIR).")] = None,
) -> None:
    """The manifest of the last refresh."""
    manifest = opendata.load_manifest(directory)
    if manifest is None:
        typer.secho("nothing produced yet: run `landreg opendata refresh`", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2)
    typer.echo(json.dumps(manifest, ensure_ascii=False, indent=2))
