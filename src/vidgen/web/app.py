"""The studio app: the factory, its guard, its JSON errors and the page routes.

:func:`create_app` serves one folder (a batch, or a folder of batches) to a
browser on this machine: pages rendered from ``templates/``, plain files from
``static/`` and the REST API of :mod:`vidgen.web.api`. The guard in front of
everything:

- **token**: when one is set, every request (pages, API, static files) must carry it
  as the ``X-Vidgen-Token`` header, the ``vidgen_token`` cookie or ``?token=``
  (which also sets the cookie); compared in constant time, 401 otherwise.
- **host**: without a token only ``127.0.0.1``, ``localhost`` and ``[::1]`` are
  answered (a web page cannot reach the studio by rebinding its own domain name).
- **origin**: a write whose ``Origin`` is not the studio itself is refused (403).
- **size**: request bodies are counted while they stream in: 1 MiB for JSON, the
  upload limit for ``POST /api/batches``; 413 past it.

Every error is JSON: ``{"error": {"type", "message", "item", "field", "value",
"limit", "hint"}}``, plus ``findings`` when rules refused something (422).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidgen._version import __version__
from vidgen.config import Config, load_config
from vidgen.errors import ConfigError, LedgerError, ProtectedPathError, VidgenError
from vidgen.formats import field_path
from vidgen.web import stats
from vidgen.web.api import router
from vidgen.web.errors import Rejected, StudioError
from vidgen.web.studio import Studio

__all__ = ["create_app", "is_loopback", "resolve_access"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TOKEN_HEADER = "x-vidgen-token"
TOKEN_COOKIE = "vidgen_token"
JSON_BODY_LIMIT = 1 << 20
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,256}$")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
            "x-frame-options": "DENY"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    """The name or address of a ``Host`` header (``[::1]:8765`` -> ``::1``); "" if malformed."""
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


def resolve_access(host: str, token: str | None) -> str | None:
    """The token the studio needs: ``token`` as given; on a host other machines can reach
    and no token given, a new random one (so the studio is never open to a network)."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def _error(status: int, kind: str, message: str, **context: Any) -> JSONResponse:
    body = {"type": kind, "message": message, "item": None, "field": None, "value": None,
            "limit": None, "hint": None, **context}
    return JSONResponse({"error": jsonable_encoder(body)}, status_code=status)


class _Guard:
    """Token, host, origin and body-size checks in front of the whole app (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_upload_bytes: int) -> None:
        self.app, self.token, self.max_upload_bytes = app, token, max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.max_upload_bytes if (request.method, request.url.path) == (
            "POST", "/api/batches") else JSON_BODY_LIMIT
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _error(413, "http", "request body too large", limit=limit)(scope, receive, send)
            return
        set_cookie = self.token is not None and request.query_params.get("token") is not None
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body too large (limit: {limit} bytes)")
            return message

        async def headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers.setdefault(name, value)
                if set_cookie:
                    headers.append("set-cookie", f"{TOKEN_COOKIE}={self.token}; Path=/; "
                                   "HttpOnly; SameSite=Strict")
            await send(message)

        await self.app(scope, counted, headed)

    def _refusal(self, request: Request) -> JSONResponse | None:
        host = request.headers.get("host", "")
        if self.token is None and not is_loopback(_hostname(host)):
            return _error(403, "http", "this studio only answers on this machine's loopback "
                          "address", value=host, hint="open it as http://127.0.0.1:PORT, or "
                          "serve with a --token")
        origin = request.headers.get("origin")
        if request.method not in _SAFE_METHODS and origin is not None and (
                urlsplit(origin).netloc.lower() != host.lower()):
            return _error(403, "http", "cross-site request refused", value=origin)
        if self.token is not None:
            given = (request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
                     or request.cookies.get(TOKEN_COOKIE) or "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return _error(401, "http", "a valid token is required",
                              hint=f"send the {TOKEN_HEADER} header, or open the URL "
                              "printed by `vidgen serve` (it carries ?token=)")
        return None


# --- errors -------------------------------------------------------------------------------


def _status(exc: VidgenError) -> int:
    if isinstance(exc, StudioError):
        return exc.status
    if isinstance(exc, ProtectedPathError):
        return 403
    return 409 if isinstance(exc, LedgerError) else 400


async def _vidgen_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VidgenError)
    body = exc.to_dict()
    body["type"] = body.pop("error")
    content: dict[str, Any] = {"error": body}
    if isinstance(exc, Rejected):
        content["findings"] = [f.to_dict() for f in exc.findings]
    try:
        encoded = jsonable_encoder(content)
    except (TypeError, ValueError):
        body["value"] = repr(body["value"])
        encoded = jsonable_encoder(content)
    return JSONResponse(encoded, status_code=_status(exc))


def _field(loc: tuple[int | str, ...]) -> str | None:
    """A request error's field, without FastAPI's ``body``/``query``/``path`` prefix."""
    return field_path(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc) or None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: list[dict[str, Any]] = [dict(p) for p in exc.errors()]
    first: dict[str, Any] = problems[0] if problems else {
        "loc": (), "msg": "invalid request", "type": ""}
    if first["type"] == "json_invalid":
        reason = str((first.get("ctx") or {}).get("error", ""))
        return _error(400, "InputError", f"not valid JSON: {reason}".rstrip(": "))
    message = str(first["msg"]) + "".join(
        f"; also {_field(tuple(p['loc']))}: {p['msg']}" for p in problems[1:6])
    value = None if first["type"] == "missing" else first.get("input")
    try:
        jsonable_encoder(value)
    except (TypeError, ValueError):
        value = repr(value)
    return _error(400, "InputError", message, field=_field(tuple(first["loc"])), value=value)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = _error(exc.status_code, "http", str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal", f"internal error: {type(exc).__name__}",
                  hint="this is a bug in vidgen; the server log has the details")


# --- the app ------------------------------------------------------------------------------


def create_app(
    root: Path,
    *,
    token: str | None = None,
    hourly_usd: float = 0.0,
    config: Config | None = None,
    max_upload_bytes: int = 256 * 2**20,
) -> FastAPI:
    """The studio for the batches in ``root``.

    Args:
        root: A batch folder, or a folder whose direct subfolders are batches.
        token: Required on every request when set (see :func:`resolve_access`).
        hourly_usd: What an hour of the worker machine costs, for the dashboard.
        config: Effective settings (default: :func:`vidgen.config.load_config`).
        max_upload_bytes: Largest batch upload, all files together.

    Raises:
        ConfigError: ``root`` is not a folder, or the token has characters a URL or a
            cookie would change.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("not a folder", item=root, hint="serve a batch folder or a folder "
                          "of batches")
    if token is not None and not _TOKEN.match(token):
        raise ConfigError("a token is 1-256 letters, digits and . _ ~ -", field="token")
    studio = Studio(root, config or load_config(), token=token, hourly_usd=hourly_usd,
                    max_upload_bytes=max_upload_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio.session.start(studio.root)
        try:
            yield
        finally:  # the workers give their shots back; the batches resume on the next start
            await run_in_threadpool(studio.workers.stop_all)
            studio.session.end(status="ok")

    app = FastAPI(title="vidgen studio", version=__version__, lifespan=lifespan)
    app.state.studio = studio
    app.add_exception_handler(VidgenError, _vidgen_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(_Guard, token=token, max_upload_bytes=max_upload_bytes)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _add_pages(app, studio, token)
    return app


def _add_pages(app: FastAPI, studio: Studio, token: str | None) -> None:
    """The HTML pages; they fetch their data from the API with JavaScript."""
    templates = Jinja2Templates(directory=HERE / "templates")

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name,
                                          {"token": token or "", "api": "/api", **context})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        batches = [stats.batch_summary(b, shots=False) for b in studio.batches()]
        return page(request, "index.html", batches=batches)

    @app.get("/b/{batch}/motion", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/b/{batch}/motion/{shot}", response_class=HTMLResponse, include_in_schema=False)
    def motion(request: Request, batch: str, shot: str | None = None) -> HTMLResponse:
        found = studio.batch(batch)
        shot_ids = [s.shot_id for s in found.manifest.keyframes]
        if shot is not None:
            found.shot(shot)
        return page(request, "motion.html", batch=found.key, shot_ids=shot_ids,
                    shot_id=shot if shot is not None else (shot_ids[0] if shot_ids else None))

    @app.get("/b/{batch}/review", response_class=HTMLResponse, include_in_schema=False)
    def review(request: Request, batch: str) -> HTMLResponse:
        return page(request, "review.html", batch=studio.batch(batch).key)

    @app.get("/b/{batch}/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, batch: str) -> HTMLResponse:
        return page(request, "dashboard.html", batch=studio.batch(batch).key)
