"""The HTTP API (``python -m core serve``): FastAPI over the same core functions, limits, roles and fair queue as
the dashboard and the command line. Every request carries a personal token (``Authorization: Bearer TOKEN``) and
acts as its person; errors are JSON ``{"error": "..."}`` with the right status, never a traceback. OpenAPI docs at
``/docs``."""


import functools
import json
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from ..analytics import aggregates
from ..config import Settings
from ..config.recipes import GenerationOptions
from ..errors import (
    AudioError, DoubtfulSpeechError, InvalidOptionError, NoSpeechError, NotFoundError, StorageError, V2IError,
)
from ..execution.hearing import heard_request
from ..execution.jobs import ACTIVE, JobQueue, QuotaError
from ..generation.request import GenerationRequest
from ..history import audit, disk
from ..history.paths import check_id
from ..history.query import HistoryFilter
from ..history.store import Store, public_record
from ..models.cache import shared_models
from ..people import roles
from ..people.person import Person
from ..people.roles import ForbiddenError
from ..team import gate, tokens
from ..team.shared import collect, collections_of, names_of, rate, resolve_person

log = logging.getLogger("v2i.api")
PREFIX = "/api/v1"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


# A V2IError's class decides its status; the message is already meant for a person.
STATUS = [(ForbiddenError, 403), (NotFoundError, 404), (QuotaError, 429), (StorageError, 503),
          (AudioError, 422), (NoSpeechError, 422), (DoubtfulSpeechError, 422), (InvalidOptionError, 422),
          (V2IError, 400)]


@dataclass
class RateLimit:
    """Requests per minute per person (whatever number of tokens they use), in a sliding minute."""

    per_minute: int
    clock: Any = time.monotonic
    _seen: dict[str, deque] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                wait = math.ceil(60 - (now - seen[0]))
                raise ApiError(429, f"too many requests: at most {self.per_minute} a minute per person; try again in "
                                    f"{wait} s", {"Retry-After": str(wait)})
            seen.append(now)


class Rating(BaseModel):
    stars: int | None = None
    favourite: bool | None = None
    blind: bool = False  # given without seeing the image's maker or others' stars (someone else's image only)
    note: str | None = None


class CollectionItem(BaseModel):
    generation_id: str


class JobForm(BaseModel):
    """The form fields of ``POST /jobs`` beside the recording (``file``); an unknown field is refused by name."""

    model_config = ConfigDict(extra="forbid")
    filename: str = "recording"
    recipe: str | None = None
    steps: int | None = None
    seed: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    size: int | None = None
    style: str | None = None
    negative: str | None = None
    prompt: str | None = None
    translate: bool = False
    force: bool = False


FORM_OVERHEAD = 64 * 1024  # the form's other fields and multipart framing, beside the recording
JOB_FORM_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "the recording"},
                   **{name: schema for name, schema in JobForm.model_json_schema()["properties"].items()
                      if name != "filename"}}}}}}}


def _declared_length(request: Request, limit: int, limit_mb: float) -> int | None:
    """The body's declared length, refused at once (413) when it is over ``limit``."""
    text = request.headers.get("content-length")
    if text is None:
        return None
    if not text.isdigit():
        raise ApiError(400, "Content-Length is not a number")
    if int(text) > limit:
        raise ApiError(413, f"the recording is over the limit: at most {limit_mb:g} MB")
    return int(text)


def _may_generate(api: "Api", request: Request) -> Person:
    """The caller, if their role lets them generate."""
    person = api.caller(request)
    audit.require(api.store, person, "generate")
    return person


async def _read_job_form(request: Request, max_bytes: int, limit_mb: float) -> tuple[bytes, JobForm]:
    """The recording and the fields of a job's form, never more than the limit read (413 past it)."""
    received = 0

    async def capped():
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > max_bytes + FORM_OVERHEAD:
            raise ApiError(413, f"the recording is over the limit: at most {limit_mb:g} MB")
        return message

    form = await Request(request.scope, capped).form(max_files=1, max_fields=20, max_part_size=FORM_OVERHEAD)
    try:
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload):
            raise ApiError(422, "file: the recording is missing (send it as the form's file field)")
        audio = await upload.read(max_bytes + 1)
        if len(audio) > max_bytes:
            raise ApiError(413, f"the recording is over the limit: at most {limit_mb:g} MB")
        values = {key: value for key, value in form.multi_items() if key != "file" and isinstance(value, str)}
        try:
            fields = JobForm.model_validate({**values, "filename": upload.filename or "recording"})
        except ValidationError as err:
            first = err.errors()[0]
            raise ApiError(422, f"{'.'.join(str(p) for p in first['loc']) or 'the form'}: {first['msg']}") from None
        return audio, fields
    finally:
        await form.close()


@dataclass
class Api:
    """What every route shares: the settings, the store and queue, the rate limit, and who is asking."""

    settings: Settings
    store: Store
    queue: JobQueue
    limit: RateLimit

    def caller(self, request: Request) -> Person:
        """Who a request acts as: its token's person, while the token is live and the gate still lets them in;
        then their rate and their role under the current lists."""
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        person_id = tokens.person_of_token(self.store, token) if token else None
        team = gate.current_gate()
        if person_id is None or not team.lets_in(self.store, person_id):
            raise ApiError(401, "a valid personal token is needed: Authorization: Bearer TOKEN "
                                "(python -m core tokens create --as NAME, or the dashboard's Account panel); a "
                                "token stops working when it expires, is revoked, or its person is removed",
                           {"WWW-Authenticate": "Bearer"})
        self.limit.check(person_id)
        name = names_of(self.store, [person_id]).get(person_id, person_id)
        source = request.client.host if request.client else "unknown"
        return roles.role_for(Person(person_id, name, source=f"api {source}"),
                              *gate.role_lists(self.settings.admins, self.settings.viewers))

    def owned_job(self, job_id: str, person: Person) -> dict[str, Any]:
        check_id(job_id)
        job = self.queue.get(job_id)
        if job["created_by"] != person.id and person.role != roles.ADMIN:
            raise NotFoundError(f"no job of yours with id {job_id}")
        return job

    def job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue
        eta = queue.eta_seconds(job["id"], aggregates.typical_seconds(self.store)) if job["status"] == "queued" else None
        return {"id": job["id"], "status": job["status"], "stage": job["stage"], "step": job["step"],
                "total_steps": job["total_steps"], "position": queue.position(job["id"]),
                "eta_s": None if eta is None else round(eta, 1),
                "generation_id": job["generation_id"], "error": job["error"],
                "doubtful_words": json.loads(job["doubtful_words"] or "[]"), "created_by": job["created_by"],
                "created_at": job["created_at"], "finished_at": job["finished_at"]}

    def generation_row(self, generation_id: str) -> dict[str, Any]:
        return self.store.get_generation(self.store.resolve_id(generation_id))  # a whole id or a unique prefix


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The API for one data folder: its errors as JSON, then its routes by group."""
    store = store or Store(settings.data_dir)
    api = Api(settings, store, JobQueue.for_settings(store, settings), RateLimit(settings.api_rate_per_minute))
    app = FastAPI(title="Voice to Image API", version="1",
                  description="Send a recording, follow its job, fetch the image; browse, rate and collect. "
                              "Authenticate with a personal token: `Authorization: Bearer TOKEN` "
                              "(`python -m core tokens create --as NAME`).")
    app.state.store, app.state.queue = store, api.queue
    errors_as_json(app)
    app.include_router(job_routes(api))
    app.include_router(generation_routes(api))
    app.include_router(health_route(app, api))
    return app


def errors_as_json(app: FastAPI) -> None:
    """Every error is JSON ``{"error": ...}`` with its status; an unexpected one says only that the log has it."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)

    @app.exception_handler(V2IError)
    async def core_error(request: Request, err: V2IError):
        status = next(code for kind, code in STATUS if isinstance(err, kind))
        doubted = {"doubtful_words": list(err.doubtful_words)} if isinstance(err, DoubtfulSpeechError) else {}
        return JSONResponse({"error": str(err), **doubted}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        return JSONResponse({"error": f"{where or 'the request'}: {first.get('msg', 'is not valid')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception):
        log.exception("an API request failed")
        return JSONResponse({"error": "the server could not do that (the server log has the details)"},
                            status_code=500)


def job_routes(api: Api) -> APIRouter:
    """Queue a recording, follow its job, cancel it."""
    router, queue, settings = APIRouter(), api.queue, api.settings
    Caller = Annotated[Person, Depends(api.caller)]

    @router.post(f"{PREFIX}/jobs", status_code=201, summary="Queue one recording as a job",
                 openapi_extra=JOB_FORM_DOC)
    async def submit(request: Request):
        # 1. Who asks, whether they may, whether the body may be that long and whether their quota has room: all
        #    before a byte of the body is read (off the event loop: these read the database).
        max_bytes = int(settings.max_upload_mb * 2 ** 20)
        person = await run_in_threadpool(_may_generate, api, request)
        declared = _declared_length(request, max_bytes + FORM_OVERHEAD, settings.max_upload_mb)
        await run_in_threadpool(queue.check_quota, person.id, max(0, (declared or 0) - FORM_OVERHEAD))
        # 2. The body, read up to the limit (a body without a length, or longer than it said, stops there: 413).
        audio, fields = await _read_job_form(request, max_bytes, settings.max_upload_mb)
        # 3. The request, checked; decoding the recording and queueing it run off the event loop.
        given = (("steps", fields.steps), ("scheduler", fields.scheduler), ("guidance", fields.guidance),
                 ("seed", fields.seed), ("width", fields.size), ("height", fields.size))
        options = GenerationOptions.from_recipe(fields.recipe or settings.recipe,
                                                **{k: v for k, v in given if v is not None})
        request_ = GenerationRequest(filename=fields.filename, prompt=fields.prompt, negative_prompt=fields.negative,
                                     translate=fields.translate, options=options, force=fields.force, source="api",
                                     **({"style": fields.style} if fields.style else {}))
        # 4. The doubt guard: whisper hears it here (unless it insists or brings its own prompt), and words it
        #    doubted that would reach the image answer 422, naming them; the job then paints what was heard.
        request_ = await run_in_threadpool(functools.partial(heard_request, settings=settings,
                                                             models=shared_models(settings)), audio, request_)
        job_id = await run_in_threadpool(queue.submit, audio, request_, created_by=person.id)
        return api.job_json(await run_in_threadpool(queue.get, job_id))

    @router.get(f"{PREFIX}/jobs/{{job_id}}", summary="A job's status, stage, step, place and generation")
    def job(job_id: str, person: Caller):
        return api.job_json(api.owned_job(job_id, person))

    @router.delete(f"{PREFIX}/jobs/{{job_id}}", summary="Cancel a job (queued: at once; running: at its next step)")
    def cancel(job_id: str, person: Caller):
        job = api.owned_job(job_id, person)
        if job["status"] not in ACTIVE:
            raise ApiError(409, f"job {job_id} is {job['status']}: only a queued or running job can be cancelled")
        queue.cancel(job_id)
        return api.job_json(queue.get(job_id))

    return router


def generation_routes(api: Api) -> APIRouter:
    """Browse the history, fetch an image or a recording, rate, collect."""
    router, store = APIRouter(), api.store
    Caller = Annotated[Person, Depends(api.caller)]

    @router.get(f"{PREFIX}/generations", summary="Stored generations, newest first (history's filters)")
    def generations(person: Caller, search: str | None = None, by: str | None = None, collection: str | None = None,
                    min_rating: float | None = None, limit: int = 20, offset: int = 0):
        if not 1 <= limit <= 500 or offset < 0:
            raise ApiError(422, "limit must be 1 to 500 and offset at least 0")
        where = HistoryFilter(search=search, created_by=resolve_person(store, by) if by else None,
                              collection=collection, min_rating=min_rating)
        rows = store.query_generations(where, limit=limit, offset=offset)
        kept = collections_of(store, [r["id"] for r in rows])
        # Plain JSON of plain values: json.dumps directly (FastAPI's generic encoder costs more than the query).
        return JSONResponse({"total": store.count_generations(where), "limit": limit, "offset": offset,
                             "generations": [public_record(r, kept[r["id"]]) for r in rows]})

    @router.get(f"{PREFIX}/generations/{{generation_id}}", summary="One generation, all its fields")
    def generation(generation_id: str, person: Caller):
        row = api.generation_row(generation_id)
        return public_record(row, collections_of(store, [row["id"]])[row["id"]])

    @router.get(f"{PREFIX}/generations/{{generation_id}}/image", summary="The PNG, as stored")
    def image(generation_id: str, person: Caller):
        row = api.generation_row(generation_id)
        return FileResponse(store.file_path(row["image_path"]), media_type="image/png", filename=f"{row['id']}.png")

    @router.get(f"{PREFIX}/generations/{{generation_id}}/audio", summary="The original recording, as stored")
    def audio(generation_id: str, person: Caller):
        row = api.generation_row(generation_id)
        path = store.file_path(row["audio_path"])
        return FileResponse(path, filename=f"{row['id']}{path.suffix}")

    @router.put(f"{PREFIX}/generations/{{generation_id}}/rating", summary="Your stars (1-5) and/or favourite mark")
    def put_rating(generation_id: str, rating: Rating, person: Caller):
        audit.require(store, person, "rate", target=generation_id)
        return rate(store, api.generation_row(generation_id)["id"], person, stars=rating.stars,
                    favourite=rating.favourite, blind=rating.blind, note=rating.note)

    @router.post(f"{PREFIX}/collections/{{name}}/items", status_code=201, summary="Add a generation to a collection")
    def add_item(name: str, item: CollectionItem, person: Caller):
        audit.require(store, person, "collect", target=item.generation_id)
        stored = collect(store, api.generation_row(item.generation_id)["id"], name, person)
        return {"collection": stored, "generation_id": item.generation_id}

    return router


def health_route(app: FastAPI, api: Api) -> APIRouter:
    """Database, worker, queue and disk, without a token."""
    router, store, queue = APIRouter(), api.store, api.queue

    @router.get(f"{PREFIX}/health", summary="Database, worker, queue and disk, without a token")
    def health():
        try:
            store.query("SELECT 1")
            database = "ok"
        except V2IError as err:
            database = str(err)
        counts = queue.counts()
        # A worker of this process, or any on this data folder (the dashboard's, `core worker`) that beats.
        alive = getattr(app.state, "worker", None) is not None or queue.live_workers() > 0
        return {"database": database, "worker_alive": alive, "queue_length": counts["queued"],
                "running": counts["running"], "free_disk_mb": round(disk.free_bytes(store.data_dir) / 2 ** 20)}

    return router
