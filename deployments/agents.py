"""One deployment per agent of the chat graph (each scaled on its own in serve.yaml), the ``Workflow`` that runs
the graph through their handles, the ``Social`` agent, and the ``RunWorker`` that executes queued async runs. Each builds its component
with the factory the in-process app uses (``runtime.components``)."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from agents.compliance import ComplianceAgent
from agents.graph import AgentSet, ChatGraph
from agents.intent import IntentAgent
from agents.product import ProductAgent
from agents.sales import SalesAgent
from agents.sentiment import SentimentAgent
from agents.social.agent import SocialAgent
from api.schemas.runs import run_record_body
from deployments.forwarding import Serves
from deployments.handles import client
from deployments.replica import replica_settings
from llm.router import Router
from memory.service import MemoryService, ProductIndex
from runtime import components
from runtime.backends import Backends, RunWaker
from runtime.services import Services
from store.db import make_sessionmaker

Overrides = dict[str, Any] | None  # serve.yaml's ``args: {settings: {...}}``: settings fields over the environment


def llm_client(handle: DeploymentHandle) -> Router:
    return client(handle, Router, streams=frozenset({"stream"}))


@serve.deployment(name="Compliance")
class Compliance(Serves):
    def __init__(self, settings: Overrides = None) -> None:
        self.target = components.compliance(replica_settings(settings))


@serve.deployment(name="Sentiment")
class Sentiment(Serves):
    def __init__(self, llm_router: DeploymentHandle, settings: Overrides = None) -> None:
        self.target = components.sentiment(replica_settings(settings), llm_client(llm_router))


@serve.deployment(name="Intent")
class Intent(Serves):
    def __init__(self, settings: Overrides = None) -> None:
        self.target = components.intent()


@serve.deployment(name="Sales")
class Sales(Serves):
    def __init__(self, llm_router: DeploymentHandle, settings: Overrides = None) -> None:
        self.target = components.sales(replica_settings(settings), llm_client(llm_router))


@serve.deployment(name="Social")
class Social(Serves):
    """``SocialAgent``: social-media copy, marketing plans and customer analysis, checked by the Compliance deployment."""

    def __init__(self, llm_router: DeploymentHandle, compliance: DeploymentHandle, settings: Overrides = None) -> None:
        replica = replica_settings(settings)
        self._engine = components.database(replica)  # the reload generation (runs.reloads)
        self.target = components.social(replica, llm_client(llm_router), client(compliance, ComplianceAgent),
                                        make_sessionmaker(self._engine))

    async def __del__(self) -> None:
        await self._engine.dispose()


def agent_clients(handles: dict[str, DeploymentHandle]) -> AgentSet:
    return AgentSet(
        compliance=client(handles["compliance"], ComplianceAgent),
        sentiment=client(handles["sentiment"], SentimentAgent),
        intent=client(handles["intent"], IntentAgent),
        memory=client(handles["memory"], MemoryService),
        products=client(handles["product"], ProductAgent),
        sales=client(handles["sales"], SalesAgent, streams=frozenset({"reply"})),
    )


@serve.deployment(name="Workflow")
class Workflow(Serves):
    """``ChatGraph`` over the agent deployments: ``run`` streams the turn's events, ``suggest`` answers at once."""

    def __init__(self, settings: Overrides = None, **agents: DeploymentHandle) -> None:
        self.target = components.chat_graph(replica_settings(settings), agent_clients(agents))


def handle_backends(handles: dict[str, DeploymentHandle]) -> Backends:
    """The ingress's (and the worker's) view of the deployments: clients with the local objects' methods."""
    worker, batches = handles.get("worker"), handles.get("batches")
    return Backends(
        llm=llm_client(handles["llm_router"]),
        memory=client(handles["memory"], MemoryService),
        products=client(handles["product"], ProductIndex),
        agents=agent_clients(handles),
        graph=client(handles["workflow"], ChatGraph, streams=frozenset({"run"})),
        social=client(handles["social"], SocialAgent),
        worker=client(worker, RunWaker) if worker is not None else None,
        batches=client(batches, RunWaker) if batches is not None else None,
    )


@serve.deployment(name="RunWorker")
class RunWorker:
    """Executes queued async runs (``runs.worker``): a run outlives the replica that accepted it, and this one."""

    async def __init__(self, settings: Overrides = None, **handles: DeploymentHandle) -> None:
        self._services = await Services.open(replica_settings(settings), handle_backends(handles), run_worker=True,
                                             webhook_body=run_record_body)

    async def wake(self) -> None:
        await self._services.wake_worker()

    async def __del__(self) -> None:
        await self._services.close()
