"""What traces may not carry: phone numbers, ID numbers, e-mail addresses, names; masked in linear time."""

from __future__ import annotations

import time

import pytest

from telemetry.masking import WITHHELD, mask, mask_text


@pytest.mark.parametrize(("text", "secret"), [
    ("电话13912345678", "13912345678"),
    ("手机 139-1234-5678 回电", "139-1234-5678"),
    ("+86 139 1234 5678", "139 1234 5678"),
    ("身份证号11010119900307123X", "11010119900307123X"),
    ("邮箱 wang.fang+vip@qq.com", "wang.fang+vip@qq.com"),
    ("你好，我叫王芳，想咨询", "王芳"),
    ("姓名：李小花", "李小花"),
])
def test_personal_data_is_masked_in_text(text: str, secret: str) -> None:
    assert secret not in mask_text(text)


def test_ordinary_words_prices_and_dates_are_kept() -> None:
    text = "水光针980元一次，2026年12月7日下午3点，疗程3次"
    assert mask_text(text) == text


def test_a_title_keeps_the_title_and_hides_the_surname() -> None:
    assert mask_text("王女士您好") == "*女士您好"


def test_personal_fields_are_withheld_and_their_values_masked_everywhere_else() -> None:
    masked = mask({"entities": {"name": "赵敏", "phone": "13800000000"}, "reply": "赵敏您好，已为您预约"}, names=["Lily"])
    assert masked["entities"] == {"name": WITHHELD, "phone": WITHHELD}
    assert "赵敏" not in masked["reply"]
    assert mask("Lily，欢迎回来", names=["Lily"]) == "[姓名]，欢迎回来"


@pytest.mark.parametrize("unit", ["1", "a", "我叫", "a@", "1-", "王"])
def test_masking_is_linear_in_the_worst_case(unit: str) -> None:
    timings = []
    for size in (20_000, 80_000):
        started = time.perf_counter()
        mask_text(unit * (size // len(unit)))
        timings.append(time.perf_counter() - started)
    assert timings[1] < 0.5 and timings[1] < 8 * timings[0] + 0.02
