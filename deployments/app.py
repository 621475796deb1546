"""Application builder named by ``configs/serve.yaml`` (``import_path: deployments.app:build_app``)."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from deployments.agents import Compliance, Intent, RunWorker, Sales, Sentiment, Social, Workflow
from deployments.batches import BatchDriver
from deployments.ingress import Ingress
from deployments.llm_router import LLMRouter
from deployments.memory import Memory, Product
from deployments.vllm_server import VLLMServer


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Compose the deployment graph; replicas, autoscaling and resources come from serve.yaml.

    ``args`` (serve.yaml ``args:``): ``settings`` — any settings fields (``data_dir``, ``database_url``,
    ``redis_url``, ...), given to every deployment over its environment, so a ``serve deploy`` config alone can
    configure a cluster; ``vllm_model`` — a catalog model of a ``vllm`` provider — adds a VLLMServer for it
    behind the router (``vllm_provider`` names that provider, default ``vllm``).
    """
    args = args or {}
    settings = args.get("settings") or {}
    if args.get("vllm_model"):
        vllm = VLLMServer.bind(model=args["vllm_model"], settings=settings)
        llm_router = LLMRouter.bind(vllm_server=vllm, vllm_provider=args.get("vllm_provider", "vllm"), settings=settings)
    else:
        llm_router = LLMRouter.bind(settings=settings)
    agents = {
        "compliance": Compliance.bind(settings=settings),
        "sentiment": Sentiment.bind(llm_router, settings=settings),
        "intent": Intent.bind(settings=settings),
        "memory": Memory.bind(llm_router, settings=settings),
        "product": Product.bind(settings=settings),
        "sales": Sales.bind(llm_router, settings=settings),
    }
    workflow = Workflow.bind(settings=settings, **agents)
    social = Social.bind(llm_router, agents["compliance"], settings=settings)
    worker = RunWorker.bind(settings=settings, llm_router=llm_router, workflow=workflow, social=social, **agents)
    batches = BatchDriver.bind(settings=settings, llm_router=llm_router, workflow=workflow, social=social, **agents)
    return Ingress.bind(settings=settings, llm_router=llm_router, workflow=workflow, social=social, worker=worker,
                        batches=batches, **agents)
