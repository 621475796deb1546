"""The FastAPI application: one factory for the Serve ingress replica and for in-process tests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from api.errors import document_errors, install_error_handlers
from api.middleware import BodySizeLimitMiddleware, QueryLengthLimitMiddleware, RequestIdMiddleware
from api.routers import (
    CheckedRoute,
    agents,
    assistants,
    auth,
    batches,
    compliance,
    customers,
    health,
    marketing,
    memory,
    messages,
    openai_compat,
    privacy,
    products,
    prompts,
    runs,
    social,
    tenants,
    threads,
    usage,
)
from api.schemas.runs import run_record_body
from api.static_console import ConsoleFiles
from llm.errors import LLMError
from runtime import __version__
from runtime.backends import Backends
from runtime.services import Services
from runtime.settings import Settings
from telemetry.log_masking import install_log_masking

# Statuses an LLM call answers with (400, 404 unknown model, 429, 502, 504), and a run of the agent graph
# (+ 503: an agent or a replica down).
LLM_ERRORS = tuple(sorted({error.status for error in LLMError.__subclasses__()}))
RUN_ERRORS = (*LLM_ERRORS, 503)

# What handlers raise beyond what their dependencies and parameters imply (auth, tenancy, 404 for path ids,
# 400/413/422 for bodies: see api.errors.document_errors).
HANDLER_ERRORS: dict[str, tuple[int, ...]] = {
    "POST /v1/auth/token": (401, 403),
    "PUT /v1/tenants/{tenant_id}": (400,),
    "PUT /v1/assistants/{assistant_id}": (400,),
    "POST /v1/prompts/{assistant_id}": (400,),
    "PUT /v1/prompts/{tenant_id}/{assistant_id}": (400, 409),
    "POST /v1/prompts/{assistant_id}/clone": (400,),
    "POST /v1/threads": (404,),
    "POST /v1/threads/{thread_id}/info": (400,),
    "GET /v1/threads/{thread_id}/messages": (400,),
    "POST /v1/threads/{thread_id}/runs/wait": (*RUN_ERRORS, 409),
    "POST /v1/threads/{thread_id}/runs/stream": (409,),  # later failures are run.failed events
    "POST /v1/threads/{thread_id}/runs/async": (400, 409),
    "POST /v1/threads/{thread_id}/runs/suggestion": RUN_ERRORS,
    "POST /v1/products/import": (400, 415),
    "GET /v1/products/search": (400,),
    "POST /v1/memory/insert": (404,),
    "POST /v1/memory/delete": (404,),
    "GET /v1/memory/search": (400, 404),
    "POST /v1/messages": LLM_ERRORS,
    "POST /v1/messages/responses": LLM_ERRORS,
    "POST /v1/messages/responses/structured": LLM_ERRORS,
    "POST /v1/chat/completions": (*RUN_ERRORS, 409),
    "POST /v1/agents/{name}/invoke": LLM_ERRORS,
    "PUT /v1/compliance/rules": (400, 409),
    "POST /v1/compliance/rules/rollback": (400, 404),
    # The Social agent: its LLM calls, its refusals (400), a thread that is not found, Compliance down (503).
    **{f"POST /v1/social-media/{name}": (400, *LLM_ERRORS, 503) for name in ("comment", "reply", "keywords", "chat", "beautify")},
    "POST /v1/social-media/moments": (400, 404, *LLM_ERRORS, 503),
    "POST /v1/social-media/reload-prompt": (400,),
    "POST /v1/marketing/plans": (*LLM_ERRORS, 503),
    "POST /v1/batches": (400,),
    "GET /v1/batches/{batch_id}": (404,),
    "GET /v1/batches/{batch_id}/results": (404,),
    "POST /v1/batches/{batch_id}/cancel": (404, 409),
    "POST /v1/threads/{thread_id}/runs/{run_id}/cancel": (409,),
    **{f"POST /v1/threads/{{thread_id}}/{name}": (*LLM_ERRORS, 503) for name in ("report", "label", "profile")},
    "DELETE /v1/threads/{thread_id}": (400, 404),
    "GET /v1/threads/{thread_id}/export": (404,),
    "GET /v1/erasures/{erasure_id}": (404,),
}


def create_app(settings: Settings, behind_serve_proxy: bool = False, backends: Backends | None = None) -> FastAPI:
    """Build the API; its lifespan opens the services (DB, migrations, backends unless given) and closes them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Personal data masked on the handlers logging has by now (uvicorn's, the replica's), for the app's life.
        unmask = install_log_masking()
        app.state.services = await Services.open(settings, backends, webhook_body=run_record_body)
        try:
            yield
        finally:
            await app.state.services.close()
            unmask()

    app = FastAPI(
        title="MAS — Marketing Agent System",
        version=__version__,
        description="Multi-agent sales and marketing assistant for medical-aesthetics and beauty brands, on Ray Serve.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = [m.router for m in (health, auth, tenants, assistants, prompts, threads, runs, customers, products, memory, messages,
                                  openai_compat, agents, compliance, social, marketing, batches, usage, privacy)]
    if unchecked := [route.path for router in routers for route in router.routes if not isinstance(route, CheckedRoute)]:
        raise TypeError(f"routes without route_class=CheckedRoute (their input would go unchecked): {unchecked}")
    for router in routers:
        app.include_router(router)
    document_errors(app, routers, HANDLER_ERRORS)
    app.mount("/console", ConsoleFiles(), name="console")
    # Added last = outermost: the request id exists before anything else runs, 413s included.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(QueryLengthLimitMiddleware)
    app.add_middleware(RequestIdMiddleware, echo=not behind_serve_proxy)
    return app
