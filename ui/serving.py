"""What the server answers besides Streamlit's own pages (``app.py`` mounts these routes): exports streamed from
disk behind short-lived links, so a large ZIP never sits in the server's memory. Starlette only, no Streamlit."""

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
    global MOUNTED
    MOUNTED = True
    return [Route("/exports/{token}", export_download, methods=["GET", "HEAD"])]
