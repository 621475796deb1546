"""Durable customer facts from a user's message, by rule (Chinese): allergies, budget, skin type,
past treatments and preferences, each as a short normalised text such as ``过敏：对酒精过敏``.

A message is cut into clauses. A clause yields facts only when it is about the speaker (not
``我朋友…``/``你…``; a clause without a subject inherits the previous one), is not a question,
and the cue is not negated (``不过敏``, ``没做过``, ``不是油皮``). Dislikes (``不喜欢…``) are
preferences in their own right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

FactKind = Literal["allergy", "budget", "skin_type", "treatment", "preference"]
IMPORTANCE: dict[FactKind, float] = {"allergy": 0.9, "budget": 0.7, "skin_type": 0.7, "treatment": 0.7, "preference": 0.6}


class Fact(BaseModel):
    kind: FactKind
    text: str
    importance: float

    @property
    def tags(self) -> list[str]:
        return [self.kind]


# ---- clauses -------------------------------------------------------------------------------------

_SENTENCES = re.compile(r"[^。！!？?\n]+[。！!？?\n]*")
_CLAUSE_BREAK = re.compile(r"[，,；;：:、]?(?:但是|可是|不过(?!敏)|然后|而且)|[，,；;：:]")
_QUESTION = re.compile(r"吗|什么|怎么|多少|哪|啥|有没有|是否|(.)不\1")
_OTHERS = re.compile(
    r"朋友|闺蜜|老公|老婆|对象|妈|爸|姐|妹|哥|弟|同事|孩子|女儿|儿子|家人|别人|有人|(?<!其)他|她|你(?![们好])|您(?![们好])"
)
_SELF = re.compile(r"我|本人|自己")
_NEGATION = re.compile(r"不|没|无|未|别|并非")


@dataclass
class _Clause:
    text: str
    question: bool
    about_speaker: bool


def _clauses(message: str) -> Iterator[_Clause]:
    about_speaker = True
    for sentence in _SENTENCES.findall(message):
        asked = any(mark in sentence for mark in "？?")
        parts = [part.strip(" 。！!？?\n") for part in _CLAUSE_BREAK.split(sentence)]
        parts = [part for part in parts if part]
        for index, part in enumerate(parts):
            if _OTHERS.search(part):
                about_speaker = False
            elif _SELF.search(part):
                about_speaker = True
            question = bool(_QUESTION.search(part)) or (asked and index == len(parts) - 1)
            yield _Clause(part, question, about_speaker)


# ---- allergies -----------------------------------------------------------------------------------

_ADVERBS = r"(?:有点儿?|有些|一点|比较|特别|非常|很|都|也|会|就|还|容易|严重|稍微|轻微|又)"
_EDGE_ADVERBS = re.compile(f"^{_ADVERBS}{{1,8}}|{_ADVERBS}{{1,8}}$")  # bounded: "+$" is retried from every adverb
_ALLERGEN_BY_USE = re.compile(r"(?:一用|用了?|用到|接触|吃了?|碰到?|沾到?)(.+)$")
_LEADING_SUBJECT = re.compile(r"^(?:我|本人|自己)?(?:的|是)?")
_NOT_ALLERGENS = {"", "皮肤", "脸", "身体", "这个", "那个", "这款", "它", "东西"}


def _allergy(clause: str) -> str | None:
    position = clause.find("过敏")
    if position < 0:
        return None
    prefix = clause[:position]
    if _NEGATION.search(prefix) or clause.startswith("过敏史", position):
        return None
    if clause.startswith("过敏体质", position):
        return "过敏：过敏体质"
    stripped = _EDGE_ADVERBS.sub("", prefix)
    if re.search(r"(?:容易|经常|老是|总是|动不动就?)$", prefix):
        return "过敏：容易过敏"
    target = re.search(r"对(?:于)?(.+)$", stripped) or _ALLERGEN_BY_USE.search(stripped)
    allergen = target.group(1) if target else _LEADING_SUBJECT.sub("", stripped)
    allergen = _EDGE_ADVERBS.sub("", allergen).strip()
    if allergen in _NOT_ALLERGENS or len(allergen) > 12:
        return None
    return f"过敏：对{allergen}过敏"


# ---- budget --------------------------------------------------------------------------------------

_BUDGET_CUE = re.compile(r"预算|价位|价格|价钱|花费|(?:能|想|愿意|可以|打算)花|不超过|最多|最高|控制在")
_UNLIMITED = re.compile(r"预算(?:不限|没有?上限|无上限|随意|无所谓)|不限预算|(?:钱|价格|预算)不是问题")
_NUMBER = r"(?<![\d.])\d{1,9}(?:\.\d{1,4})?(?![\d.])|[零一二两三四五六七八九十百千万]{1,9}"  # bounded: linear, and no float overflow
_AMOUNT = re.compile(
    rf"(?P<low>{_NUMBER})\s{{0,3}}(?P<low_unit>[wWkK万千百])?\s{{0,3}}(?:元|块钱|块)?"
    rf"(?:\s{{0,3}}(?:到|至|-|~|～|—)\s{{0,3}}(?P<high>{_NUMBER})\s{{0,3}}(?P<high_unit>[wWkK万千百])?)?"
    r"\s{0,3}(?:元|块钱|块|rmb|RMB)?\s{0,3}(?P<qualifier>左右|上下|以内|以下|之内|内|以上)?"
    r"(?![次个岁天月年号支瓶盒片周])"
)
_UNITS = {"w": 10000, "万": 10000, "k": 1000, "千": 1000, "百": 100}
_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_MAGNITUDES = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_TWO_DIGITS = re.compile(r"([一二两三四五六七八九])([一二两三四五六七八九])([十百千万])")
_QUALIFIERS = {"左右": "左右", "上下": "左右", "以内": "以内", "以下": "以内", "之内": "以内", "内": "以内", "以上": "以上"}


def chinese_number(text: str) -> float | None:
    """``5000``, ``1.5``, ``三千五`` (3500), ``一万五`` (15000), ``一百零五``, ``八百``; None if not a number."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text[0] not in _DIGITS and text[0] != "十":
        return None
    total, section, digit, last = 0, 0, None, 1
    for char in text:
        if char == "零":
            last = 10  # what follows is units
        elif char in _DIGITS:
            if digit is not None:
                return None
            digit = _DIGITS[char]
        elif char == "万":
            total, section, digit, last = (section + (digit or 0) or 1) * 10000, 0, None, 10000
        else:
            section += (1 if digit is None else digit) * _MAGNITUDES[char]
            digit, last = None, _MAGNITUDES[char]
    if digit is not None:  # 三千五 = 3500: a trailing digit counts in the unit below the last one
        section += digit * max(last // 10, 1)
    return float(total + section)


def _amount(number: str, unit: str | None) -> float | None:
    value = chinese_number(number)
    return None if value is None else value * _UNITS.get((unit or "").lower(), 1)


def _money(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


def _budget(clause: str) -> str | None:
    if _UNLIMITED.search(clause):
        return "预算：不限"
    cue = _BUDGET_CUE.search(clause)
    if not cue:
        return None
    for match in _AMOUNT.finditer(clause, cue.start()):
        low, high = match["low"], match["high"]
        pair = _TWO_DIGITS.fullmatch(low)
        if pair:  # 两三千 = 2000-3000
            magnitude = _MAGNITUDES[pair[3]] * _UNITS.get((match["low_unit"] or "").lower(), 1)
            values = [_DIGITS[pair[1]] * magnitude, _DIGITS[pair[2]] * magnitude]
        else:
            first = _amount(low, match["low_unit"])
            second = _amount(high, match["high_unit"]) if high else None
            if first is None or (high and second is None):
                continue
            if second is not None and first < 10 <= second:  # 三到五千: the unit is said once
                first *= 10 ** int(math.log10(second))
            values = [first] if second is None else [first, second]
        if min(values) < 50:
            continue
        qualifier = _QUALIFIERS.get(match["qualifier"] or "", "")
        if not qualifier and re.search(r"不超过|最多|最高", clause[: match.start()]):
            qualifier = "以内"
        amount = "-".join(_money(value) for value in values)
        return f"预算：{amount}元{qualifier if len(values) == 1 else ''}"
    return None


# ---- skin type -----------------------------------------------------------------------------------

_DEGREE = r"(?:比较|很|特别|有点|非常|偏|超|太)?"
_SKIN_TYPES = [
    (r"混合偏油|混油皮?|外油内干", "混油皮"),
    (r"混合偏干|混干皮?", "混干皮"),
    (r"混合性(?:皮肤|肌肤)|混合(?:皮|肌)", "混合皮"),
    (r"油痘肌|痘痘肌|痘肌", "痘痘肌"),
    (rf"大油皮|油皮|油性(?:皮肤|肌肤|肌)|皮肤{_DEGREE}油", "油皮"),
    (rf"干皮|干性(?:皮肤|肌肤|肌)|皮肤{_DEGREE}干", "干皮"),
    (rf"敏感肌|敏感皮|敏感性(?:皮肤|肌肤)|皮肤{_DEGREE}敏感", "敏感肌"),
    (r"中性(?:皮肤|肌肤|皮)", "中性皮"),
]
_SKIN = re.compile("|".join(f"(?P<s{i}>{pattern})" for i, (pattern, _) in enumerate(_SKIN_TYPES)))
_FOR_A_PRODUCT = re.compile(r"适合|适用|针对|对于|专为|推荐|给")


def _skin_types(clause: str) -> list[str]:
    facts = []
    for match in _SKIN.finditer(clause):
        prefix = clause[: match.start()]
        if _NEGATION.search(prefix) or _FOR_A_PRODUCT.search(prefix):
            continue
        facts.append("肤质：" + _SKIN_TYPES[int(match.lastgroup[1:])][1])  # type: ignore[index]
    return facts


# ---- past treatments -----------------------------------------------------------------------------

_TREATMENTS = [
    (r"水光针?", "水光针"),
    (r"玻尿酸", "玻尿酸"),
    (r"热玛吉", "热玛吉"),
    (r"超声炮", "超声炮"),
    (r"超声刀", "超声刀"),
    (r"(?:割|埋线|全切)?双眼皮", "双眼皮"),
    (r"肉毒(?:素|杆菌)?", "肉毒素"),
    (r"瘦脸针", "瘦脸针"),
    (r"除皱针", "除皱针"),
    (r"光子嫩肤|超光子|光子", "光子嫩肤"),
    (r"超皮秒", "超皮秒"),
    (r"皮秒", "皮秒"),
    (r"热拉提", "热拉提"),
    (r"线雕|埋线提升", "线雕"),
    (r"隆鼻|鼻综合", "隆鼻"),
    (r"吸脂|抽脂", "吸脂"),
    (r"美白针", "美白针"),
    (r"点阵激光", "点阵激光"),
    (r"激光祛斑", "激光祛斑"),
    (r"果酸焕肤|果酸", "果酸焕肤"),
    (r"刷酸", "刷酸"),
    (r"嗨体", "嗨体"),
    (r"童颜针", "童颜针"),
    (r"溶脂针", "溶脂针"),
    (r"黄金微针", "黄金微针"),
    (r"微针", "微针"),
    (r"激光脱毛|脱毛", "激光脱毛"),
    (r"开眼角", "开眼角"),
    (r"磨骨|削骨", "磨骨"),
    (r"隆胸|丰胸", "隆胸"),
    (r"小气泡", "小气泡"),
    (r"祛斑", "祛斑"),
]
_TREATMENT = re.compile("|".join(f"(?P<t{i}>{pattern})" for i, (pattern, _) in enumerate(_TREATMENTS)))
_TIME = r"(?:之前|以前|去年|前年|上个?月|上周|上次|前几年|年前|月前|刚)"
_DONE = re.compile(rf"(?:做|打|割|弄|垫|隆|注射|试)(?:过|了|完)|{_TIME}\S{{0,4}}?(?:做|打)的")
_NAMED_AFTER = re.compile(r"\s{0,3}(?:[0-9一二两三四五六七八九十几]{1,3}次)?\s{0,3}([A-Za-z][A-Za-z0-9+\- ]{1,20})")


def _treatments(clause: str) -> list[str]:
    done = _DONE.search(clause)
    if not done or _NEGATION.search(clause[: done.start()]):
        return []
    names = [_TREATMENTS[int(match.lastgroup[1:])][1] for match in _TREATMENT.finditer(clause)]  # type: ignore[index]
    if not names:  # a device or brand the list does not know, named in Latin letters: 做过Fotona 4D
        named = _NAMED_AFTER.match(clause, done.end())
        names = [named[1].strip()] if named else []
    return [f"做过：{name}" for name in names]


# ---- preferences ---------------------------------------------------------------------------------

_PREFERENCE_VERBS = [
    (r"不太喜欢|不怎么喜欢|不喜欢|讨厌|受不了|不想要", "不喜欢"),
    (r"最喜欢|更喜欢|比较喜欢|特别喜欢|很喜欢|喜欢|偏好|偏爱|钟爱|最爱|爱用|倾向于?", "喜欢"),
    (r"(?:打算|准备|计划)[^，,。]{0,6}?(?:做|打)|想去?(?:做|打)(?!听|扮|算|折)|想试试|想尝试", "想做"),
    (r"想要|希望", "想要"),
]
_PREFERENCE = re.compile("|".join(f"(?P<p{i}>{pattern})" for i, (pattern, _) in enumerate(_PREFERENCE_VERBS)))
_OBJECT_END = re.compile(r"预算|价位|因为|所以")
_VAGUE_OBJECT = re.compile(r"^(?:什么|啥|哪|这个|那个|这款|它)")


def _preference(clause: str) -> str | None:
    match = _PREFERENCE.search(clause)
    if not match or _NEGATION.search(clause[: match.start()]):
        return None
    verb = _PREFERENCE_VERBS[int(match.lastgroup[1:])][1]  # type: ignore[index]
    thing = _OBJECT_END.split(clause[match.end() :], maxsplit=1)[0]
    thing = re.sub(r"(?:的话|了|呀|啊|哦|呢|吧|哈|嘛|~){1,8}$", "", thing).strip()  # bounded: "+$" is retried from every particle
    if not thing or len(thing) > 20 or _VAGUE_OBJECT.match(thing):
        return None
    return f"偏好：{verb}{thing}"


# ---- all together --------------------------------------------------------------------------------

_RULES: list[tuple[FactKind, Callable[[str], str | list[str] | None]]] = [
    ("skin_type", _skin_types),
    ("allergy", _allergy),
    ("budget", _budget),
    ("treatment", _treatments),
    ("preference", _preference),
]


def extract_facts(message: str) -> list[Fact]:
    """The facts a user states about themself in one message, in order, each once."""
    facts: dict[str, Fact] = {}
    for clause in _clauses(message):
        if clause.question or not clause.about_speaker:
            continue
        for kind, rule in _RULES:
            found = rule(clause.text)
            for text in [found] if isinstance(found, str) else found or []:
                facts.setdefault(text, Fact(kind=kind, text=text, importance=IMPORTANCE[kind]))
    return list(facts.values())
