"""The appointment time a Chinese customer message names, resolved against "now" in Asia/Shanghai.

Rules where the words leave a choice (each one is what a clinic receptionist would assume):

- A day with no time of day is 09:00; 上午/早上 09:00, 中午 12:00, 下午 14:00, 傍晚 17:00, 晚上 19:00.
- An hour with no period: 1–7 点 are afternoon/evening (no clinic books 3 a.m.), 8–12 点 as said; a bare
  8 点 said after 08:00 with no day means 20:00 today.
- No day named: today if that time is still ahead, else tomorrow. A period already under way today
  (下午 at 15:20) gives the next full hour instead.
- 今天/今晚 (or a date that is today) with no hour and a start already past: the next full hour while the
  period lasts; an hour the customer named is kept even when past.
- 这周X/本周X: this Monday-based week's X; 下周X: next week's; 下周 alone: next Monday; 周末: Saturday.
  A bare 周X is its next occurrence not in the past (today only if the time is still ahead).
- X号 alone: this month, or next month once the day has passed; a month-day already past: next year.
- Ranges (下午3点到5点, 两三点) resolve to their start. Past days (昨天, 上周X) and vague ones (改天, 过段时间,
  最近 …) give None. A clause the customer rules out (明天不行，后天下午可以) is skipped, and after 改到/换到
  the new time wins, taking whatever it leaves out from the old one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_HOUR = 9

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_TENS = r"[一二两三四五六七八九]?十[一二三四五六七八九]?"
_NUM = rf"(?:[0-9]{{1,2}}|{_TENS}|[零〇一二两三四五六七八九]{{1,2}})"
_DAY_NUM = r"(?:3[01]|[12][0-9]|0?[1-9]|[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九])"
_MONTH_NUM = r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"


@dataclass(frozen=True)
class Period:
    start: int  # the hour a bare period means
    end: int  # the hour it is over
    afternoon: bool  # 3点 inside it means 15:00


_MORNING, _NOON, _AFTERNOON = Period(9, 12, False), Period(12, 14, False), Period(14, 18, True)
_DUSK, _EVENING, _NIGHT, _SMALL_HOURS = Period(17, 19, True), Period(19, 24, True), Period(21, 24, True), Period(0, 6, False)
_PERIODS = {
    "上午": _MORNING, "早上": _MORNING, "早晨": _MORNING, "清晨": _MORNING, "一早": _MORNING, "今早": _MORNING,
    "明早": _MORNING, "早": _MORNING, "中午": _NOON, "午后": _AFTERNOON, "下午": _AFTERNOON, "傍晚": _DUSK,
    "晚上": _EVENING, "晚间": _EVENING, "今晚": _EVENING, "明晚": _EVENING, "今夜": _EVENING, "晚": _EVENING,
    "下班后": _EVENING, "下班以后": _EVENING, "下班之后": _EVENING, "夜里": _NIGHT, "夜间": _NIGHT, "凌晨": _SMALL_HOURS,
}
_PERIOD_WORDS = "|".join(sorted((word for word in _PERIODS if len(word) > 1), key=len, reverse=True))
_PERIOD_RE = re.compile(_PERIOD_WORDS)

# Words after "X点" that make it "X points" (有两点疑问); before or after "一点", "a bit" (早一点, 一点都不疼).
_NOT_A_TIME_AFTER = (r"(?:问题|疑问|建议|要求|注意|原因|想法|不同|区别|好处|需要|顾虑|意见|要问|想问|想了解|想咨询|想确认|要确认|担心|疑惑"
                     r"|评|赞|点|儿)")
_A_BIT_BEFORE = set("早晚快慢多少好宜贵大小近远轻重有再微高低深浅淡长短差些")
_A_BIT_AFTER = set("都也不没")

_TIME_OF_DAY_RE = re.compile(
    rf"(?:(?P<p>{_PERIOD_WORDS}|早|晚)\s{{0,3}})?"
    rf"(?:(?<![0-9])(?P<ch>[01]?[0-9]|2[0-4])\s{{0,3}}:\s{{0,3}}(?P<cm>[0-5][0-9])(?![0-9])"
    rf"|(?<![0-9第几])(?P<h>{_NUM})(?:\s{{0,3}}(?:到|至|-|~|或)\s{{0,3}}{_NUM})?\s{{0,3}}(?:点钟|点|时)(?!{_NOT_A_TIME_AFTER})"
    rf"(?:\s{{0,3}}(?P<half>半)|(?P<quarter>[一三])刻|过?(?P<m>[0-5]?[0-9]|[一二三四五]?十[一二三四五六七八九]?|[零〇]?[一二三四五六七八九])"
    rf"(?:分钟|分)?(?![0-9号日月天个次元块%]))?)"
)

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_RELATIVE_DAYS = {"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "明儿": 1, "明早": 1, "明晚": 1,
                  "今天": 0, "今日": 0, "今儿": 0, "今早": 0, "今晚": 0, "今夜": 0, "当天": 0}
_PAST_DAYS = ("大前天", "前天", "昨天", "昨日", "昨晚")
_HOLIDAYS = {"元旦": (1, 1), "情人节": (2, 14), "妇女节": (3, 8), "女神节": (3, 8), "三八节": (3, 8), "劳动节": (5, 1),
             "五一": (5, 1), "儿童节": (6, 1), "国庆": (10, 1), "双十一": (11, 11), "双11": (11, 11), "平安夜": (12, 24),
             "圣诞": (12, 25)}
_WEEK_REL = {None: 0, "这": 0, "这个": 0, "本": 0, "下": 1, "下个": 1, "下下": 2, "下下个": 2, "上": -1, "上个": -1}


def _alternatives(words) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_DAY_RE = re.compile(
    r"(?<![0-9])(?P<y>20[0-9]{2})\s{0,3}[年\-/.]\s{0,3}(?P<mo>1[0-2]|0?[1-9])\s{0,3}[月\-/.]\s{0,3}(?P<d>3[01]|[12][0-9]|0?[1-9])\s{0,3}[日号]?"
    rf"|(?:(?P<yw>今年|明年)\s{{0,3}})?(?P<mo2>{_MONTH_NUM})\s{{0,3}}月份?\s{{0,3}}(?P<d2>{_DAY_NUM})(?:\s{{0,3}}[日号]|(?![0-9万元块个次天]))"
    rf"|(?P<mrel>下下个?|下个?|这个?|本)月份?\s{{0,3}}的?\s{{0,3}}(?P<d4>{_DAY_NUM})\s{{0,3}}[日号]"
    r"|(?<![0-9.¥$])(?P<mo3>1[0-2]|0?[1-9])\s{0,3}[/.\-]\s{0,3}(?P<d3>3[01]|[12][0-9]|0?[1-9])(?![0-9.%万元块折倍斤克个次点时岁度号支瓶针毫天周年月分秒小a-zA-Z])"
    rf"|(?P<n>{_NUM})\s{{0,3}}(?P<unit>天|个?星期|个?礼拜|周)\s{{0,3}}[之以]?后"
    rf"|(?P<rel>{_alternatives(_RELATIVE_DAYS)})"
    rf"|(?P<past>{_alternatives(_PAST_DAYS)})"
    r"|(?P<wrel>下下个?|下个?|这个?|本|上个?)?\s{0,3}(?:周|星期|礼拜)\s{0,3}的?\s{0,3}(?:周|星期|礼拜)?(?P<wd>[一二三四五六日天末1-7])(?![直样起般定些切共次个])"
    r"|(?P<wrel2>下下个?|下个?|上个?)(?:周|星期|礼拜)"
    rf"|(?P<hol>{_alternatives(_HOLIDAYS)})"
    rf"|(?<![0-9月/.\-号])(?P<d5>{_DAY_NUM})\s{{0,3}}[号日](?![线楼门口床房色位码台桌])(?!技师|医生|顾问|咨询师)"
)

_VAGUE_RE = re.compile(
    r"改天|过段时间|过一段时间|过阵子|过些天|过些日子|过几天|过两天|几天后|下次|回头|到时候|最近|近期|哪天|找时间|抽空"
    r"|有空再|有时间再|等我有空|以后再|以后吧|晚些时候|晚点再|之后再|月底|月初|月中|年底|年后|节后"
)
_RULED_OUT_RE = re.compile(
    r"(?:不行|不可以|不方便|没空|没时间|有事|来不了|去不了|过不去|过不来|不太行|约满|排满|满了|不在)(?!了?[吗么嘛呢])"
)
# Words that move a booking ("改到周五"): here the time after them wins; the intent agent reads them as a booking.
RESCHEDULE_RE = re.compile(
    r"改到|改成|改为|改在|改约|改期|换到|换成|换在|换个时间|推到|推迟到|挪到|延到|延后到|延期到|调到|调整到|提前到"
)
_CLAUSE_RE = re.compile(r"[，,。！!？?；;\n]+")


@dataclass(frozen=True)
class FoundTime:
    when: datetime
    text: str  # the words that named it, e.g. "明天下午3点"


@dataclass(frozen=True)
class _Parts:
    day: re.Match | None
    clock: re.Match | None
    period: re.Match | None
    vague: bool

    @property
    def has_time_of_day(self) -> bool:
        return self.clock is not None or self.period is not None


def parse_appointment_time(text: str, now: datetime) -> datetime | None:
    found = find_appointment_time(text, now)
    return found.when if found else None


def find_appointment_time(text: str, now: datetime) -> FoundTime | None:
    """The time ``text`` names and the words that named it; None when it names no usable time."""
    now = to_shanghai(now)
    kept, ruled_out = _split_ruled_out(unicodedata.normalize("NFKC", text))
    earlier, later = _split_at_reschedule(kept)
    parts = _extract(later)
    if earlier:
        parts = _fill_from(parts, _extract(earlier), time_of_day=True)
    if ruled_out and parts.has_time_of_day:
        previous = _extract(ruled_out)
        if previous.has_time_of_day:
            parts = _fill_from(parts, previous, time_of_day=False)
    when = _resolve(parts, now)
    if when is None:
        return None
    pieces = list(dict.fromkeys(m for m in (parts.day, parts.period, parts.clock) if m))
    return FoundTime(when=when, text=_join_pieces(pieces))


def to_shanghai(moment: datetime) -> datetime:
    """Aware times are converted; naive ones are taken as Shanghai wall-clock time."""
    return moment.astimezone(SHANGHAI) if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _split_ruled_out(text: str) -> tuple[str, str]:
    """(what the customer offers, what they rule out): 明天不行后天可以 → ("后天可以", "明天不行")."""
    kept, ruled_out = [], []
    for clause in filter(None, _CLAUSE_RE.split(text)):
        last = None
        for last in _RULED_OUT_RE.finditer(clause):
            pass
        if last is None:
            kept.append(clause)
        else:
            ruled_out.append(clause[: last.end()])
            kept.append(clause[last.end():])
    return "，".join(filter(None, kept)), "，".join(ruled_out)


def _split_at_reschedule(text: str) -> tuple[str, str]:
    """(the old time's words, the new time's words) around the last 改到/换到; ("", text) without one."""
    marker = None
    for marker in RESCHEDULE_RE.finditer(text):
        pass
    return (text[: marker.start()], text[marker.end():]) if marker else ("", text)


def _extract(text: str) -> _Parts:
    day = _DAY_RE.search(text)
    clock = next(_clocks(text), None)
    if clock and clock.group("p"):
        period = clock
    else:
        before = [m for m in _PERIOD_RE.finditer(text) if not clock or m.start() < clock.start()]
        period = before[-1] if before else _PERIOD_RE.search(text)
    return _Parts(day=day, clock=clock, period=period, vague=bool(_VAGUE_RE.search(text)))


def _fill_from(parts: _Parts, other: _Parts, *, time_of_day: bool) -> _Parts:
    """``parts`` with the day (and, when asked, the time of day) it lacks taken from ``other``."""
    clock, period = parts.clock, parts.period
    if time_of_day and not parts.has_time_of_day:
        clock, period = other.clock, other.period
    return _Parts(day=parts.day or other.day, clock=clock, period=period, vague=parts.vague)


def _clocks(text: str):
    for match in _TIME_OF_DAY_RE.finditer(text):
        if match.group("h") == "一" and _means_a_bit(text, match):
            continue
        if _hour(match) > 24:
            continue
        yield match


def _means_a_bit(text: str, match: re.Match) -> bool:
    """早一点/便宜一点: "a bit", not one o'clock."""
    start, end = match.start("h"), match.end()
    if match.group("p") in ("早", "晚"):
        return True
    return match.group("p") is None and ((start > 0 and text[start - 1] in _A_BIT_BEFORE) or text[end: end + 1] in _A_BIT_AFTER)


def _number(token: str) -> int:
    if token.isdigit():
        return int(token)
    if "十" in token:
        tens, _, units = token.partition("十")
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0)
    digits = [_CN_DIGITS[char] for char in token]
    if len(digits) == 2 and digits[1] == digits[0] + 1:  # 两三点: the earlier one
        return digits[0]
    return int("".join(map(str, digits)))


def _hour(clock: re.Match) -> int:
    """The hour as spoken (3 in 下午3点)."""
    return int(clock.group("ch")) if clock.group("ch") else _number(clock.group("h"))


def _minute(clock: re.Match) -> int:
    if clock.group("ch"):
        return int(clock.group("cm"))
    if clock.group("half"):
        return 30
    if clock.group("quarter"):
        return 15 if clock.group("quarter") == "一" else 45
    return _number(clock.group("m")) if clock.group("m") else 0


def _period_of(parts: _Parts) -> Period | None:
    if parts.period is None:
        return None
    word = parts.period.group("p") if parts.period is parts.clock else parts.period.group()
    return _PERIODS[word]


def _clock_hour(hour: int, period: Period | None, *, day_named: bool, now: datetime) -> int:
    """The 24-hour hour a spoken hour means in its period (see the module rules)."""
    if period is None:
        if 1 <= hour <= 7:
            return hour + 12
        if hour == 8 and not day_named and now.hour >= 8 and now.hour < 20:
            return 20
        return hour
    if period is _NOON:
        return hour + 12 if 1 <= hour <= 5 else hour
    if period.afternoon and hour < 12:
        return hour + 12
    if period.afternoon and hour == 12 and period.start >= 17:  # 晚上12点: midnight
        return 24
    return hour


def _resolve(parts: _Parts, now: datetime) -> datetime | None:
    if not (parts.day or parts.has_time_of_day) or (parts.vague and not parts.day):
        return None
    if parts.day and parts.day.group("past"):
        return None
    period = _period_of(parts)
    explicit_hour = parts.clock is not None
    if explicit_hour and (parts.clock.group("ch") or "").startswith("0"):
        hour, minute = int(parts.clock.group("ch")), int(parts.clock.group("cm"))  # 08:30 is a 24-hour clock
    elif explicit_hour:
        hour = _clock_hour(_hour(parts.clock), period, day_named=parts.day is not None, now=now)
        minute = _minute(parts.clock)
    else:
        hour, minute = (period.start if period else DEFAULT_HOUR), 0
    today = now.date()
    if parts.day is None:
        return _on_open_day(today, hour, minute, period, explicit_hour, now)
    weekday = _bare_weekday(parts.day)
    if weekday is not None:
        moment = _at(today + timedelta(days=(weekday - today.weekday()) % 7), hour, minute)
        return moment if moment > now else moment + timedelta(days=7)
    day = _day_of(parts.day, today)
    if day is None:
        return None
    moment = _at(day, hour, minute)
    if day == today and not explicit_hour and moment <= now:
        return _next_hour_within(period, now) or moment
    return moment


def _on_open_day(today: date, hour: int, minute: int, period: Period | None, explicit_hour: bool, now: datetime) -> datetime:
    """No day named: today while the time is ahead, else tomorrow."""
    moment = _at(today, hour, minute)
    if moment > now:
        return moment
    if not explicit_hour:
        under_way = _next_hour_within(period, now)
        if under_way:
            return under_way
    return moment + timedelta(days=1)


def _next_hour_within(period: Period | None, now: datetime) -> datetime | None:
    upcoming = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    end = period.end if period else 24
    return upcoming if upcoming.date() == now.date() and upcoming.hour < end else None


def _at(day: date, hour: int, minute: int) -> datetime:
    extra_days, hour = divmod(hour, 24)
    return datetime.combine(day + timedelta(days=extra_days), time(hour, minute), tzinfo=SHANGHAI)


def _bare_weekday(day: re.Match) -> int | None:
    if day.group("wd") and day.group("wrel") is None:
        return _WEEKDAYS[day.group("wd")]
    return None


def _day_of(match: re.Match, today: date) -> date | None:
    """The calendar day a day expression (other than a bare weekday) names."""
    group = match.group
    if group("y"):
        return _valid_date(int(group("y")), int(group("mo")), int(group("d")))
    if group("mo2"):
        year = today.year + (1 if group("yw") == "明年" else 0)
        return _month_day(year, _number(group("mo2")), _number(group("d2")), today, roll=group("yw") is None)
    if group("mo3"):
        return _month_day(today.year, int(group("mo3")), int(group("d3")), today, roll=True)
    if group("d4"):
        offset = {"下": 1, "下个": 1, "下下": 2, "下下个": 2}.get(group("mrel"), 0)
        return _nth_month_day(today, offset, _number(group("d4")))
    if group("n"):
        weeks = group("unit") != "天"
        return today + timedelta(days=_number(group("n")) * (7 if weeks else 1))
    if group("rel"):
        return today + timedelta(days=_RELATIVE_DAYS[group("rel")])
    if group("wd") or group("wrel2"):
        weeks = _WEEK_REL[group("wrel") if group("wd") else group("wrel2")]
        if weeks < 0:
            return None  # 上周X: already past
        weekday = _WEEKDAYS[group("wd")] if group("wd") else 0
        return today - timedelta(days=today.weekday()) + timedelta(days=7 * weeks + weekday)
    if group("hol"):
        return _month_day(today.year, *_HOLIDAYS[group("hol")], today, roll=True)
    return _day_of_month(today, _number(group("d5")))


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _month_day(year: int, month: int, day: int, today: date, *, roll: bool) -> date | None:
    """That month-day in ``year``, or the next year once it has passed (when ``roll``)."""
    found = _valid_date(year, month, day)
    if found and roll and found < today:
        found = _valid_date(year + 1, month, day)
    return found


def _nth_month_day(today: date, months_ahead: int, day: int) -> date | None:
    month_index = today.year * 12 + today.month - 1 + months_ahead
    return _valid_date(month_index // 12, month_index % 12 + 1, day)


def _day_of_month(today: date, day: int) -> date | None:
    """X号: this month, else the first month ahead that has that day."""
    start = 0 if day >= today.day else 1
    for months_ahead in range(start, start + 3):
        found = _nth_month_day(today, months_ahead, day)
        if found:
            return found
    return None


def _join_pieces(pieces: list[re.Match]) -> str:
    """The matched words, day first; pieces overlapping in one text (今晚 as day and as period) count once."""
    spans: list[tuple[str, int, int]] = []
    for piece in pieces:
        if spans and spans[-1][0] is piece.string and piece.start() <= spans[-1][2] and piece.end() >= spans[-1][1]:
            source, start, end = spans[-1]
            spans[-1] = (source, min(start, piece.start()), max(end, piece.end()))
        else:
            spans.append((piece.string, piece.start(), piece.end()))
    return "".join(source[start:end] for source, start, end in spans)
