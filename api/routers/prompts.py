"""Versioned prompt configs per assistant, the template library and the validator (``tenant:admin``).

Every change appends a version (rollback and clone included), so the history
is a complete audit trail and exactly one version is active.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from agents.prompt_library import load_templates, validate_prompt_config
from api.auth import TenantAdmin, TenantContext
from api.deps import ServicesDep
from api.errors import ApiError, found, not_found
from api.routers import CheckedRoute
from api.schemas.common import MAX_INT32
from api.schemas.prompts import (
    PromptClone,
    PromptCreate,
    PromptHistory,
    PromptRollback,
    PromptUpdate,
    PromptValidateRequest,
    PromptValidateResponse,
    PromptVersionOut,
    TemplateList,
)
from store.prompts import AssistantMissing, VersionConflict

router = APIRouter(prefix="/v1/prompts", tags=["prompts"], route_class=CheckedRoute)


# Fixed paths first: "templates" and "validate" must not be taken for an assistant id.
@router.get("/templates", response_model=TemplateList)
async def templates(ctx: TenantAdmin, services: ServicesDep) -> TemplateList:
    return _template_list(services, None)


@router.get("/templates/{category}", response_model=TemplateList)
async def templates_in_category(category: str, ctx: TenantAdmin, services: ServicesDep) -> TemplateList:
    return _template_list(services, category)


@router.post("/validate", response_model=PromptValidateResponse)
async def validate(body: PromptValidateRequest, ctx: TenantAdmin, services: ServicesDep) -> PromptValidateResponse:
    issues = validate_prompt_config(body.prompt_config, services.settings.config_dir)
    return PromptValidateResponse(valid=not any(i.severity == "error" for i in issues), issues=issues)


@router.post("/{assistant_id}", response_model=PromptVersionOut, status_code=status.HTTP_201_CREATED)
async def create(assistant_id: str, body: PromptCreate, ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    return await _append(services, ctx, assistant_id, body.prompt_config.model_dump(exclude_none=True), "created")


@router.get("/{assistant_id}", response_model=PromptVersionOut)
async def active(assistant_id: str, ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    return PromptVersionOut.model_validate(await _active(services, ctx, assistant_id))


@router.get("/{assistant_id}/history", response_model=PromptHistory)
async def history(
    assistant_id: str, ctx: TenantAdmin, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> PromptHistory:
    await _assistant(services, ctx, assistant_id)
    rows = await services.prompts.history(ctx.tenant_id, assistant_id, limit)
    return PromptHistory(assistant_id=assistant_id, versions=[PromptVersionOut.model_validate(r) for r in rows])


@router.get("/{assistant_id}/{tenant_id}/{version}", response_model=PromptVersionOut)
async def one_version(assistant_id: str, tenant_id: str, version: Annotated[int, Path(ge=1, le=MAX_INT32)], ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    ctx.refuse_other_tenant(tenant_id)
    row = await services.prompts.version(ctx.tenant_id, assistant_id, version)
    return PromptVersionOut.model_validate(found(row, "prompt_version", f"{assistant_id}/v{version}"))


@router.put("/{tenant_id}/{assistant_id}", response_model=PromptVersionOut)
async def update(tenant_id: str, assistant_id: str, body: PromptUpdate, ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    """Merge the sent fields into the active version and activate the result as a new version.

    With ``base_version``, an edit made on a version that is no longer the
    latest is refused (409) instead of silently merged over someone else's change.
    """
    ctx.refuse_other_tenant(tenant_id)
    changes = body.prompt_config.model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(400, "EMPTY_UPDATE", "the update names no prompt field to change")
    current = await _active(services, ctx, assistant_id)
    based_on = body.base_version
    if based_on is not None and based_on != current.version:
        raise _conflict(based_on, current.version)
    merged = {k: v for k, v in {**current.config, **changes}.items() if v is not None}
    return await _append(services, ctx, assistant_id, merged, f"updated from v{current.version}", based_on=based_on)


@router.post("/{assistant_id}/rollback", response_model=PromptVersionOut, status_code=status.HTTP_201_CREATED)
async def rollback(assistant_id: str, body: PromptRollback, ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    await _assistant(services, ctx, assistant_id)
    target = found(
        await services.prompts.version(ctx.tenant_id, assistant_id, body.version), "prompt_version", f"{assistant_id}/v{body.version}"
    )
    return await _append(services, ctx, assistant_id, target.config, f"rollback to v{body.version}", check=False)


@router.post("/{assistant_id}/clone", response_model=PromptVersionOut, status_code=status.HTTP_201_CREATED)
async def clone(assistant_id: str, body: PromptClone, ctx: TenantAdmin, services: ServicesDep) -> PromptVersionOut:
    if body.target_assistant_id == assistant_id:
        raise ApiError(400, "SAME_ASSISTANT", "clone target must be another assistant")
    source = await _active(services, ctx, assistant_id)
    return await _append(services, ctx, body.target_assistant_id, source.config, f"cloned from {assistant_id} v{source.version}", check=False)


def _template_list(services: ServicesDep, category: str | None) -> TemplateList:
    library = load_templates(services.settings.config_dir)
    categories = sorted({t.category for t in library})
    if category is not None and category not in categories:
        raise ApiError(404, "TEMPLATE_CATEGORY_NOT_FOUND", f"no templates in category '{category}'", {"categories": categories})
    chosen = [t for t in library if category is None or t.category == category]
    return TemplateList(templates=chosen, categories=categories)


async def _assistant(services: ServicesDep, ctx: TenantContext, assistant_id: str) -> None:
    found(await services.assistants.get(ctx.tenant_id, assistant_id), "assistant", assistant_id)


async def _active(services: ServicesDep, ctx: TenantContext, assistant_id: str):  # type: ignore[no-untyped-def]
    await _assistant(services, ctx, assistant_id)
    return found(await services.prompts.active(ctx.tenant_id, assistant_id), "prompt", assistant_id)


def _conflict(based_on: int, latest: int) -> ApiError:
    return ApiError(
        409,
        "PROMPT_VERSION_CONFLICT",
        f"the edit was made on v{based_on} but v{latest} is the latest: reload and apply it again",
        {"base_version": based_on, "latest_version": latest},
    )


async def _append(
    services: ServicesDep,
    ctx: TenantContext,
    assistant_id: str,
    config: dict[str, Any],
    note: str,
    check: bool = True,
    based_on: int | None = None,
) -> PromptVersionOut:
    """Store ``config`` as the new active version; new content must pass the validator first.

    Rollbacks and clones copy content that was already accepted, so they skip the check.
    """
    if check:
        errors = [i for i in validate_prompt_config(config, services.settings.config_dir) if i.severity == "error"]
        if errors:
            raise ApiError(400, "INVALID_PROMPT", "the prompt config breaks the validation rules", {"issues": [e.model_dump() for e in errors]})
    try:
        row = await services.prompts.add_version(ctx.tenant_id, assistant_id, config, note, based_on)
    except AssistantMissing:
        raise not_found("assistant", assistant_id) from None
    except VersionConflict as conflict:
        raise _conflict(based_on or 0, conflict.latest) from None
    return PromptVersionOut.model_validate(row)
