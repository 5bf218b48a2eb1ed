"""The registry's HTTP API (FastAPI). A thin adapter over the ``landreg`` core."""
