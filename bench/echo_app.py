"""The smallest ASGI application: answers every request with ``?bytes=N`` zero bytes.

The maps benchmark serves it with the same uvicorn as landreg to measure what any Python HTTP
answer costs on this machine (server and client), the floor under every tile request.

``?tile=NAME`` answers instead with file NAME of the directory ``ECHO_TILES_DIR`` as a tile, gzipped
(``Content-Encoding: gzip``) when NAME ends with ``.gz``: the very bytes a server sent, so that the
client decompresses them as it did that server's (the tile cache benchmark). The files are read
once, at the first request for each.
"""

import os

_TILES: dict[str, bytes] = {}


def _tile(name: str) -> bytes:
    if name not in _TILES:
        with open(os.path.join(os.environ["ECHO_TILES_DIR"], os.path.basename(name)), "rb") as f:
            _TILES[name] = f.read()
    return _TILES[name]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    query = dict(part.split("=") for part in scope["query_string"].decode().split("&") if part)
    if "tile" in query:
        body = _tile(query["tile"])
        headers = [(b"content-type", b"application/vnd.mapbox-vector-tile")]
        if query["tile"].endswith(".gz"):
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    size = int(query.get("bytes", 0))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]}
    )
    await send({"type": "http.response.body", "body": bytes(size)})
