"""What the server answers besides Streamlit's own pages (``app.py`` mounts these routes): exports streamed from
disk behind short-lived links, so a large ZIP never sits in the server's memory."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import LINKS

# True once app.py has mounted the routes in this process; a page run by plain `streamlit run dashboard.py` (or a
# page test) falls back to Streamlit's download button.
MOUNTED = False


async def export_download(request: Request) -> Response:
    link = LINKS.get(request.path_params["token"])
    if link is None or not link.path.is_file():
        return PlainTextResponse("This export link has expired or does not exist: export again from History.",
                                 status_code=404)
    return FileResponse(link.path, filename=link.filename, media_type=link.mime)


def routes() -> list[Route]:
    """The routes, at the root and under ``server.baseUrlPath`` (Streamlit does not prefix an app's own routes;
    behind a proxy at /v2i/ the pages' relative links reach /v2i/exports/...)."""
    from streamlit import config  # (Streamlit's configuration, read when app.py mounts the routes)

    global MOUNTED
    MOUNTED = True
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    prefixes = ["", f"/{base}"] if base else [""]
    return [Route(f"{prefix}/exports/{{token}}", export_download, methods=["GET", "HEAD"]) for prefix in prefixes]
