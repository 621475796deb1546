"""The offline writer: a deterministic Chinese reply built from what the agents found, with no model at all.

The Sales agent writes with it whenever the router says no real model answered (``offline``), so the whole
system runs with no API key. It never claims to be a language model.

What it must not say comes from the compliance packs (``compliance/*.yaml`` of the config dir), the one list
of what a reply may not claim: its own wording passes them, and a text the agents found (a product's name or
description, a memory, the customer's words) is quoted only when it passes them too, otherwise left out.
Output compliance checks the reply again anyway, but it can only soften or drop whole sentences; leaving out
one unfit quote keeps the rest of the reply intact.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from agents.sentiment import SentimentLabel

MAX_QUOTE_CHARS = 30
MAX_PRODUCTS = 3
Approves = Callable[[str], bool]  # whether the compliance packs let a reply say this text


class ComposeProduct(BaseModel):
    name: str
    description: str = ""
    price: float | None = None
    reason: str = ""


class ComposeContext(BaseModel):
    """What the agents found, for the offline writer (real models get it inside the prompt instead)."""

    customer_message: str
    assistant_name: str | None = None
    persona: str | None = None
    customer_name: str | None = None
    sentiment: SentimentLabel | None = None
    products: list[ComposeProduct] = []
    memories: list[str] = []
    appointment: str | None = Field(default=None, description='A time the intent agent found, e.g. "明天下午3点".')
    ask_for_time: bool = False


def _quote(text: str | None, approves: Approves) -> str | None:
    """``text`` shortened for quoting, or None when it is empty or the packs object to it."""
    text = (text or "").strip()
    if not text or not approves(text):
        return None
    return text if len(text) <= MAX_QUOTE_CHARS else text[:MAX_QUOTE_CHARS] + "…"


def _greeting(context: ComposeContext, approves: Approves) -> str:
    customer = _quote(context.customer_name, approves)
    hello = f"{customer}您好" if customer else "您好"
    assistant = _quote(context.assistant_name, approves)
    if not assistant:
        return f"{hello}！"
    persona = _quote(context.persona, approves)
    return f"{hello}，我是{assistant}" + (f"（{persona}）" if persona else "") + "。"


def _product_line(index: int, product: ComposeProduct, approves: Approves) -> str:
    line = f"{index}. {product.name}"
    if product.price is not None:
        line += f"（参考价 ¥{product.price:,.0f}）"
    why = _quote(product.reason, approves) or _quote(product.description, approves)
    return line + (f"：{why}" if why else "")


def compose_reply(context: ComposeContext, approves: Approves) -> str:
    parts = [_greeting(context, approves)]
    if context.sentiment == "negative":
        parts.append("非常理解您的感受，给您带来不好的体验很抱歉，我们一起把问题解决好。")
    memory = next((quoted for memory in context.memories if (quoted := _quote(memory, approves))), None)
    if memory:
        parts.append(f"记得您之前提到：{memory}。")
    products = [product for product in context.products if approves(product.name)][:MAX_PRODUCTS]
    if products:
        lines = "\n".join(_product_line(index, product, approves) for index, product in enumerate(products, start=1))
        parts.append(f"结合您的需求，可以先了解这几个项目：\n{lines}\n")
    else:
        topic = _quote(context.customer_message, approves)
        parts.append(f"关于「{topic}」，我已经为您记下了。" if topic else "您的问题我已经记下了。")
    if context.appointment and approves(context.appointment):
        parts.append(f"已为您记下{context.appointment}的到店时间，顾问会尽快和您确认具体安排。")
    elif context.ask_for_time:
        parts.append("方便的话告诉我您哪天有空，我帮您预约到店面诊。")
    if products:
        parts.append("具体效果因人而异，建议到店由医生面诊后再确定方案。")
    parts.append("还有其他想了解的，随时告诉我。")
    return "".join(parts)


def compose_suggestions(context: ComposeContext, approves: Approves) -> list[str]:
    """Three replies a human agent could send: the composed answer, a question about needs, an invitation."""
    invite = (
        f"已为您记下{context.appointment}，到店后由医生面诊评估再确定方案，有变动随时告诉我。"
        if context.appointment and approves(context.appointment)
        else "欢迎到店由医生面诊评估后再定方案，您看哪天方便？我帮您预约。"
    )
    return [compose_reply(context, approves), "方便说说您最想改善的地方和大概预算吗？我帮您看看适合的方案。", invite]
