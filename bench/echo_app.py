"""The smallest ASGI application: answers every request with ``?bytes=N`` zero bytes.

The maps benchmark serves it with the same uvicorn as landreg to measure what any Python HTTP
answer costs on this machine (server and client), the floor under every tile request.
"""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    size = int(dict(part.split("=") for part in scope["query_string"].decode().split("&") if part).get("bytes", 0))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]}
    )
    await send({"type": "http.response.body", "body": bytes(size)})
