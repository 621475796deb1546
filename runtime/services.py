"""What a replica holds for its lifetime: settings, the database engine and the stores built on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from agents.output_guard import ComplianceService
from runs.batches import BatchRunner, BatchService, Execute
from runs.compliance_rules import ComplianceRules
from runs.context import TurnContext
from runs.executor import RunExecutor
from runs.multitask import Multitask
from runs.personal_data import PersonalDataService
from runs.retention import RetentionSweep
from runs.run_events import RunEvents
from runs.social import SocialService
from runs.worker import RunQueueWorker
from runtime import components
from runtime.backends import Backends, RunWaker
from runtime.settings import Settings
from store.app_keys import ActiveKeys, AppKeyStore
from store.assistants import AssistantStore
from store.batches import BatchStore
from store.db import make_sessionmaker
from store.erasures import ErasureStore
from store.migrate import upgrade_to_head
from store.models import Run
from store.products import ProductStore
from store.prompts import PromptStore
from store.runs import RunStore
from store.tenants import TenantStore
from store.threads import ThreadStore
from telemetry.tracing import Tracer

log = logging.getLogger("mas.runs")


class _Wakes(Protocol):
    def wake(self) -> None: ...


async def _wake(local: _Wakes | None, deployment: RunWaker | None, name: str) -> None:
    """Best effort: the work is already stored, and every worker polls for it anyway."""
    if local is not None:
        local.wake()
    elif deployment is not None:
        try:
            await deployment.wake()
        except Exception:
            log.warning("could not wake the %s deployment; the work waits for its next poll", name, exc_info=True)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    app_keys: AppKeyStore
    tenants: TenantStore
    assistants: AssistantStore
    prompts: PromptStore
    threads: ThreadStore
    products: ProductStore
    runs: RunStore
    events: RunEvents
    backends: Backends
    compliance_rules: ComplianceRules
    compliance: ComplianceService  # the check brands call: the packs, the tenant's rules, the second opinion
    social: SocialService
    batches: BatchService
    personal_data: PersonalDataService
    retention: RetentionSweep
    tracer: Tracer = field(init=False)
    context: TurnContext = field(init=False)
    executor: RunExecutor = field(init=False)
    multitask: Multitask = field(init=False)
    active_keys: ActiveKeys = field(init=False)
    worker: RunQueueWorker | None = field(init=False, default=None)
    batch_runner: BatchRunner | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tracer = components.tracer(self.settings)
        self.context = TurnContext(self.threads, self.assistants, self.prompts, self.products, self.compliance_rules,
                                   self.settings.window_size)
        self.executor = RunExecutor(self.runs, self.context, self.backends.graph, self.backends.memory,
                                    self.settings.run_lease_seconds, self.events,
                                    components.handoff_rules(self.settings), self.tracer)
        self.multitask = Multitask(self.runs, self.executor, self.settings.run_enqueue_seconds,
                                   self.settings.run_enqueue_poll_seconds)
        self.active_keys = ActiveKeys(self.app_keys, self.settings.key_recheck_seconds)

    @classmethod
    async def open(cls, settings: Settings, backends: Backends | None = None, run_worker: bool | None = None,
                   webhook_body: Callable[[Run], Awaitable[bytes]] | None = None, batches: Execute | None = None) -> Services:
        """Connect, bring the schema to head, and resolve the JWT secret (generating it on first start).

        Without ``backends`` (in-process) the app opens and owns local ones. ``run_worker``
        (default: in-process) starts a worker for queued async runs in this process, POSTing ``webhook_body`` of
        each finished run to its webhook (default: its status), and, in-process, runs batches here too. ``batches`` runs batch
        chunks instead, with a runner of its own (the BatchDriver deployment: as Ray tasks).
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        owns_backends = backends is None
        engine = components.database(settings)
        await upgrade_to_head(engine)
        _ = settings.effective_jwt_secret
        sessions = make_sessionmaker(engine)
        backends = backends or Backends.local(settings, sessions)
        threads, products, runs = ThreadStore(sessions), ProductStore(sessions), RunStore(sessions)
        batch_store, erasures = BatchStore(sessions), ErasureStore(sessions)
        rules = components.compliance_rules(settings, sessions)
        event_log = components.run_event_log(settings, sessions)
        tenants = TenantStore(sessions)
        services = cls(
            settings=settings,
            engine=engine,
            app_keys=AppKeyStore(sessions),
            tenants=tenants,
            assistants=AssistantStore(sessions),
            prompts=PromptStore(sessions),
            threads=threads,
            products=products,
            runs=runs,
            events=RunEvents(event_log, runs, settings.run_events_flush_seconds),
            backends=backends,
            compliance_rules=rules,
            compliance=components.reviewed_compliance(settings, backends.agents.compliance, backends.llm, sessions),
            social=components.social_service(backends.social, backends.memory, sessions, rules),
            batches=BatchService(batch_store, threads, products, backends.memory),
            personal_data=PersonalDataService(erasures, runs, backends.memory, event_log, settings.run_lease_seconds,
                                   settings.erasure_wait_seconds),
            retention=RetentionSweep(tenants, erasures, backends.memory, event_log, settings.retention_sweep_seconds),
        )
        if run_worker is None:
            run_worker = owns_backends
        if run_worker:
            services.worker = RunQueueWorker(services.runs, services.executor.execute, settings,
                                             settings.effective_webhook_secret, webhook_body=webhook_body,
                                             housekeeping=services.housekeeping)
            services.worker.start()
        if run_worker and owns_backends:  # on Serve, the BatchDriver runs batches (as Ray tasks), not the RunWorker
            batches = batches or components.batch_processor(settings, backends.social, backends.agents, backends.memory,
                                                            backends.products, sessions).run
        if batches is not None:
            services.batch_runner = BatchRunner(batch_store, batches, settings, live=services.runs.live)
            services.batch_runner.start()
        return services

    async def housekeeping(self) -> None:
        """The run worker's periodic chores besides its own: expired run events, erasures a dead replica left, retention.
        Each runs whatever the others did (a failing store must not stop the rest)."""
        for chore in (self.events.expire, self.personal_data.resume, self.retention.sweep_when_due):
            try:
                await chore()
            except Exception:
                log.exception("housekeeping: %s failed; tried again at the next sweep", chore.__qualname__)

    async def wake_worker(self) -> None:
        """A run was queued: the worker of this process, or the RunWorker deployment, looks for it now."""
        await _wake(self.worker, self.backends.worker, "RunWorker")

    async def wake_batches(self) -> None:
        """A batch was submitted: this process's runner, or the BatchDriver deployment, looks for it now."""
        await _wake(self.batch_runner, self.backends.batches, "BatchDriver")

    async def close(self) -> None:
        if self.batch_runner is not None:
            await self.batch_runner.stop()
        if self.worker is not None:
            await self.worker.stop()
        await self.executor.drain()
        await self.events.close()
        await asyncio.to_thread(self.tracer.close)  # exports the traces still queued (bounded by the export timeout)
        await self.backends.close()
        await self.engine.dispose()
