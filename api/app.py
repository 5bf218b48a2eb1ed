"""The application factory: ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import imports, routes, scoring
from landreg import __version__
from landreg.db import make_engine


def create_app(database_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(database_url)
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="landreg – Flächenregister Ruhr",
        description=(
            "Register wiedernutzbarer Flächen im Ruhrgebiet: Brachflächen, Baulücken, "
            "Gewerbe- und Industrieflächen. / Registry of reusable land in the Ruhr region."
        ),
        version=__version__,
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    app.include_router(imports.router)
    app.include_router(scoring.router)
    return app
