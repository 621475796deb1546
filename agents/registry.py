"""The agents an operator can list and invoke one at a time (``GET /v1/agents``, ``POST /v1/agents/{name}/invoke``).

Inputs never carry a tenant: the service supplies the caller's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from agents.compliance import ComplianceInput, ComplianceRequest, ComplianceResult
from agents.graph import AgentSet
from agents.intent import IntentInput, IntentResult
from agents.product import ProductQuery, ProductResult
from agents.sales import SalesInput
from agents.sentiment import SentimentInput, SentimentResult
from llm.types import LLMResponse
from memory.types import Recall


class RecallInput(BaseModel):
    thread_id: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1, max_length=5000)
    k: int = Field(default=5, ge=1, le=50)


class ProductSearchInput(BaseModel):
    query: str = Field(min_length=1, max_length=5000)
    k: int = Field(default=3, ge=1, le=20)


Call = Callable[[AgentSet, str, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class AgentSpec:
    name: str
    deployment: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    call: Call

    def schemas(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deployment": self.deployment,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(),
        }


AGENTS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (
        # The packs alone: a tenant's own rules come from its stored version (POST /v1/compliance/check), never a body.
        AgentSpec("compliance", "Compliance", "Advertising-law and medical-aesthetics rule packs; input screening and output review.",
                  ComplianceRequest, ComplianceResult,
                  lambda agents, tenant, body: agents.compliance.check(ComplianceInput(**body.model_dump()))),
        AgentSpec("sentiment", "Sentiment", "Label, polarity and urgency of a customer message (offline lexicon or LLM).",
                  SentimentInput, SentimentResult, lambda agents, tenant, body: agents.sentiment.analyse(body)),
        AgentSpec("intent", "Intent", "Appointment intent and time, contact details, services, asset requests, invitation.",
                  IntentInput, IntentResult, lambda agents, tenant, body: agents.intent.detect(body)),
        AgentSpec("memory", "Memory", "The thread's conversation window and its most relevant long-term memories.",
                  RecallInput, Recall, lambda agents, tenant, body: agents.memory.recall(tenant, body.thread_id, body.query, body.k)),
        AgentSpec("products", "Product", "Products of the tenant's catalog for a query (hybrid search, checked against the catalog).",
                  ProductSearchInput, ProductResult,
                  lambda agents, tenant, body: agents.products.retrieve(ProductQuery(tenant_id=tenant, query=body.query, k=body.k))),
        AgentSpec("sales", "Sales", "The reply prompt from the findings, answered by the LLM router (not output-checked here).",
                  SalesInput, LLMResponse,
                  lambda agents, tenant, body: agents.sales.complete(body.model_copy(update={"tenant_id": tenant}))),
    )
}
