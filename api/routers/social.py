"""Social media (``tenant:chat``): comments, replies, keywords, private chats, moments, copy variants, and the
templates' reload. Every text in a response has passed output compliance on the ``social`` channel."""

from __future__ import annotations

from fastapi import APIRouter

from agents.social.actions import ActionPolicy
from agents.social.models import (
    BeautifyRequest,
    BeautifyResult,
    ChatRequest,
    ChatResult,
    CommentRequest,
    CommentResult,
    KeywordsRequest,
    KeywordsResult,
    MomentsRequest,
    MomentsResult,
    ReloadRequest,
    ReloadResult,
    ReplyRequest,
    ReplyResult,
)
from api.auth import TenantChat
from api.deps import ServicesDep
from api.routers import CheckedRoute

router = APIRouter(prefix="/v1/social-media", tags=["social media"], route_class=CheckedRoute)


@router.post("/comment", response_model=CommentResult)
async def comment(body: CommentRequest, ctx: TenantChat, services: ServicesDep) -> CommentResult:
    """The actions the policy takes on a post, and the comment when it comments (action 3)."""
    return await services.social.comment(ctx.tenant_id, body)


@router.post("/reply", response_model=ReplyResult)
async def reply(body: ReplyRequest, ctx: TenantChat, services: ServicesDep) -> ReplyResult:
    """One result per task, in the order given."""
    return await services.social.reply(ctx.tenant_id, body)


@router.post("/keywords", response_model=KeywordsResult)
async def keywords(body: KeywordsRequest, ctx: TenantChat, services: ServicesDep) -> KeywordsResult:
    """Exactly ``expecting_count`` new keywords: none repeats another or one of ``existing_keywords``."""
    return await services.social.keywords(ctx.tenant_id, body)


@router.post("/chat", response_model=ChatResult)
async def chat(body: ChatRequest, ctx: TenantChat, services: ServicesDep) -> ChatResult:
    """A reply to a private message on the platform (the fixed text when ``comment_type`` is 1)."""
    return await services.social.chat(ctx.tenant_id, body)


@router.post("/moments", response_model=MomentsResult)
async def moments(body: MomentsRequest, ctx: TenantChat, services: ServicesDep) -> MomentsResult:
    """A comment on each customer's WeChat moment, personalised from the thread's profile and memories."""
    return await services.social.moments(ctx.tenant_id, body)


@router.post("/beautify", response_model=BeautifyResult)
async def beautify(body: BeautifyRequest, ctx: TenantChat, services: ServicesDep) -> BeautifyResult:
    """``result_count`` distinct variants: shorter than the source (compress) or longer (expand)."""
    return await services.social.beautify(ctx.tenant_id, body)


@router.post("/reload-prompt", response_model=ReloadResult)
async def reload_prompt(body: ReloadRequest, ctx: TenantChat, services: ServicesDep) -> ReloadResult:
    """Re-reads ``configs/social/`` without a restart; every replica uses the new version within
    ``MAS_RELOAD_CHECK_SECONDS``. Files that do not validate: 400, and the running version stays."""
    return await services.social.reload(body.method)


@router.get("/policy", response_model=ActionPolicy)
async def policy(ctx: TenantChat, services: ServicesDep) -> ActionPolicy:
    """The action policy in force (``configs/social/actions.yaml``); a request's ``policy`` field tunes it per call."""
    return await services.social.policy()
