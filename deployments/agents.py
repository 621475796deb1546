"""One deployment per agent of the chat graph (each scaled on its own in serve.yaml), the ``Workflow`` that runs
the graph through their handles, and the ``RunWorker`` that executes queued async runs."""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle

from agents.compliance import ComplianceAgent
from agents.graph import AgentSet, ChatGraph
from agents.intent import IntentAgent
from agents.sales import SalesAgent
from agents.sentiment import SentimentAgent
from api.backends import Backends
from api.services import Services
from deployments.forwarding import Serves
from deployments.handles import HandleClient
from mas.settings import Settings


@serve.deployment(name="Compliance")
class Compliance(Serves):
    def __init__(self) -> None:
        self.target = ComplianceAgent.load(Settings().config_dir / "compliance")


@serve.deployment(name="Sentiment")
class Sentiment(Serves):
    def __init__(self, llm_router: DeploymentHandle) -> None:
        self.target = SentimentAgent(HandleClient(llm_router, streams=frozenset({"stream"})), Settings().sentiment_mode)  # type: ignore[arg-type]


@serve.deployment(name="Intent")
class Intent(Serves):
    def __init__(self) -> None:
        self.target = IntentAgent()


@serve.deployment(name="Sales")
class Sales(Serves):
    def __init__(self, llm_router: DeploymentHandle) -> None:
        self.target = SalesAgent(HandleClient(llm_router, streams=frozenset({"stream"})))  # type: ignore[arg-type]


def agent_clients(
    compliance: DeploymentHandle,
    sentiment: DeploymentHandle,
    intent: DeploymentHandle,
    memory: DeploymentHandle,
    product: DeploymentHandle,
    sales: DeploymentHandle,
) -> AgentSet:
    return AgentSet(
        compliance=HandleClient(compliance),  # type: ignore[arg-type]
        sentiment=HandleClient(sentiment),  # type: ignore[arg-type]
        intent=HandleClient(intent),  # type: ignore[arg-type]
        memory=HandleClient(memory),  # type: ignore[arg-type]
        products=HandleClient(product),  # type: ignore[arg-type]
        sales=HandleClient(sales, streams=frozenset({"reply"})),  # type: ignore[arg-type]
    )


@serve.deployment(name="Workflow")
class Workflow(Serves):
    """``ChatGraph`` over the agent deployments: ``run`` streams the turn's events, ``suggest`` answers at once."""

    def __init__(self, compliance: DeploymentHandle, sentiment: DeploymentHandle, intent: DeploymentHandle,
                 memory: DeploymentHandle, product: DeploymentHandle, sales: DeploymentHandle) -> None:
        agents = agent_clients(compliance, sentiment, intent, memory, product, sales)
        self.target = ChatGraph(agents, Settings().agent_timeout_seconds)


def handle_backends(handles: dict[str, DeploymentHandle]) -> Backends:
    """The ingress's (and the worker's) view of the deployments: clients with the local objects' methods."""
    agents = agent_clients(*(handles[name] for name in ("compliance", "sentiment", "intent", "memory", "product", "sales")))
    worker = handles.get("worker")
    return Backends(
        llm=HandleClient(handles["llm_router"], streams=frozenset({"stream"})),  # type: ignore[arg-type]
        memory=agents.memory,  # type: ignore[arg-type]
        products=agents.products,  # type: ignore[arg-type]
        agents=agents,
        graph=HandleClient(handles["workflow"], streams=frozenset({"run"})),  # type: ignore[arg-type]
        worker=HandleClient(worker) if worker is not None else None,
    )


@serve.deployment(name="RunWorker")
class RunWorker:
    """Executes queued async runs (``runs.worker``): a run outlives the replica that accepted it, and this one."""

    async def __init__(self, **handles: DeploymentHandle) -> None:
        self._services = await Services.open(Settings(), handle_backends(handles), run_worker=True)

    async def wake(self) -> None:
        await self._services.wake_worker()

    async def __del__(self) -> None:
        await self._services.close()
