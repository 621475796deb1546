"""One factory per component, called by the in-process app (``runtime.backends``, ``runtime.services``) and by every
Serve deployment alike: a component is built the same way, from the same settings, wherever it runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents.compliance import ComplianceAgent
from agents.compliance_brand import BRAND_CATEGORY, BRAND_CATEGORY_DESCRIPTION
from agents.compliance_review import ReviewedCompliance
from agents.graph import AgentSet, ChatGraph
from agents.handoff import DEFAULT_CONFIG as DEFAULT_HANDOFF_CONFIG
from agents.handoff import HandoffRules, load_rules
from agents.intent import IntentAgent
from agents.output_guard import ComplianceService
from agents.ports import LLMClient
from agents.product import ProductAgent, ProductSearch
from agents.sales import SalesAgent
from agents.sentiment import SentimentAgent
from agents.social.agent import SocialAgent
from agents.summariser import summarise_with
from llm.catalog import load_catalog
from llm.router import Router
from llm.types import Lane
from llm.vllm_engine import VLLMEngine
from memory.service import MemoryService, ProductIndex
from runs.batches import BatchProcessor
from runs.compliance_rules import ComplianceRules
from runs.reloads import kept_current
from runs.social import SocialService
from runtime.settings import Settings
from store.batches import BatchStore
from store.compliance_rules import ComplianceRuleStore, ReviewSpendStore
from store.db import make_engine
from store.generations import GenerationStore
from store.products import ProductStore
from store.run_events import RedisRunEventLog, RunEventLog, SqlRunEventLog
from store.tenants import TenantStore
from store.threads import ThreadStore
from store.transcript import ThreadTranscript
from telemetry.tracing import NoTracer, Tracer


def run_event_log(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> RunEventLog:
    """Where run events are kept for joining a stream: Redis when ``MAS_REDIS_URL`` is set, else the relational store."""
    if settings.redis_url:
        return RedisRunEventLog.from_url(settings.redis_url, settings.run_events_ttl_seconds)
    return SqlRunEventLog(sessions, settings.run_events_ttl_seconds)


def handoff_rules(settings: Settings) -> HandoffRules:
    return load_rules(settings.handoff_config or DEFAULT_HANDOFF_CONFIG)


def tracer(settings: Settings) -> Tracer:
    """Langfuse traces of finished runs when ``MAS_LANGFUSE_*`` keys are set, else none."""
    if not settings.tracing_enabled:
        return NoTracer()
    from telemetry.langfuse_export import LangfuseTracer  # only here: the SDK costs a process ~1 s and ~60 MB to import

    return LangfuseTracer(settings)


def database(settings: Settings) -> AsyncEngine:
    return make_engine(settings.effective_database_url)


def llm_router(settings: Settings, clients: Mapping[str, Any] | None = None) -> Router:
    """``clients``: injected provider clients by provider name (the in-cluster vLLM server)."""
    return Router.from_settings(settings, clients=clients)


def vllm_engine(settings: Settings, model: str) -> VLLMEngine:
    """The engine of ``model``, a catalog model of a ``vllm`` provider."""
    return VLLMEngine(load_catalog(settings.models_config).vllm_engine_config(model))


def compliance(settings: Settings) -> ComplianceAgent:
    return ComplianceAgent.load(settings.config_dir / "compliance")


def reviewed_compliance(settings: Settings, rules: ComplianceService, llm: LLMClient,
                        sessions: async_sessionmaker[AsyncSession]) -> ReviewedCompliance:
    """The packs (``rules``: the agent or its deployment), then the LLM's second opinion where a tenant switched it on."""
    def categories() -> dict[str, str]:
        return {**compliance(settings).categories, BRAND_CATEGORY: BRAND_CATEGORY_DESCRIPTION}

    return ReviewedCompliance(rules, llm, ReviewSpendStore(sessions), categories, settings.compliance_review_model,
                              settings.compliance_review_cache_entries)


def compliance_rules(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> ComplianceRules:
    """The tenants' own compliance rules: edited through the API, carried into every check of a tenant's text, and
    checked against the packs this replica reads (their categories, and how they spell a word)."""
    return ComplianceRules(ComplianceRuleStore(sessions), settings.compliance_rules_ttl_seconds, lambda: compliance(settings))


def sentiment(settings: Settings, llm: LLMClient) -> SentimentAgent:
    return SentimentAgent(llm, settings.sentiment_mode, settings.config_dir)


def intent() -> IntentAgent:
    return IntentAgent()


def sales(settings: Settings, llm: LLMClient) -> SalesAgent:
    return SalesAgent(llm, settings.config_dir)


async def memory(settings: Settings, sessions: async_sessionmaker[AsyncSession], llm: LLMClient) -> MemoryService:
    """Turn recall and write; reads the durable transcript from the relational store, summarises through ``llm``."""
    return await MemoryService.open(settings, ThreadTranscript(sessions), summarise_with(llm))


async def product_index(settings: Settings) -> ProductIndex:
    return await ProductIndex.open(settings)


def product_agent(index: ProductSearch, sessions: async_sessionmaker[AsyncSession]) -> ProductAgent:
    """The Product agent over ``index``, reading each hit back from the relational catalog."""
    return ProductAgent(index, ProductStore(sessions))


def chat_graph(settings: Settings, agents: AgentSet) -> ChatGraph:
    return ChatGraph(agents, settings.agent_timeout_seconds)


def social(settings: Settings, llm: LLMClient, compliance: ComplianceService,
           sessions: async_sessionmaker[AsyncSession]) -> SocialAgent:
    """The Social agent, checking every text with ``compliance`` and, where a tenant asked for it, the LLM's second
    opinion; a reload on any replica reaches this one too."""
    agent = SocialAgent(llm, reviewed_compliance(settings, compliance, llm, sessions), settings.config_dir)
    return kept_current(agent, GenerationStore(sessions), "social", settings.reload_check_seconds)


def social_service(social: SocialAgent, memory: MemoryService, sessions: async_sessionmaker[AsyncSession],
                   rules: ComplianceRules, lane: Lane = "live") -> SocialService:
    """The Social agent (local or its deployment) with what it needs of the store and memory, and the tenants'
    compliance ``rules``."""
    return SocialService(social, ThreadStore(sessions), ThreadTranscript(sessions), ProductStore(sessions), memory, rules,
                         lane)


def batch_processor(settings: Settings, social: SocialAgent, agents: AgentSet, memory: MemoryService, index: ProductIndex,
                    sessions: async_sessionmaker[AsyncSession]) -> BatchProcessor:
    """Runs batch items through ``social``, ``agents``, ``memory`` and the product ``index`` (local objects, or the
    deployments' handles in a Ray task)."""
    social_batch = social_service(social, memory, sessions, compliance_rules(settings, sessions), "batch")
    return BatchProcessor(BatchStore(sessions), social_batch, agents, memory, index,
                          ThreadStore(sessions), TenantStore(sessions), ProductStore(sessions), settings)
