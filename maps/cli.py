"""``landreg map NAME -o FILE``: a map written to a self-contained HTML file.

Registered with the ``landreg`` command through the ``landreg.commands`` entry point, so the
core never imports the maps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landreg.db import make_engine
from maps import MAP_NAMES

STATIC_PLACEHOLDER = "landreg-static"  # linked while rendering, inlined before writing


def map_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(MAP_NAMES)}")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")],
    lang: Annotated[str, typer.Option(help="de or en")] = "de",
    category: Annotated[list[str] | None, typer.Option(help="Only this category; repeat for several")] = None,
    availability: Annotated[list[str] | None, typer.Option(help="Only this availability; repeatable")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only this status; repeatable")] = None,
    ags: Annotated[list[str] | None, typer.Option(help="Only this municipality (AGS); repeatable")] = None,
    min_area: Annotated[float | None, typer.Option(help="Minimum area in m²")] = None,
    max_area: Annotated[float | None, typer.Option(help="Maximum area in m²")] = None,
    profile: Annotated[str | None, typer.Option(help="Scoring profile for priorities")] = None,
    top: Annotated[int, typer.Option(help="Prioritätenkarte: length of the top list")] = 20,
    internal: Annotated[
        bool, typer.Option("--intern", help="Include unpublished parcels and confidential fields (do not publish)")
    ] = False,
    api_url: Annotated[
        str | None, typer.Option(help="URL of a running landreg API: draw many parcels from its vector tiles")
    ] = None,
    embed_max: Annotated[int, typer.Option(help="With --api-url: embed up to this many parcels")] = 1500,
) -> None:
    """Write a map (Standortkarte, Prioritätenkarte, Flächensicherungskarte, Gemeindeübersicht) to a file."""
    from maps.base import Context, MapError
    from maps.catalogue import render
    from maps.options import MapOptions, OptionError

    opts = MapOptions(
        lang=lang,
        category=category or [],
        availability=availability or [],
        status=status or [],
        ags=ags or [],
        min_area=min_area,
        max_area=max_area,
        profile=profile,
        top=top,
    )
    from landreg.access import FULL, OPERATOR, PUBLIC

    view, principal = (FULL, OPERATOR) if internal else (PUBLIC, None)
    ctx = Context(STATIC_PLACEHOLDER, api_url.rstrip("/") if api_url else None, view, embed_max, principal)
    try:
        with make_engine().connect() as conn:
            html = render(conn, name, opts, ctx, standalone=True)
    except (OptionError, MapError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    output.write_text(html, encoding="utf-8")
    typer.echo(f"{name} written to {output} ({len(html.encode()) / 1e6:.2f} MB)")
