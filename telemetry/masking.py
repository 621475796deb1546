"""Personal data masked before it leaves the process in a trace: phone numbers, ID numbers, e-mail addresses and names.

Every pattern has a fixed or bounded length, so masking is linear in the text; callers cap what they pass anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

PERSONAL_FIELDS = frozenset({"name", "real_name", "nickname", "customer_name", "phone", "mobile", "email", "wechat",
                             "id_number"})
WITHHELD = "[已脱敏]"
_PATTERNS = (
    # Mainland mobile numbers, written whole or in 3-4-4 groups, with or without +86.
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"), "[手机号]"),
    # Resident ID numbers (18 characters, the last may be X).
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), "[身份证号]"),
    (re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,4}"), "[邮箱]"),
    # Names the customer gives: 我叫张三, 我是李四, 名字是..., 姓名：...
    (re.compile(r"(我叫|我是|名字是|名字叫|姓名[：:]?)\s?[\u4e00-\u9fff]{2,3}"), r"\1[姓名]"),
    # A surname with a title: 王女士 -> *女士.
    (re.compile(r"[\u4e00-\u9fff](?=先生|女士|小姐)"), "*"),
)


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with personal data replaced; ``names``: names known to belong to the customer (the thread's)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for name in names:
        if name and len(name) >= 2:
            text = text.replace(name, "[姓名]")
    return text


def mask(data: Any, names: Iterable[str] = ()) -> Any:
    """``data`` (strings, lists, dicts of them) with every string masked; the value of a personal field (name, phone...)
    is withheld whole, and wherever else it appears it is masked too."""
    known = (*names, *_personal_values(data))
    return _masked(data, known)


def _personal_values(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in PERSONAL_FIELDS and isinstance(value, str):
                yield value
            else:
                yield from _personal_values(value)
    elif isinstance(data, (list, tuple)):
        for item in data:
            yield from _personal_values(item)


def _masked(data: Any, names: tuple[str, ...]) -> Any:
    if isinstance(data, str):
        return mask_text(data, names)
    if isinstance(data, dict):
        return {key: WITHHELD if key in PERSONAL_FIELDS and data[key] else _masked(value, names) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_masked(item, names) for item in data]
    return data
