"""Cycles: run one (or a dry run) now, history, open errors and retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crmsync import operations as ops
from crmsync.web.api._common import NamePath, Ws

router = APIRouter(tags=["runs"])


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(
        default=False,
        description="Read and decide, write nothing; the answer lists every write "
        "the cycle would make, record by record.",
    )


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[str] = Field(
        default_factory=list,
        description="Record ids to retry; every parked record when empty.",
        max_length=10_000,
    )


class Retried(BaseModel):
    retried: int = Field(description="How many parked records the next cycle retries.")


class Queued(BaseModel):
    queued: bool = Field(default=True, description="Always true: handed to a worker.")
    task_id: str = Field(description="The Celery task that runs the cycle.")
    queue: str = Field(description="The queue it waits in.")


@router.post(
    "/integrations/{name}/runs",
    response_model=ops.CycleSummary,
    responses={
        202: {
            "model": Queued,
            "description": "The integration runs on the Celery workers: a cycle was "
            "queued for them; its run appears in the history when it ends.",
        }
    },
)
def run_now(
    ws: Ws, name: NamePath, body: RunRequest | None = None
) -> ops.CycleSummary | JSONResponse:
    """Run one cycle now (the integration must be active) or a dry run (any state).
    A cycle that fails on a connector error answers with status `failed`. An
    integration on the Celery workers gets its cycle queued there (202)."""
    dry_run = body.dry_run if body is not None else False
    queued = None if dry_run else ops.enqueue_if_on_workers(ws, name)
    if queued is not None:
        answer = Queued(task_id=queued.task_id, queue=queued.queue)
        return JSONResponse(answer.model_dump(), status_code=202)
    return ops.cycle_summary(ops.run_cycle(ws, name, dry_run=dry_run))


@router.get("/integrations/{name}/runs", response_model=list[ops.RunEntry])
def history(
    ws: Ws, name: NamePath, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[ops.RunEntry]:
    """The last runs, newest first, with counts per side and per rule."""
    return ops.run_history(ws, name, limit=limit)


@router.get("/integrations/{name}/runs/{run_id}", response_model=ops.RunEntry)
def run_detail(
    ws: Ws, name: NamePath, run_id: Annotated[int, Path(ge=1)]
) -> ops.RunEntry:
    """One run of the integration."""
    return ops.get_run(ws, name, run_id)


@router.get("/integrations/{name}/errors", response_model=ops.ErrorListing)
def errors(
    ws: Ws, name: NamePath, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> ops.ErrorListing:
    """Open per-record errors, newest first, with the vendor's reason and field."""
    return ops.open_errors(ws, name, limit=limit)


@router.post("/integrations/{name}/errors/retry", response_model=Retried)
def retry(ws: Ws, name: NamePath, body: RetryRequest | None = None) -> Retried:
    """Unpark parked records (all, or those named) for the next cycle."""
    records = body.records if body is not None else []
    return Retried(retried=ops.retry_errors(ws, name, records or None))


@router.get(
    "/integrations/{name}/records/{object_name}/{record_id}",
    response_model=ops.RecordStory,
)
def story(
    ws: Ws,
    name: NamePath,
    object_name: Annotated[str, Path(min_length=1, max_length=128)],
    record_id: Annotated[str, Path(min_length=1, max_length=255)],
) -> ops.RecordStory:
    """A linked pair's story, by one of its records' object and id: each mapped
    field's value on both sides as the last cycle left it, which rule wrote each value
    in which run (the decision log), and its open errors."""
    return ops.explain(ws, name, record_id, object_name=object_name)


@router.get("/integrations/{name}/explain", response_model=ops.RecordStory)
def explain(
    ws: Ws,
    name: NamePath,
    record: Annotated[str, Query(min_length=1, max_length=320)],
) -> ops.RecordStory:
    """A linked pair's story (``crmsync explain``): ``record`` is a platform or CRM
    record id, or a match key such as an email that names exactly one pair."""
    return ops.explain(ws, name, record)
