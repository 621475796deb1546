"""The intent agent: does the customer want to book a visit, when, who they are, and what material they ask for.

Rule-based and offline (microseconds a message). Choices where the brief left room:

- Strength: ``strong`` when the customer commits (帮我约, 我想明天过来, 就这个时间) or proposes a slot with an
  hour (后天上午十点可以吗); ``weak`` when they ask about booking or availability (周六有号吗, 可以预约吗),
  ask a visit question without an hour, want a procedure (想做水光针), or send a time with nothing else;
  ``none`` otherwise and whenever they decline (不约了, 再考虑, 改天). 上门 (home service) is not a clinic visit.
- History (earlier customer messages) carries the booking intent forward until a later message declines: a
  time or contact details sent after it make the booking ``strong``; other messages keep its strength.
- Time: only with an appointment (a time the customer is busy is not one): this message's, else the latest
  one named in history, read against the same ``now``.
- Name: what the customer said, without guessing a gender: 我姓王 → "王", 我是王女士 → "王女士", 我叫王丽 → "王丽".
- Name, phone: the latest message that gives one wins. Services: this message's first, then history's, newest
  first, so ``services[0]`` is the one mentioned last.
- Asset requests are read from this message only, in the order price_list, cases, certificates, address.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agents.bounds import History
from agents.offload import off_the_loop
from agents.timeparse import (
    RESCHEDULE_RE,
    SHANGHAI,
    FoundTime,
    find_appointment_time,
    parse_appointment_time,
    to_shanghai,
)

__all__ = [
    "AssetRequest", "CatalogService", "Entities", "IntentAgent", "IntentInput", "IntentResult", "Invitation",
    "detect_intent", "parse_appointment_time",
]

Strength = Literal["none", "weak", "strong"]
AssetRequest = Literal["price_list", "cases", "certificates", "address"]


class CatalogService(BaseModel):
    product_id: str
    name: str
    aliases: list[str] = []


class IntentInput(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    history: History = []
    now: datetime | None = Field(default=None, description="None: the current time.")
    catalog: list[CatalogService] = Field(default=[], max_length=10_000, description="The tenant's services, for matching.")


class Entities(BaseModel):
    name: str | None = None
    phone: str | None = None
    services: list[str] = Field(default=[], description="Canonical catalog names, the latest mentioned first.")


class Invitation(BaseModel):
    """The API's ``run.invitation``: status 1 once a booking is strong and has a time."""

    status: Literal[0, 1] = 0
    time: int | None = Field(default=None, description="Epoch milliseconds.")
    service: str | None = None
    name: str | None = None
    phone: str | None = None


class IntentResult(BaseModel):
    appointment: bool
    strength: Strength
    time: datetime | None = None
    time_text: str | None = Field(default=None, description='The words that named the time, e.g. "明天下午3点".')
    entities: Entities
    asset_requests: list[AssetRequest] = []
    invitation: Invitation


_RANK = {"none": 0, "weak": 1, "strong": 2}

_DECLINE_RE = re.compile(
    r"不约了|不预约了|不用(?:预)?约了|先不(?:约|预约|去|来|过来|过去|做|弄|打|了)|不(?:想|打算|准备|要)(?:预约|约|去了|来了|过来了|过去了|做了)(?![吗么嘛呢])"
    r"|取消(?:预约|了|吧)?|再考虑|考虑一下|考虑考虑|再想想|再说吧?|再看看|算了|暂时不|以后再|改天|过段时间|过一段时间|过阵子"
    r"|有空再|有时间再|下次再|不去了|不来了|不过来了|不做了|没兴趣|不感兴趣|不需要了"
)
_COMMIT_RE = re.compile(
    r"[帮给替](?:我|俺)?(?:约|预约|安排|排|订|预定|定|挂|登记|留)"
    r"|(?<![需不])(?:想|要|想要|打算|准备|决定|就)(?:预约|预定|约|挂号|排号|订)(?![吗么嘛束会定]|的话)|我预约|我来预约"
    r"|(?:就|那就|定)(?:这个|这|那个)(?:时间|点|时候|号|时段)|就这么定|就定(?:在|了|这)|定在|那就这样|那就这么"
    r"|(?:确认|确定)(?:预约|时间|一下时间)|(?<!不用)(?<!不)(?<!需要)预约(?:一下|吧|了)|约(?:一下|个|上|好)(?:时间|号|面诊)?(?:吧|哈|呗)"
    r"|(?:约|排)个(?:时间|号)|(?:挂|排)(?:个)?号(?!吗)"
)
_VISIT_RE = re.compile(
    r"过来|过去(?!的|做过|用过|打过|几|一|两|那|曾)|到店|到院|来店|去店|进店|到你们|来你们|去你们|面诊|来做|去做|过去做|过来做"
)
_HOME_VISIT_RE = re.compile(r"上门")
# Around a time, words that settle on it: 那就明天下午3点, 下午两点到, 周六上午见.
_SETTLES_BEFORE_RE = re.compile(r"(?:那就|就|定|约)\s*$")
_SETTLES_AFTER_RE = re.compile(r"^\s*(?:左右|前后|之前)?(?:见|到|来|过来|过去|去|吧|好了|可以|行|就行|没问题|ok|OK)")
_WANT_RE = re.compile(r"想|要|打算|准备|计划|会|就|可以|能")
_AVAILABILITY_RE = re.compile(
    r"预约|有号|有位置|有空位|空位|名额|档期|能约|可以约|约得上|排得上|什么时候有空|什么时候可以|什么时候方便|哪天(?:有空|可以|方便)"
    r"|几点(?:开门|关门|下班|上班|营业)|营业时间|营业到|上班时间|开门吗|上班吗|营业吗|能去吗|可以去吗|能来吗|可以来吗"
)
_FREE_RE = re.compile(r"有空|有时间|方便|可以|行|没问题|ok|OK|Ok")
_QUESTION_RE = re.compile(r"[吗么嘛呢?？]\s*$|[吗么嘛][，,。!！\s]|能不能|可不可以|可以不|有没有|行不行|是否|方不方便")
_PROCEDURE_WISH_RE = re.compile(r"想(?:做|打|弄|试试?|尝试)|打算做|准备做|考虑做|想要做")
_INTEREST_RE = re.compile(r"想了解|感兴趣|有兴趣|了解一下|咨询一下")
_CONFIRM_RE = re.compile(r"^\s*(?:好的?|好吧|可以|行|没问题|确定|确认|ok|OK|嗯嗯?|对|是的)[呀啊哈的吧呢!！。.，,~\s]*$|就这样|就这么定|就这个")

_ASSET_PATTERNS: dict[str, re.Pattern[str]] = {
    "price_list": re.compile(
        r"价格表|价目表|价格单|价目单|价格清单|价目|报价|收费|多少钱|几多钱|什么价|啥价|价位|价钱|怎么卖|贵不贵|贵吗|多少米|要钱|要不要钱|收不收费|免费吗"
        r"|价格(?!太|有点|偏|挺|真|也太|好贵|贵了)|费用(?!太|有点|偏|挺|也太|贵了)"
    ),
    "cases": re.compile(
        r"案例|效果图|效果照|效果对比|对比图|对比照|前后对比|做过的(?:人|顾客|客户|朋友|姐妹)|真人(?:反馈|图|照|案例|效果|视频)"
        r"|(?:客户|顾客|用户|真实)(?:反馈|评价)|买家秀|返图|实拍|术后照|做完的?效果|别人做的|口碑|好评"
        r"|(?:看|发)(?:一?下|看|点|几张)?(?:效果|照片|图片|视频)"
    ),
    "certificates": re.compile(
        r"资质|证书|执照|许可证|医生资格|医师资格|资格证|医师证|执业证|正规吗|正不正规|是否正规|正规不|正规的吗|正规(?:医院|机构)吗"
        r"|靠谱吗|靠不靠谱|备案|持证|正品吗|是不是正品|是正品|合法吗|是否合法|医生有(?:没有)?(?:证|资格)"
    ),
    "address": re.compile(
        r"地址|在哪|怎么走|怎么去|怎么过去|怎么过来|如何到|路线|导航|定位|位置在|什么位置|哪个位置|具体位置|发个?位置|停车|车位"
        r"|地铁|公交|哪个区|几楼|门店在|店在|(?:附近|周边)(?:有|的)?(?:店|门店|分店|分院)|离.{0,8}(?:远|近)吗"
    ),
}
_NOT_NEEDED_RE = re.compile(r"(?:不用|不需要|不要|别|无需|没必要)[^，,。！!？?；;]{0,4}$")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付傅方邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施牛樊葛邢齐易乔伍庞颜"
    "倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕季裴霍涂苗谷盛曲翁冉骆蓝游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶牟艾尤穆卓岑景费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|令狐|长孙|宇文|司徒|夏侯|端木|轩辕"
_SURNAME = rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
_TITLE = r"(?:女士|先生|小姐|姐|哥|老师)"
_NAME_STOP = "的了吗呢啊呀吧想要在是做来去过不也都和跟皮肤肌人领个新这那一我你他她就还"
_GIVEN = rf"(?:[\u4e00-\u9fff](?<![{_NAME_STOP}]))"
_NAME_END = r"(?=$|[\s，,。.!！?？；;、~0-9]|电话|手机|号码|联系|微信|想|要|预约|来|过来|今年|女|男)"
_NAME_RES = (
    re.compile(rf"(?:我叫|叫我|名字(?:是|叫)|联系人(?:是|:)?|预约人(?:是|:)?)\s*(?P<name>[A-Za-z][A-Za-z .'-]{{0,30}}[A-Za-z]"
               rf"|[\u4e00-\u9fff]{{2,4}}?{_NAME_END})"),
    re.compile(rf"我是\s*(?P<name>{_SURNAME}{_TITLE}|[小老阿]{_SURNAME}|{_SURNAME}{_GIVEN}{_GIVEN}?){_NAME_END}"),
    re.compile(rf"(?:我|免贵)姓\s*(?P<name>{_SURNAME}{_TITLE}?)"),
)
_NAME_NOT_NAMES = {"什么", "一下", "客户", "顾客", "老客", "新客", "学生"}
_PHONE_RE = re.compile(r"(?<![0-9])(?:\+?86[\s-]?)?(1[3-9][0-9](?:[\s-]?[0-9]){8})(?![0-9])")


def detect_intent(request: IntentInput) -> IntentResult:
    now = to_shanghai(request.now) if request.now else datetime.now(SHANGHAI)
    text = _normalise(request.text)
    history = [_normalise(message) for message in request.history]
    found = find_appointment_time(text, now)
    own = _strength(text, found)
    carried = _history_strength(history, now)
    declined = _declines(text, found)
    strength: Strength = "none" if declined else _combine(own, carried, text, found)
    if strength == "none":
        found = None
    elif found is None:
        found = _latest_history_time(history, now)
    entities = _entities(text, history, request.catalog)
    return IntentResult(
        appointment=strength != "none",
        strength=strength,
        time=found.when if found else None,
        time_text=found.text if found else None,
        entities=entities,
        asset_requests=_asset_requests(text),
        invitation=_invitation(strength, found, entities),
    )


class IntentAgent:
    """Async face of :func:`detect_intent` for the chat graph."""

    async def detect(self, request: IntentInput) -> IntentResult:
        return await off_the_loop(len(request.text) + sum(map(len, request.history)), detect_intent, request)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _declines(text: str, found: FoundTime | None) -> bool:
    if not _DECLINE_RE.search(text):
        return False
    return not (found and RESCHEDULE_RE.search(text))


def _strength(text: str, found: FoundTime | None) -> Strength:
    """How strongly this message alone asks for a visit."""
    if _COMMIT_RE.search(text) or (found and RESCHEDULE_RE.search(text)):
        return "strong"
    home_only = bool(_HOME_VISIT_RE.search(text)) and not _VISIT_RE.search(text)
    if home_only:
        return "none"
    question = bool(_QUESTION_RE.search(text))
    visit, availability = bool(_VISIT_RE.search(text)), bool(_AVAILABILITY_RE.search(text))
    hour = found is not None and _names_an_hour(found)
    if hour and (visit or availability or question or _FREE_RE.search(text)):
        return "strong"
    if found and _settles_on(text, found) and (hour or not question):
        return "strong"
    if found and not question and (visit or _FREE_RE.search(text)):
        return "strong"
    if visit and not question and _wants_visit(text):
        return "strong"
    if availability or (visit and question) or (found and question) or _PROCEDURE_WISH_RE.search(text):
        return "weak"
    if _INTEREST_RE.search(text) and _ASSET_PATTERNS["price_list"].search(text):
        return "weak"
    if found and _only_time(text, found):
        return "weak"
    return "none"


def _names_an_hour(found: FoundTime) -> bool:
    return bool(re.search(r"[点时:]", found.text))


def _settles_on(text: str, found: FoundTime) -> bool:
    at = text.find(found.text)
    if at < 0:
        return False
    return bool(_SETTLES_BEFORE_RE.search(text[:at]) or _SETTLES_AFTER_RE.search(text[at + len(found.text):]))


def _only_time(text: str, found: FoundTime) -> bool:
    """The message is little more than the time (a reply to "when suits you?")."""
    rest = re.sub(r"[\s，,。.!！~吧呀啊哈的吗]", "", text.replace(found.text, ""))
    return len(rest) <= 2


def _wants_visit(text: str) -> bool:
    visit = _VISIT_RE.search(text)
    return bool(_WANT_RE.search(text[max(0, visit.start() - 12): visit.start()]))


def _history_strength(history: list[str], now: datetime) -> Strength:
    """The booking intent earlier messages leave standing: the strongest since the last decline."""
    carried: Strength = "none"
    for message in history:
        found = find_appointment_time(message, now)
        if _declines(message, found):
            carried = "none"
        else:
            carried = max(carried, _strength(message, found), key=_RANK.__getitem__)
    return carried


def _combine(own: Strength, carried: Strength, text: str, found: FoundTime | None) -> Strength:
    if carried == "none":
        return own
    follows_up = found is not None or _CONFIRM_RE.search(text) or _PHONE_RE.search(text) or _name(text)
    if follows_up:
        return "strong"
    return max(own, carried, key=_RANK.__getitem__)


def _latest_history_time(history: list[str], now: datetime) -> FoundTime | None:
    for message in reversed(history):
        found = find_appointment_time(message, now)
        if found:
            return found
    return None


def _entities(text: str, history: list[str], catalog: list[CatalogService]) -> Entities:
    newest_first = [text, *reversed(history)]
    services = list(dict.fromkeys(name for message in newest_first for name in _services(message, catalog)))
    return Entities(
        name=next((name for message in newest_first if (name := _name(message))), None),
        phone=next((phone for message in newest_first if (phone := _phone(message))), None),
        services=services,
    )


def _name(text: str) -> str | None:
    """The name given last in ``text``."""
    names = [(match.start(), match.group("name").strip()) for pattern in _NAME_RES for match in pattern.finditer(text)]
    names = [(start, name) for start, name in names if name not in _NAME_NOT_NAMES]
    return max(names)[1] if names else None


def _phone(text: str) -> str | None:
    matches = list(_PHONE_RE.finditer(text))
    return re.sub(r"[\s-]", "", matches[-1].group(1)) if matches else None


def _services(text: str, catalog: list[CatalogService]) -> list[str]:
    """Catalog names mentioned in ``text``, in order; the longest name or alias wins where two overlap."""
    lowered = text.casefold()
    hits = []
    for service in catalog:
        for term in {service.name, *service.aliases}:
            key = _normalise(term).casefold()
            start = lowered.find(key) if key else -1
            while start >= 0:
                hits.append((start, start + len(key), service.name))
                start = lowered.find(key, start + 1)
    taken: list[tuple[int, int, str]] = []
    for start, end, name in sorted(hits, key=lambda hit: (hit[0] - hit[1], hit[0])):
        if all(end <= kept_start or start >= kept_end for kept_start, kept_end, _ in taken):
            taken.append((start, end, name))
    return list(dict.fromkeys(name for _, _, name in sorted(taken)))


def _asset_requests(text: str) -> list[AssetRequest]:
    return [kind for kind, pattern in _ASSET_PATTERNS.items() if any(_asked(text, match) for match in pattern.finditer(text))]


def _asked(text: str, match: re.Match) -> bool:
    """False for 不用发地址了: the customer says they do not need it."""
    return not _NOT_NEEDED_RE.search(text[max(0, match.start() - 8): match.start()])


def _invitation(strength: Strength, found: FoundTime | None, entities: Entities) -> Invitation:
    ready = strength == "strong" and found is not None
    return Invitation(
        status=1 if ready else 0,
        time=int(found.when.timestamp() * 1000) if found else None,
        service=entities.services[0] if entities.services else None,
        name=entities.name,
        phone=entities.phone,
    )
