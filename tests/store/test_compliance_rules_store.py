"""A tenant's compliance rule versions and the second opinion's spend meter, on every relational backend; and the
service's per-replica cache of the active rules."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from agents.compliance import ComplianceAgent
from agents.compliance_brand import BrandRules, BrandTerm
from runs.compliance_rules import ComplianceRules
from runtime.services import Services
from store.compliance_rules import ComplianceRuleStore, ReviewSpendStore, TenantMissing
from store.db import make_sessionmaker
from store.models import ComplianceRuleVersion
from store.versions import VersionConflict
from tests.config_paths import CONFIG_DIR

PACKS = ComplianceAgent.load(CONFIG_DIR / "compliance")

RULES_1 = {"forbidden": [{"term": "焕颜宝", "category": "brand_rule"}], "allowed": ["第一坊"], "second_opinion": {"enabled": False}}
RULES_2 = {"forbidden": [], "allowed": [], "second_opinion": {"enabled": True, "mode": "record", "daily_budget_usd": 2.5}}


async def _tenants(services: Services, *tenant_ids: str) -> None:
    for tenant_id in tenant_ids:
        await services.tenants.upsert(tenant_id, {"tenant_name": tenant_id, "status": "ACTIVE"})


def _store(services: Services) -> ComplianceRuleStore:
    return ComplianceRuleStore(make_sessionmaker(services.engine))


async def test_versions_count_up_per_tenant_with_one_active_and_their_author(services: Services) -> None:
    await _tenants(services, "t1", "t2")
    store = _store(services)
    first = await store.add_version("t1", RULES_1, "first", "key-1", based_on=0)
    second = await store.add_version("t1", RULES_2, None, "key-2")
    other = await store.add_version("t2", RULES_2, "theirs", "key-9")
    assert (first.version, second.version, other.version) == (1, 2, 1)

    active = await store.active("t1")
    assert active is not None and active.version == 2 and active.rules == RULES_2 and active.created_by == "key-2"
    old = await store.version("t1", 1)
    assert old is not None and not old.is_active and old.rules == RULES_1 and (old.note, old.created_by) == ("first", "key-1")
    assert [row.version for row in await store.history("t1", 20)] == [2, 1]
    assert [row.version for row in await store.history("t1", 1)] == [2]
    # Every query is the tenant's own: t2's version 1 is not t1's, and t1's version 2 does not exist for t2.
    assert (await store.version("t2", 1)).rules == RULES_2 and await store.version("t2", 2) is None
    assert [row.tenant_id for row in await store.history("t2", 20)] == ["t2"]
    assert await store.active("t3") is None and await store.history("t3", 20) == []


async def test_an_edit_based_on_an_old_version_conflicts(services: Services) -> None:
    await _tenants(services, "t1")
    store = _store(services)
    with pytest.raises(VersionConflict) as none_yet:
        await store.add_version("t1", RULES_1, None, "k", based_on=1)
    assert none_yet.value.latest == 0
    await store.add_version("t1", RULES_1, None, "k", based_on=0)
    await store.add_version("t1", RULES_2, None, "k", based_on=1)
    with pytest.raises(VersionConflict) as stale:
        await store.add_version("t1", RULES_1, None, "k", based_on=1)
    assert stale.value.latest == 2
    with pytest.raises(TenantMissing):
        await store.add_version("nobody", RULES_1, None, "k")


async def test_concurrent_writers_get_distinct_versions_and_one_stays_active(services: Services) -> None:
    await _tenants(services, "t1")
    store = _store(services)
    rows = await asyncio.gather(*(store.add_version("t1", RULES_1, f"n{i}", "k") for i in range(6)))
    assert sorted(row.version for row in rows) == [1, 2, 3, 4, 5, 6]
    history = await store.history("t1", 20)
    assert [row.is_active for row in history] == [True, False, False, False, False, False]


async def test_the_database_refuses_a_second_active_version(services: Services) -> None:
    await _tenants(services, "t1")
    await _store(services).add_version("t1", RULES_1, None, "k")
    with pytest.raises(IntegrityError):
        async with make_sessionmaker(services.engine).begin() as session:
            session.add(ComplianceRuleVersion(tenant_id="t1", version=7, rules=RULES_2, is_active=True))


async def test_concurrent_spend_adds_sum_exactly_per_tenant_and_day(services: Services) -> None:
    spend = ReviewSpendStore(make_sessionmaker(services.engine))
    today, tomorrow = date(2026, 3, 1), date(2026, 3, 2)
    assert await spend.spent("t1", today) == 0.0
    await asyncio.gather(*(spend.add("t1", today, 0.125) for _ in range(16)), spend.add("t2", today, 1.0),
                         spend.add("t1", tomorrow, 0.5))
    assert await spend.spent("t1", today) == 2.0  # 16 × 0.125, no add lost to a race on the day's first row
    assert await spend.spent("t2", today) == 1.0 and await spend.spent("t1", tomorrow) == 0.5
    assert await spend.spent("t1", "2026-03-01") == 2.0  # the day in ISO form, as the reviewer passes it
    await spend.add("t1", "2026-03-01", 0.25)
    assert await spend.spent("t1", today) == 2.25


async def test_the_service_caches_active_rules_per_tenant_for_its_ttl(services: Services) -> None:
    await _tenants(services, "t1", "t2")
    store = _store(services)
    reads: list[str] = []
    active = store.active

    async def counted(tenant_id: str) -> ComplianceRuleVersion | None:
        reads.append(tenant_id)
        return await active(tenant_id)

    store.active = counted  # type: ignore[method-assign]
    writer = ComplianceRules(store, 60.0, lambda: PACKS)
    replica = ComplianceRules(store, 1.0, lambda: PACKS)  # another replica, short TTL

    assert await replica.active("t1") == BrandRules(tenant_id="t1")  # none set: version 0, no words
    rules = BrandRules(forbidden=(BrandTerm(term="焕颜宝"),), allowed=("第一坊",))
    await writer.replace("t1", rules, "v1", "key-1")
    written = await writer.active("t1")
    assert written.version == 1 and written.tenant_id == "t1" and written.forbidden == rules.forbidden  # seen at once here
    assert (await replica.active("t1")).version == 0  # the other replica within its TTL: no query
    reads.clear()
    for _ in range(5):
        await writer.active("t1")
    assert reads == []  # turns within the TTL cost no query
    await asyncio.sleep(1.05)
    assert (await replica.active("t1")).version == 1 and reads == ["t1"]
    assert (await replica.active("t2")).version == 0  # tenants apart
