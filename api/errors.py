"""Domain refusals to HTTP answers, in one table (as tipg and titiler do).

Routes raise the core's exceptions and never decide a status code for them. Every error answer
has the same body: ``{"detail": <message>, "status": <code>}`` and, where one input is at fault,
``"field"`` (and ``"reason"``); a malformed parameter caught by FastAPI's own validation is a 400
of the same shape. A database that went away (stopped, restarting, unreachable) is a 503 with
Retry-After, never a 500: the pool reconnects once it is back (:func:`landreg.db.make_engine`).
"""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from psycopg.errors import QueryCanceled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SQLOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from landreg.access import AccessDenied
from landreg.auth import TokenError
from landreg.errors import Conflict, DomainError, Gone, InvalidParameter, NotFound, VersionConflict, VersionRequired
from landreg.export import ExportError
from landreg.importer import FileTooLarge, ImportRefused, InvalidOption
from landreg.importer.refusals import form_field
from landreg.messages import text
from landreg.params import etag
from landreg.parcels import ParcelError
from landreg.scoring.profiles import ProfileError
from landreg.tiles import TileError
from landreg.users import CsrfRefused, SignInRefused, Throttled

#: Exception class -> HTTP status; the first class in this order that an exception is an instance of wins.
STATUS_CODES: dict[type[Exception], int] = {
    VersionConflict: 412,
    Throttled: 429,  # too many failed sign-ins; Retry-After says when
    SignInRefused: 401,
    CsrfRefused: 403,
    VersionRequired: 428,
    Gone: 410,
    Conflict: 409,
    NotFound: 404,
    AccessDenied: 403,
    ParcelError: 422,
    ProfileError: 422,
    ExportError: 422,
    TokenError: 422,
    TileError: 404,  # a tile outside the matrix does not exist
    FileTooLarge: 413,  # an upload over the limit, named in the message
    InvalidOption: 400,  # an import option (form field) malformed: unknown encoding, mode, CRS
    ImportRefused: 422,  # a file refused as a whole (unreadable, no CRS, layer, mapping)
    InvalidParameter: 400,
    DomainError: 400,
}


#: Seconds to wait after the database was not reachable: a restart or a failover takes a few.
DATABASE_RETRY_AFTER_S = 5


def error_body(status: int, detail, field: str | None = None, **extra) -> dict:
    body = {"detail": detail, "status": status}
    if field is not None:
        body["field"] = field
    return body | extra


def _status_of(exc: Exception) -> int:
    return next(code for cls, code in STATUS_CODES.items() if isinstance(exc, cls))


#: Where people read answers as pages: the workspace and the public site search (its saved
#: searches' feeds are read by feed readers, which get JSON as the API's callers do).
PAGE_PREFIXES = ("/app", "/standorte")


def is_page_path(path: str) -> bool:
    """Whether an address is a page's, whose errors are answered with a page, not with JSON."""
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES) and not path.endswith(".atom")


def _is_page(request: Request) -> bool:
    return is_page_path(request.url.path)


def _page(request: Request, status: int, message: str, field: str | None = None, headers: dict | None = None):
    from api.web.pages import error_page

    response = error_page(request, status, message, field)
    response.headers.update(headers or {})
    return response


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = _status_of(exc)
    extra: dict = {}
    headers: dict[str, str] = {}
    if isinstance(exc, ParcelError):
        extra = {"reason": exc.reason}
    if isinstance(exc, VersionConflict):
        headers["ETag"] = etag(exc.current_version)
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    if _is_page(request):
        said = exc.text(_page_lang(request)) if isinstance(exc, DomainError) else str(exc)
        return _page(request, status, said, getattr(exc, "field", None), headers)
    return JSONResponse(
        error_body(status, str(exc), getattr(exc, "field", None), **extra), status_code=status, headers=headers
    )


#: What a workspace page says, in German, of a parameter the framework refused (pydantic's error
#: type -> text with its context); any other type keeps pydantic's English words.
_GERMAN = {
    "repeated": "{count}-mal angegeben; nur einmal angeben",
    "greater_than_equal": "muss mindestens {ge} sein",
    "less_than_equal": "darf höchstens {le} sein",
    "greater_than": "muss größer als {gt} sein",
    "less_than": "muss kleiner als {lt} sein",
    "int_parsing": "muss eine ganze Zahl sein",
    "int_type": "muss eine ganze Zahl sein",
    "int_from_float": "muss eine ganze Zahl sein",
    "float_parsing": "muss eine Zahl sein",
    "float_type": "muss eine Zahl sein",
    "finite_number": "muss eine endliche Zahl sein",
    "bool_parsing": "muss ja oder nein sein (true oder false)",
    "missing": "fehlt",
    "string_too_long": "ist zu lang (höchstens {max_length} Zeichen)",
    "string_too_short": "ist zu kurz (mindestens {min_length} Zeichen)",
    "string_pattern_mismatch": "hat nicht die verlangte Form",
    "literal_error": "erlaubt: {expected}",
    "enum": "erlaubt: {expected}",
    "uuid_parsing": "ist keine gültige Kennung (UUID)",
    "date_parsing": "ist kein Datum (JJJJ-MM-TT)",
    "date_from_datetime_parsing": "ist kein Datum (JJJJ-MM-TT)",
}


def _page_lang(request: Request) -> str:
    """The language of a workspace page's answer (German unless chosen otherwise); the API's: English."""
    if not _is_page(request):
        return "en"
    from api.web.pages import lang_of

    return lang_of(request)


def _said(error: dict, lang: str) -> str:
    """Pydantic's refusal of one value, in German for a German page where the catalogue above has it."""
    template = _GERMAN.get(error.get("type", "")) if lang == "de" else None
    if template is None:
        return error.get("msg", "invalid")
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return error.get("msg", "invalid")


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A parameter of the wrong type or range: 400, naming it and what it takes."""
    problems = []
    first_field = None
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":  # loc: ("body", position); msg: "JSON decode error"
            first_field = first_field or "body"
            reason = (error.get("ctx") or {}).get("error", "")
            problems.append(f"body: not valid JSON at character {loc[-1]}{f' ({reason})' if reason else ''}")
            continue
        location = [part for part in loc if part not in ("query", "path", "body", "header")]
        name = ".".join(location) or (loc[0] if loc else "request")  # the body as a whole: "body"
        first_field = first_field or name
        problem = f"{name}: {_said(error, _page_lang(request))}"
        if loc == ["body"] and "json" not in request.headers.get("content-type", ""):
            problem += f"; {_SEND_JSON}"
        problems.append(problem)
    if _is_page(request):
        return _page(request, 400, "; ".join(problems), first_field)
    return JSONResponse(error_body(400, "; ".join(problems), first_field), status_code=400)


#: How a JSON body is sent, said where one could not be read.
_SEND_JSON = "send a JSON object with Content-Type: application/json"
#: FastAPI's words for a body its JSON parser gave up on (nested thousands deep, or not JSON at all).
_UNREADABLE_BODY = "There was an error parsing the body"


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """HTTPExceptions raised by routes and by Starlette (404 of an unknown path, 405), same shape."""
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        message = f"body: could not be read (JSON nested too deeply, or not JSON); {_SEND_JSON}"
        return JSONResponse(error_body(400, message, "body"), status_code=400)
    if _is_page(request):
        return _page(request, exc.status_code, str(exc.detail), headers=exc.headers)
    return JSONResponse(error_body(exc.status_code, exc.detail), status_code=exc.status_code, headers=exc.headers)


async def import_refused(request: Request, exc: ImportRefused) -> JSONResponse:
    """An import refused: its message with the options it names spelled as form fields."""
    status = _status_of(exc)
    headers = {"Connection": "close"} if isinstance(exc, FileTooLarge) else {}  # the rest of the body is not read
    return JSONResponse(error_body(status, exc.render(form_field), exc.field), status_code=status, headers=headers)


def _database_refusal(exc: Exception) -> tuple[str, str] | None:
    """Message and Retry-After of a database error that is no fault of the request: the statement
    timeout (SQLSTATE 57014), or the database down or gone (every OperationalError, a connection
    SQLAlchemy found lost). None: any other (a bug: a 500)."""
    from api.limits import statement_timeout_message, statement_timeout_retry_after  # it imports this module

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, QueryCanceled):
        return statement_timeout_message(), statement_timeout_retry_after()
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if lost or isinstance(exc, SQLOperationalError | psycopg.OperationalError):
        return f"{text('database.unavailable', 'de')} / {text('database.unavailable')}", str(DATABASE_RETRY_AFTER_S)
    return None


def _holds_nul(exc: Exception) -> bool:
    """A text value with a NUL character, which the driver refuses to send (PostgreSQL's text cannot
    hold it): the request's fault wherever a check before the database missed it."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, psycopg.DataError) and "NUL (0x00)" in str(orig)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After for a database that is away or a statement that ran too long; 400 for a
    value the driver cannot send (a NUL character)."""
    if _holds_nul(exc):
        message = f"{text('request.nul', 'de')} / {text('request.nul')}"
        if _is_page(request):
            return _page(request, 400, message)
        return JSONResponse(error_body(400, message), status_code=400)
    refusal = _database_refusal(exc)
    if refusal is None:
        raise exc
    message, retry_after = refusal
    headers = {"Retry-After": retry_after}
    if _is_page(request):
        if not hasattr(request.state, "web_session"):  # not found yet: the page asks the database no more
            request.state.web_session = None
        return _page(request, 503, message, headers=headers)
    return JSONResponse(error_body(503, message), status_code=503, headers=headers)


async def sign_in_required(request: Request, exc: Exception) -> RedirectResponse:
    """A workspace page without a session: to the sign-in page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/app/login?next={quote(target, safe='')}", status_code=303)


def add_exception_handlers(app: FastAPI) -> None:
    from api.web.session import SignInRequired

    app.add_exception_handler(SignInRequired, sign_in_required)
    for cls in STATUS_CODES:
        app.add_exception_handler(cls, import_refused if issubclass(cls, ImportRefused) else domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(psycopg.OperationalError, database_error)  # a driver error SQLAlchemy did not wrap
    app.add_exception_handler(psycopg.DataError, database_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def handler_for(app, exc: Exception):
    """The app's exception handler for ``exc``, looked up by its classes as Starlette does (for the
    layers that answer before routing: :mod:`api.tilehits`, :mod:`api.itemhits`)."""
    return next((app.exception_handlers[cls] for cls in type(exc).__mro__ if cls in app.exception_handlers), None)
