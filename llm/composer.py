"""The offline composer: a deterministic Chinese reply built from what the agents found, with no model at all.

It is the zero-setup default and the last fallback of ``chat-default``. It
never claims to be a language model, and its own wording avoids the absolute
claims that advertising law forbids; agent-supplied text that contains one is
left out rather than repeated.
"""

from __future__ import annotations

from llm.types import ChatMessage, ComposeContext, ComposeProduct

# Absolute or guarantee claims (广告法: 最/第一/保证/根治/无副作用 ...) that a reply must not contain.
FORBIDDEN_CLAIMS = (
    "最", "第一", "唯一", "首个", "顶级", "极致", "国家级", "世界级", "保证", "承诺", "根治", "治愈", "无副作用",
    "零风险", "无风险", "永久", "100%", "百分百", "绝对", "万能", "立竿见影", "一次见效", "包治",
)
NEGATIVE_SENTIMENTS = {"negative", "angry", "frustrated", "complaint", "负面", "生气", "不满"}
MAX_QUOTE_CHARS = 30
MAX_PRODUCTS = 3


def is_clean(text: str) -> bool:
    return not any(claim in text for claim in FORBIDDEN_CLAIMS)


def _quote(text: str | None) -> str | None:
    """``text`` shortened for quoting, or None when it is empty or carries a forbidden claim."""
    text = (text or "").strip()
    if not text or not is_clean(text):
        return None
    return text if len(text) <= MAX_QUOTE_CHARS else text[:MAX_QUOTE_CHARS] + "…"


def _greeting(context: ComposeContext) -> str:
    customer = _quote(context.customer_name)
    hello = f"{customer}您好" if customer else "您好"
    assistant = _quote(context.assistant_name)
    if not assistant:
        return f"{hello}！"
    persona = _quote(context.persona)
    return f"{hello}，我是{assistant}" + (f"（{persona}）" if persona else "") + "。"


def _product_line(index: int, product: ComposeProduct) -> str:
    line = f"{index}. {product.name}"
    if product.price is not None:
        line += f"（参考价 ¥{product.price:,.0f}）"
    why = _quote(product.reason) or _quote(product.description)
    return line + (f"：{why}" if why else "")


def compose_reply(context: ComposeContext | None, messages: list[ChatMessage]) -> str:
    last_user = next((message.content for message in reversed(messages) if message.role == "user"), "")
    if context is None:
        return _plain_reply(last_user)
    if context.safe_reply:
        return context.safe_reply
    parts = [_greeting(context)]
    if (context.sentiment or "").lower() in NEGATIVE_SENTIMENTS:
        parts.append("非常理解您的感受，给您带来不好的体验很抱歉，我们一起把问题解决好。")
    memory = next((quoted for quoted in map(_quote, context.memories) if quoted), None)
    if memory:
        parts.append(f"记得您之前提到：{memory}。")
    products = [product for product in context.products if is_clean(product.name)][:MAX_PRODUCTS]
    if products:
        lines = "\n".join(_product_line(index, product) for index, product in enumerate(products, start=1))
        parts.append(f"结合您的需求，可以先了解这几个项目：\n{lines}\n")
    else:
        topic = _quote(context.customer_message or last_user)
        parts.append(f"关于「{topic}」，我已经为您记下了。" if topic else "您的问题我已经记下了。")
    if context.appointment and is_clean(context.appointment):
        parts.append(f"已为您记下{context.appointment}的到店时间，顾问会尽快和您确认具体安排。")
    elif context.ask_for_time:
        parts.append("方便的话告诉我您哪天有空，我帮您预约到店面诊。")
    if products:
        parts.append("具体效果因人而异，建议到店由医生面诊后再确定方案。")
    parts.append("还有其他想了解的，随时告诉我。")
    return "".join(parts)


def _plain_reply(last_user: str) -> str:
    topic = _quote(last_user)
    heard = f"关于「{topic}」，" if topic else ""
    return f"您好，感谢您的咨询！{heard}我已经记下您的需求，稍后会为您整理相关信息。方便的话，也可以告诉我您更关注的效果或预算。"
