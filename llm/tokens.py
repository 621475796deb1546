"""A tokenizer-free token estimate: a CJK character is about one token, other text about four characters per token.

Used for the context-window check before a call, and for usage when a
backend reports none (offline, simulated, some OpenAI-compatible servers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

from llm.types import ChatMessage, ToolSpec

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per message, as chat templates add them


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def estimate_prompt_tokens(messages: list[ChatMessage], system: str | None = None, tools: Sequence[ToolSpec] = ()) -> int:
    total = estimate_tokens(system) + MESSAGE_OVERHEAD_TOKENS if system else 0
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message.content)
        total += sum(estimate_tokens(call.name + call.arguments) for call in message.tool_calls)
    if tools:
        total += estimate_tokens(json.dumps([tool.model_dump() for tool in tools], ensure_ascii=False))
    return total
