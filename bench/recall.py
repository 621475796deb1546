"""Memory recall: ``MemoryService.search`` (Milvus Lite + SQLite FTS5, RRF) vs a brute-force scan.

Builds, per size N, a fresh embedded memory store holding N synthetic Chinese customer memories
for tenant A (spread over ``--threads`` threads) and N more for tenant B, so every search also pays
for filtering out the other tenant. Inserts go through ``MemoryService.insert``, one call per
thread; it then closes and reopens the store (closing waits for Milvus Lite's background compaction
and index builds) and, for ``--queries`` customer messages (after a warm-up), times per query:

- hybrid: ``search(tenant, q, thread_id=…, k=5)`` (the per-turn path) and ``search(tenant, q, k=5)``
  (/v1/memory/search without a thread);
- its components, opened beside the service through the same public constructors: the vector
  store (embed + Milvus search) and the keyword index (FTS5 search);
- the baseline, the same work with no index: the query embedded the same way, an exact cosine scan
  in numpy over tenant A's embeddings held in memory, a Python substring count of the query's
  terms over tenant A's texts, and the same RRF fusion. Thread scope is a filter over that scan.

Methods take turns on every query, so machine noise hits all alike. Also reported: the vector
store's recall@5 against the exact top 5 (ties at the 5th similarity count as found), over all five
and over those at or above the embedder's noise floor (the only vector hits the fusion keeps).
numpy comes with pymilvus. Prints markdown tables.

    .venv/bin/python bench/recall.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from memory.embeddings import OfflineEmbedder, open_embedder
from memory.fusion import candidates, fuse_hybrid
from memory.longterm import open_longterm_index
from memory.service import MemoryService
from memory.settings import MemorySettings
from memory.tokens import query_terms
from memory.types import TurnMessage
from memory.vectors import VectorHit, VectorStore

TENANT, OTHER = "tenant-a", "tenant-b"
K = 5
WARMUP = 30

# ---- synthetic data ------------------------------------------------------------------------------

ALLERGENS = ["酒精", "果酸", "水杨酸", "玻尿酸", "利多卡因", "青霉素", "花粉", "芒果", "海鲜", "乳胶", "香精", "维A酸", "尘螨", "羊毛脂"]
REACTIONS = ["用后会泛红刺痛", "以前起过红疹", "敷麻药后出过风团", "每次都要先做皮试", "严重时会脸肿", "轻微发痒能忍"]
BUDGETS = ["两千", "三千", "五千", "八千", "一万", "一万五", "两万", "三万", "五万"]
PAYMENTS = ["倾向分期付款", "希望一次付清能打折", "可以接受办年卡", "想先体验单次再决定", "要和老公商量", "公司报销一部分"]
SKINS = ["混合偏油皮肤", "干性皮肤", "敏感肌", "油性皮肤", "中性皮肤", "痘痘肌", "屏障受损的皮肤"]
CONCERNS = ["T区容易出油长痘", "两颊有红血丝", "眼周有细纹", "毛孔粗大", "有色斑和痘印", "换季容易脱皮", "法令纹明显", "下颌线不清晰", "肤色暗沉发黄"]
WHENS = ["去年三月", "半年前", "上个月", "两年前", "春节前", "国庆期间", "三周前", "前年夏天"]
PROJECTS = ["水光针", "热玛吉", "超皮秒", "光子嫩肤", "玻尿酸填充", "肉毒素瘦脸", "果酸焕肤", "线雕提升", "黄金微针", "点阵激光", "超声炮", "小气泡清洁"]
FEEDBACK = ["效果满意想再做一次", "恢复期太长不太满意", "术后有点淤青一周才消", "觉得维持时间太短", "怕疼所以敷了麻药", "做完反黑了一阵", "在别家做的价格更低"]
PREFS = ["女医生操作", "周末上午预约", "微信沟通不要打电话", "进口品牌的产品", "自然不夸张的效果", "老顾客优惠套餐", "安静的单人房间", "同一位咨询师跟进"]
DAYS = ["工作日", "周六", "周日", "每周三", "周五", "节假日"]
SLOTS = ["下午两点以后", "晚上七点后", "上午十点前", "午休时间", "全天"]
CONSTRAINTS = ["下个月要出差两周", "月底有婚礼想提前变美", "孩子放暑假时间不固定", "刚换工作请假不方便", "备孕中很多项目不能做", "住得远一次只想跑一趟"]
JOBS = ["教师", "程序员", "护士", "销售", "全职妈妈", "设计师", "主播", "会计", "大学生", "公务员"]
GOALS = ["想显年轻", "想改善皮肤状态", "想瘦脸", "想淡化色斑", "想提升轮廓", "想控油祛痘"]
NAMES = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭"]


def _fact(rng: random.Random) -> str:
    pick = rng.choice
    return rng.choice([
        lambda: f"对{pick(ALLERGENS)}过敏，{pick(REACTIONS)}",
        lambda: f"预算大概{pick(BUDGETS)}元，{pick(PAYMENTS)}",
        lambda: f"{pick(SKINS)}，{pick(CONCERNS)}",
        lambda: f"{pick(WHENS)}做过{pick(PROJECTS)}，{pick(FEEDBACK)}",
        lambda: f"喜欢{pick(PREFS)}，也在意{pick(PREFS)}",
        lambda: f"{pick(DAYS)}{pick(SLOTS)}方便到店，{pick(CONSTRAINTS)}",
        lambda: f"{rng.randint(20, 58)}岁，{pick(JOBS)}，{pick(GOALS)}",
    ])()


def memory_text(rng: random.Random) -> str:
    """One stored memory: one or two facts about a customer, sometimes naming her."""
    facts = [_fact(rng) for _ in range(rng.choice((1, 1, 2)))]
    name = f"{rng.choice(NAMES)}女士" if rng.random() < 0.3 else "客户"
    return f"{name}{'；'.join(facts)}。"


def customer_message(rng: random.Random) -> str:
    """A query: what a customer writes in a turn (phrased unlike the stored memories)."""
    pick = rng.choice
    return rng.choice([
        lambda: f"我对{pick(ALLERGENS)}过敏，做{pick(PROJECTS)}会有影响吗？",
        lambda: f"{pick(PROJECTS)}现在多少钱？我预算不太多，{pick(BUDGETS)}以内",
        lambda: f"我是{pick(SKINS)}，最近{pick(CONCERNS)}，适合做什么项目",
        lambda: f"上次做的{pick(PROJECTS)}没维持多久，还能再做吗",
        lambda: f"{pick(DAYS)}{pick(SLOTS)}能约吗？想做{pick(PROJECTS)}",
        lambda: f"有没有{pick(PREFS)}的套餐推荐一下",
        lambda: f"脸上{pick(CONCERNS)}怎么办啊，{pick(GOALS)}",
        lambda: "你们上次说的那个优惠还有吗？我还是之前那个预算",
    ])()


def dataset(n: int, threads: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Per tenant, n (thread_id, text) pairs; thread i % threads for the i-th memory."""
    rng = random.Random(seed)
    return {tenant: [(f"thread-{i % threads:04d}", memory_text(rng)) for i in range(n)] for tenant in (TENANT, OTHER)}


# ---- the baseline: no index ----------------------------------------------------------------------


class BruteForce:
    """Tenant A's memories in memory: an exact cosine scan in numpy and a substring scan in Python."""

    def __init__(self, rows: list[tuple[str, str]], embedder: OfflineEmbedder) -> None:
        self.ids = [str(i) for i in range(len(rows))]
        self.threads = [thread for thread, _ in rows]
        self.thread_array = np.array(self.threads)
        self.texts = [text for _, text in rows]
        self.matrix = np.array([embedder.embed_one(text) for text in self.texts], dtype=np.float32)

    def vector(self, query_vector: list[float], k: int, thread_id: str | None) -> list[VectorHit]:
        similarities = self.matrix @ np.asarray(query_vector, dtype=np.float32)
        if thread_id is not None:
            similarities = np.where(self.thread_array == thread_id, similarities, -np.inf)
        top = np.argpartition(-similarities, k)[:k]
        top = top[np.argsort(-similarities[top])]
        return [VectorHit(self.ids[i], float(similarities[i])) for i in top if similarities[i] > -np.inf]

    def keyword(self, query: str, k: int, thread_id: str | None) -> list[str]:
        terms = query_terms(query)
        counts = [
            (sum(term in text for term in terms), i)
            for i, (thread, text) in enumerate(zip(self.threads, self.texts))
            if thread_id is None or thread == thread_id
        ]
        best = sorted((item for item in counts if item[0] > 0), key=lambda item: -item[0])[:k]
        return [self.ids[i] for _, i in best]


class NoTranscript:
    """search() never reads the transcript."""

    async def count(self, tenant_id: str, thread_id: str) -> int:
        return 0

    async def read(self, tenant_id: str, thread_id: str, offset: int, limit: int) -> list[TurnMessage]:
        return []

    async def tail(self, tenant_id: str, thread_id: str, limit: int) -> list[TurnMessage]:
        return []


# ---- measuring -----------------------------------------------------------------------------------


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return 1000 * ordered[len(ordered) // 2], 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def insert_all(service: MemoryService, data: dict[str, list[tuple[str, str]]]) -> tuple[float, int]:
    """Insert everything, one call per (tenant, thread); returns (memories per second, calls)."""
    batches: dict[tuple[str, str], list[str]] = {}
    for tenant, rows in data.items():
        for thread, text in rows:
            batches.setdefault((tenant, thread), []).append(text)
    began = time.perf_counter()
    for (tenant, thread), texts in batches.items():
        await service.insert(tenant, thread, texts, tags=["bench"])
    return sum(map(len, data.values())) / (time.perf_counter() - began), len(batches)


async def measure_size(n: int, args: argparse.Namespace) -> dict:
    data = dataset(n, args.threads, args.seed)
    rng = random.Random(args.seed + 1)
    queries = [(customer_message(rng), f"thread-{rng.randrange(args.threads):04d}") for _ in range(args.queries)]
    with tempfile.TemporaryDirectory(prefix="mas-bench-recall-") as data_dir:
        settings = MemorySettings(data_dir=Path(data_dir))
        service = await MemoryService.open(settings, NoTranscript())
        try:
            insert_rate, calls = await insert_all(service, data)
        finally:
            await service.close()  # waits for Milvus Lite's background compaction and index builds
        service = await MemoryService.open(settings, NoTranscript())  # as a restarted deployment finds it
        embedder = await open_embedder(settings)
        vectors = await VectorStore.open(settings.vector_uri("memory"), settings.collection_name("memory"), embedder)
        keywords = await open_longterm_index(settings)
        try:
            brute = BruteForce(data[TENANT], OfflineEmbedder(settings.offline_embedding_dims))
            floor = settings.min_similarity(embedder.noise_floor)
            wanted = candidates(K)

            async def vector(query: str, thread_id: str | None) -> list[VectorHit]:
                (query_vector,) = await embedder.embed([query])
                return await vectors.search(TENANT, query_vector, wanted, thread_id)

            async def keyword(query: str, thread_id: str | None) -> list:
                return await keywords.search(TENANT, query, thread_id, wanted)

            async def hybrid(query: str, thread_id: str | None) -> list:
                found = await service.search(TENANT, query, thread_id, K)
                assert all(item.memory.tenant_id == TENANT for item in found)
                return found

            async def exact_vector(query: str, thread_id: str | None) -> list[VectorHit]:
                (query_vector,) = await embedder.embed([query])
                return brute.vector(query_vector, wanted, thread_id)

            async def scan_keyword(query: str, thread_id: str | None) -> list[str]:
                return brute.keyword(query, wanted, thread_id)

            async def brute_hybrid(query: str, thread_id: str | None) -> list:
                (query_vector,) = await embedder.embed([query])
                hits = brute.vector(query_vector, wanted, thread_id)
                return fuse_hybrid(hits, brute.keyword(query, wanted, thread_id), K, floor)

            methods = {
                "hybrid": hybrid, "vector": vector, "keyword": keyword,
                "baseline": brute_hybrid, "exact_vector": exact_vector, "scan_keyword": scan_keyword,
            }
            result: dict = {"n": n, "insert_rate": insert_rate, "insert_calls": calls}
            for scope in ("thread", "tenant"):
                result[scope] = await time_methods(methods, queries, scope == "thread")
                result[scope]["recall"] = await ann_recall(vector, brute, embedder, queries, scope == "thread", floor)
        finally:
            await keywords.close()
            await vectors.close()
            await service.close()
    return result


async def time_methods(
    methods: dict[str, Callable[[str, str | None], Awaitable[object]]], queries: list[tuple[str, str]], scoped: bool
) -> dict[str, tuple[float, float]]:
    """p50/p99 per method; on each query every method runs once, in an order that rotates."""
    names = list(methods)
    for query, thread in queries[:WARMUP]:
        for name in names:
            await methods[name](query, thread if scoped else None)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    for i, (query, thread) in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            began = time.perf_counter()
            await methods[name](query, thread if scoped else None)
            latencies[name].append(time.perf_counter() - began)
    return {name: percentiles(values) for name, values in latencies.items()}


async def ann_recall(vector, brute: BruteForce, embedder, queries: list[tuple[str, str]], scoped: bool, floor: float):
    """(all, kept): the share of the exact top 5 that the vector store also returns in its top 5 (ties at
    the 5th similarity count as found), over all of them and over those at or above the noise floor
    (the only vector hits the fusion keeps)."""
    found = {"all": 0, "kept": 0}
    total = {"all": 0, "kept": 0}
    for query, thread in queries:
        thread_id = thread if scoped else None
        (query_vector,) = await embedder.embed([query])
        exact = brute.vector(query_vector, K, thread_id)
        if not exact:
            continue
        ann = (await vector(query, thread_id))[:K]
        for part, wanted in (("all", exact), ("kept", [hit for hit in exact if hit.similarity >= floor])):
            if wanted:
                cut = wanted[-1].similarity - 1e-5
                found[part] += min(len(wanted), sum(hit.similarity >= cut for hit in ann))
                total[part] += len(wanted)
    return tuple(found[part] / total[part] if total[part] else float("nan") for part in ("all", "kept"))


# ---- report --------------------------------------------------------------------------------------


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} / {pair[1]:.2f}"


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{args.queries} queries per measurement after {WARMUP} warm-up; {args.threads} threads per tenant; 2 tenants\n")
    print("| memories / tenant | scope | hybrid p50 / p99 ms | baseline p50 / p99 ms | **hybrid / baseline** (p50) | ANN recall@5: all / ≥ floor |")
    print("|---|---|---|---|---|---|")
    for r in results:
        for scope in ("thread", "tenant"):
            m = r[scope]
            print(
                f"| {r['n']:,} | {scope} | {_ms(m['hybrid'])} | {_ms(m['baseline'])} "
                f"| **{m['hybrid'][0] / m['baseline'][0]:.2f}** | {m['recall'][0]:.2f} / {m['recall'][1]:.2f} |"
            )
    print("\n| memories / tenant | scope | Milvus Lite p50 / p99 ms | numpy exact p50 / p99 ms | **ratio** "
          "| FTS5 p50 / p99 ms | Python scan p50 / p99 ms | **ratio** |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for scope in ("thread", "tenant"):
            m = r[scope]
            print(
                f"| {r['n']:,} | {scope} | {_ms(m['vector'])} | {_ms(m['exact_vector'])} "
                f"| **{m['vector'][0] / m['exact_vector'][0]:.2f}** | {_ms(m['keyword'])} | {_ms(m['scan_keyword'])} "
                f"| **{m['keyword'][0] / m['scan_keyword'][0]:.2f}** |"
            )
    print()
    for r in results:
        print(f"insert, {2 * r['n']:,} memories in {r['insert_calls']:,} calls: {r['insert_rate']:,.0f} memories/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="memories per tenant")
    parser.add_argument("--threads", type=int, default=1000, help="threads per tenant")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        results.append(asyncio.run(measure_size(n, args)))
        print(f"done: {n:,} memories per tenant", flush=True)
    report(results, args)


if __name__ == "__main__":
    main()
