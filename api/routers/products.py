"""The tenant's product catalog: import (``tenant:admin``), lookup and hybrid search (``tenant:chat``).

The relational table is the source of truth; the search index (vectors +
keywords, in the Product deployment) is written first and every hit is
checked against the table, so a half-finished import or delete never shows
a product that is not in the catalog, and retrying the request repairs it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError

from api.auth import TenantAdmin, TenantChat
from api.deps import ServicesDep
from api.errors import ApiError, found, not_found
from api.routers import CheckedRoute, InvalidInput, load_json
from api.schemas.products import ImportFailure, ImportResult, ProductHit, ProductIn, ProductOut, ProductSearchResult
from memory.types import ProductDoc

router = APIRouter(prefix="/v1/products", tags=["products"], route_class=CheckedRoute)
MAX_IMPORT = 1000
NDJSON = "application/x-ndjson"

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": ProductIn.model_json_schema(), "minItems": 1, "maxItems": MAX_IMPORT}},
            NDJSON: {"schema": {"type": "string", "description": "one product object per line"}},
        },
    }
}


def _parse_items(body: bytes, content_type: str) -> list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "INVALID_BODY", "the body is not UTF-8") from None
    if not content_type.startswith(("application/json", NDJSON)):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"send application/json (an array) or {NDJSON}")
    if content_type.startswith(NDJSON):
        items: list[Any] = []
        for line in text.splitlines():
            if line.strip():
                try:
                    items.append(load_json(line))
                except json.JSONDecodeError as exc:
                    items.append(ImportFailure(index=len(items), error=f"invalid JSON: {exc.msg}"))
                except InvalidInput as exc:  # loc: ("body", *where in the item)
                    items.append(ImportFailure(index=len(items), error=f"{'.'.join(map(str, exc.loc[1:])) or 'item'}: {exc.why}"))
        return items
    try:
        items = load_json(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "INVALID_BODY", f"invalid JSON: {exc.msg}", {"line": exc.lineno, "column": exc.colno}) from None
    if not isinstance(items, list):
        raise ApiError(400, "INVALID_BODY", f"expected a JSON array of products (or {NDJSON})")
    return items


def _validate(items: list[Any]) -> tuple[list[ProductIn], list[ImportFailure]]:
    valid, failed = [], []
    for index, item in enumerate(items):
        if isinstance(item, ImportFailure):
            failed.append(item)
            continue
        try:
            valid.append(ProductIn.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors())
            failed.append(ImportFailure(index=index, error=problems))
    return valid, failed


@router.post("/import", response_model=ImportResult, openapi_extra=_IMPORT_BODY)
async def import_products(request: Request, ctx: TenantAdmin, services: ServicesDep) -> ImportResult:
    """A JSON array or NDJSON of products; re-importing a ``product_id`` updates it. Invalid items are reported, not fatal."""
    items = _parse_items(await request.body(), request.headers.get("content-type", "application/json"))
    if not items:
        raise ApiError(400, "EMPTY_IMPORT", "the import holds no product")
    if len(items) > MAX_IMPORT:
        raise ApiError(400, "IMPORT_TOO_LARGE", f"at most {MAX_IMPORT} products per import", {"count": len(items)})
    valid, failed = _validate(items)
    imported = updated = 0
    if valid:
        products = [product.model_dump() for product in valid]
        await services.backends.products.upsert(ctx.tenant_id, [ProductDoc(**product) for product in products])
        imported, updated = await services.products.upsert(ctx.tenant_id, products)
    return ImportResult(imported=imported, updated=updated, failed=failed)


@router.get("/search", response_model=ProductSearchResult)
async def search(
    ctx: TenantChat,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="what the customer asks for")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> ProductSearchResult:
    """Hybrid ranking (vectors + keywords over names, aliases, tags, indications, description)."""
    if not q.strip():
        raise ApiError(400, "EMPTY_QUERY", "q must contain text")
    hits = await services.backends.products.search(ctx.tenant_id, q, k)
    rows = await services.products.get_many(ctx.tenant_id, [hit.product_id for hit in hits])
    results = [
        ProductHit(
            product_id=hit.product_id,
            name=rows[hit.product_id].name,
            category=rows[hit.product_id].category,
            price=rows[hit.product_id].price,
            score=hit.score,
            matched_by=list(hit.matched_by),
        )
        for hit in hits
        if hit.product_id in rows
    ]
    return ProductSearchResult(query=q, results=results)


@router.get("/{product_id}", response_model=ProductOut)
async def get(product_id: str, ctx: TenantChat, services: ServicesDep) -> ProductOut:
    return ProductOut.model_validate(found(await services.products.get(ctx.tenant_id, product_id), "product", product_id))


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(product_id: str, ctx: TenantAdmin, services: ServicesDep) -> None:
    if not await services.products.delete(ctx.tenant_id, product_id):
        raise not_found("product", product_id)
    await services.backends.products.delete(ctx.tenant_id, [product_id])
