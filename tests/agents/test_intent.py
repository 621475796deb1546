"""The intent agent: booking intent and its strength, contact details, services, asset requests, invitation."""

from __future__ import annotations

import json
import pickle
from datetime import datetime
from pathlib import Path

import pytest

from agents.intent import CatalogService, IntentAgent, IntentInput, IntentResult, detect_intent
from agents.timeparse import SHANGHAI

DATA = Path(__file__).parent / "data"
TUESDAY_10AM = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
CATALOG = [
    CatalogService(product_id="p1", name="水光针", aliases=["水光"]),
    CatalogService(product_id="p2", name="热玛吉", aliases=["Thermage"]),
    CatalogService(product_id="p3", name="热玛吉五代", aliases=["热玛吉5代"]),
    CatalogService(product_id="p4", name="光子嫩肤", aliases=["光子", "OPT"]),
    CatalogService(product_id="p5", name="超皮秒", aliases=["皮秒"]),
]


def detect(text: str, history: list[str] | None = None, now: datetime = TUESDAY_10AM) -> IntentResult:
    return detect_intent(IntentInput(text=text, history=history or [], now=now, catalog=CATALOG))


def _observed(result: IntentResult) -> dict:
    return {
        "appointment": result.appointment,
        "strength": result.strength,
        "time": result.time.isoformat() if result.time else None,
        "asset_requests": result.asset_requests,
        "entities": result.entities.model_dump(),
    }


def test_extra_set_accuracy_is_at_least_95_percent():
    cases = [json.loads(line) for line in (DATA / "intent_extra.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    misses = []
    for case in cases:
        observed = _observed(detect(case["text"], case["history"], datetime.fromisoformat(case["now"])))
        if observed != case["expected"]:
            misses.append((case["text"], observed, case["expected"]))
    assert len(cases) >= 30
    assert 1 - len(misses) / len(cases) >= 0.95, misses


@pytest.mark.parametrize(("text", "strength"), [
    ("帮我约明天下午的面诊", "strong"),
    ("我想明天过来", "strong"),
    ("后天上午十点可以吗", "strong"),
    ("周六有号吗", "weak"),
    ("可以预约吗", "weak"),
    ("我想做水光针，多少钱", "weak"),
    ("水光针多少钱", "none"),
    ("可以上门服务吗", "none"),
    ("不约了，谢谢", "none"),
    ("先不预约，我再考虑考虑", "none"),
])
def test_strength_follows_how_firmly_the_customer_commits(text, strength):
    result = detect(text)
    assert result.strength == strength
    assert result.appointment is (strength != "none")


def test_a_time_sent_after_a_booking_request_completes_an_invitation():
    result = detect("明天下午3点", history=["你好", "我想预约面诊"])
    expected = datetime(2026, 3, 11, 15, 0, tzinfo=SHANGHAI)
    assert result.strength == "strong" and result.time == expected and result.time_text == "明天下午3点"
    assert result.invitation.status == 1
    assert result.invitation.time == int(expected.timestamp() * 1000) == 1773212400000


def test_contact_details_after_a_booking_fill_the_invitation_with_the_earlier_time():
    result = detect("好的，我叫王丽，电话138-1234-5678", history=["帮我约周六上午的热玛吉"])
    assert result.invitation.model_dump() == {
        "status": 1, "time": int(datetime(2026, 3, 14, 9, 0, tzinfo=SHANGHAI).timestamp() * 1000),
        "service": "热玛吉", "name": "王丽", "phone": "13812345678",
    }


def test_a_later_decline_cancels_the_booking_intent_of_history():
    result = detect("明天下午3点", history=["我想预约", "算了不约了"])
    assert result.strength == "weak" and result.invitation.status == 0
    assert detect("不去了", history=["帮我约明天下午3点"]).model_dump(include={"appointment", "time"}) == {
        "appointment": False, "time": None}


def test_an_interested_customer_without_a_firm_time_gets_no_confirmed_invitation():
    result = detect("周六上午有号吗？我姓李，13900001111")
    assert result.strength == "weak"
    assert result.invitation.model_dump() == {
        "status": 0, "time": int(datetime(2026, 3, 14, 9, 0, tzinfo=SHANGHAI).timestamp() * 1000),
        "service": None, "name": "李", "phone": "13900001111",
    }


@pytest.mark.parametrize(("text", "phone"), [
    ("电话13812345678", "13812345678"), ("手机 138 1234 5678", "13812345678"), ("+86 139-0000-1111", "13900001111"),
    ("订单号 213812345678901", None), ("座机 021-12345678", None), ("12812345678", None),
])
def test_only_mainland_mobile_numbers_count_as_phone(text, phone):
    assert detect(text).entities.phone == phone


@pytest.mark.parametrize(("text", "name"), [
    ("我叫张小花", "张小花"), ("我姓王", "王"), ("我是李女士", "李女士"), ("免贵姓欧阳", "欧阳"), ("叫我Amy就好", "Amy"),
    ("我是敏感肌", None), ("我是第一次做", None), ("我是白领", None),
])
def test_names_are_kept_as_said_and_self_descriptions_are_not_names(text, name):
    assert detect(text).entities.name == name


def test_services_use_the_longest_catalog_match_latest_first():
    assert detect("热玛吉5代和水光哪个好").entities.services == ["热玛吉五代", "水光针"]
    assert detect("光子呢", history=["我想做水光", "OPT也看看"]).entities.services == ["光子嫩肤", "水光针"]
    assert detect("THERMAGE多少钱").entities.services == ["热玛吉"]


def test_the_latest_name_and_phone_win():
    result = detect("电话换成13900002222", history=["我叫陈静，13800001111", "我是周敏"])
    assert (result.entities.name, result.entities.phone) == ("周敏", "13900002222")


@pytest.mark.parametrize(("text", "requests"), [
    ("发一下价目表", ["price_list"]),
    ("有没有做过的人的真人反馈", ["cases"]),
    ("你们正规吗？医生有资格证吗", ["certificates"]),
    ("门店在哪，好停车吗", ["address"]),
    ("多少钱？地址发我，再看看案例", ["price_list", "cases", "address"]),
    ("不用发地址了，我知道", []),
    ("价格太贵了", []),
])
def test_asset_requests(text, requests):
    assert detect(text).asset_requests == requests


async def test_agent_detects_asynchronously_and_its_models_cross_process_boundaries():
    request = IntentInput(text="帮我约明天下午3点的水光针", now=TUESDAY_10AM, catalog=CATALOG)
    result = await IntentAgent().detect(request)
    assert result == detect_intent(request)
    assert pickle.loads(pickle.dumps(result)) == result and pickle.loads(pickle.dumps(request)) == request
    assert result.invitation.status == 1 and result.invitation.service == "水光针"


def test_now_defaults_to_the_current_time():
    result = detect_intent(IntentInput(text="明天上午10点过来"))
    assert result.time is not None and result.time > datetime.now(SHANGHAI)
