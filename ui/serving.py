"""What the server answers besides Streamlit's own pages (``app.py`` mounts these routes): exports streamed from
disk behind short-lived links, so a large ZIP never sits in the server's memory; and the sign-in's cookie, which
a page cannot set (``/session/start`` sets it from a one-time grant and goes on to the page the person opened,
``/session/end`` clears it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from core import LINKS, sessions

# True once app.py has mounted the routes in this process; a page run by plain `streamlit run dashboard.py` (or a
# page test) falls back to Streamlit's download button.
MOUNTED = False


async def export_download(request: Request) -> Response:
    link = LINKS.get(request.path_params["token"])
    if link is None or not link.path.is_file():
        return PlainTextResponse("This export link has expired or does not exist: export again from History.",
                                 status_code=404)
    return FileResponse(link.path, filename=link.filename, media_type=link.mime)


def base_path() -> str:
    """Where the app is served: "" at the root, "/v2i" under ``server.baseUrlPath`` "v2i"."""
    from streamlit import config  # (Streamlit's configuration, read when a route or a page needs it)

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def safe_next(target: str | None) -> str:
    """A page of this app to go on to: a path on this server ("/history?id=..."), never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return base_path() + "/"
    return target


def _secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through the proxy that says so)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").split(",")[0] == "https"


async def session_start(request: Request) -> Response:
    """Set the session's cookie from a one-time grant (HttpOnly, SameSite=Lax, Secure over HTTPS, expiring with
    the session), then go on to the page the person opened."""
    taken = sessions.GRANTS.take(request.query_params.get("grant", ""))
    answer = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    answer.headers["Cache-Control"] = "no-store"
    if taken is not None:
        value, expires = taken
        answer.set_cookie(sessions.COOKIE, value, expires=expires, path="/", httponly=True, samesite="lax",
                          secure=_secure(request))
    return answer


async def session_end(request: Request) -> Response:
    """Clear the session's cookie (the session itself was ended by the page) and go back to the sign-in."""
    answer = RedirectResponse(base_path() + "/", status_code=303)
    answer.headers["Cache-Control"] = "no-store"
    answer.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return answer


def routes() -> list[Route]:
    """The routes, at the root and under ``server.baseUrlPath`` (Streamlit does not prefix an app's own routes;
    behind a proxy at /v2i/ the pages' relative links reach /v2i/exports/...)."""
    global MOUNTED
    MOUNTED = True
    base = base_path()
    prefixes = ["", base] if base else [""]
    return [route for prefix in prefixes for route in (
        Route(f"{prefix}/exports/{{token}}", export_download, methods=["GET", "HEAD"]),
        Route(f"{prefix}/session/start", session_start, methods=["GET"]),
        Route(f"{prefix}/session/end", session_end, methods=["GET"]),
    )]
