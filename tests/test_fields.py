"""Typed answers: what users write is understood, and wrong answers say the rule."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from bot.fields import (
    Invalid,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_money,
    parse_phone,
    parse_text,
    parse_year,
)
from bot.text import bare, fold, split_text

TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize(
    ("typed", "dong"),
    [
        ("1.500.000", 1_500_000),
        ("1,5 triệu", 1_500_000),
        ("1.5tr", 1_500_000),
        ("2 tr", 2_000_000),
        ("500k", 500_000),
        ("500 nghìn", 500_000),
        ("1 tỷ", 1_000_000_000),
        ("300.000đ", 300_000),
        ("300000 đồng", 300_000),
        ("1.234.567 ₫", 1_234_567),
        ("0", 0),
    ],
)
def test_money_in_vietnamese_ways(typed: str, dong: int) -> None:
    assert parse_money(typed) == dong


@pytest.mark.parametrize("typed", ["abc", "1.5.0.0 xyz", "", "-5", "12 apples"])
def test_money_nonsense_is_refused_with_the_rule(typed: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_money(typed)
    assert "1.500.000" in caught.value.message or "range" in caught.value.message


def test_dates_accept_words_and_refuse_the_future_and_the_past() -> None:
    assert parse_date("27/11/2026", today=TODAY) == "2026-11-27"
    assert parse_date("1/2/2024", today=TODAY) == "2024-02-01"
    assert parse_date("hôm nay", today=TODAY) == "2026-11-27"
    assert parse_date("Hom qua", today=TODAY) == "2026-11-26"
    for bad in ("28/11/2026", "31/12/2020", "30/02/2024", "2024-01-01", "mai"):
        with pytest.raises(Invalid):
            parse_date(bad, today=TODAY)


def test_numbers_have_ranges() -> None:
    assert parse_integer("1.200") == 1200
    assert parse_integer("25", minimum=1, maximum=100) == 25
    assert parse_decimal("2,5", minimum=0.5, maximum=24) == 2.5
    with pytest.raises(Invalid) as caught:
        parse_decimal("25", minimum=0.5, maximum=24)
    assert caught.value.params == {"min": 0.5, "max": 24}
    for bad in ("abc", "1e5", "nan"):
        with pytest.raises(Invalid):
            parse_decimal(bad)
    with pytest.raises(Invalid):
        parse_integer("12a")


def test_numbers_may_come_with_the_words_of_an_estimate() -> None:
    assert parse_integer("khoảng 25 bạn") == 25
    assert parse_integer("hơn 1.200 người") == 1200
    assert parse_integer("gần 30") == 30
    assert parse_decimal("tầm 4,5 tiếng", maximum=500) == 4.5
    assert parse_decimal("4h", maximum=500) == 4
    assert parse_money("khoảng 150 triệu") == 150_000_000
    assert parse_money("trên 2 tỷ đồng") == 2_000_000_000
    for bad in ("khoảng", "hơn nhiều", "25 bạn và 3 em"):
        with pytest.raises(Invalid):
            parse_integer(bad)


def test_year() -> None:
    assert parse_year("2004", minimum=1900, maximum=2026) == 2004
    for bad in ("04", "2027", "năm 2004"):
        with pytest.raises(Invalid):
            parse_year(bad, minimum=1900, maximum=2026)


def test_text_is_nfc_and_bounded() -> None:
    decomposed = unicodedata.normalize("NFD", "  Hoàng   Thị Mai ")
    value = parse_text(decomposed, min_length=2, max_length=20)
    assert value == "Hoàng Thị Mai"
    assert unicodedata.is_normalized("NFC", value)
    with pytest.raises(Invalid):
        parse_text("a", min_length=2)
    with pytest.raises(Invalid) as caught:
        parse_text("x" * 21, max_length=20)
    assert caught.value.params == {"max": 20, "length": 21}


def test_phone_numbers() -> None:
    assert parse_phone("0912 345 678") == "+84912345678"
    assert parse_phone("+84 912-345-678") == "+84912345678"
    assert parse_phone("84912345678") == "+84912345678"
    for bad in ("12345", "0212345678", "số của em"):
        with pytest.raises(Invalid):
            parse_phone(bad)


def test_folding_makes_diacritics_optional() -> None:
    assert fold("Xã Na Sầm") == "xa na sam"
    assert fold("Đồng Đăng") == "dong dang"
    assert bare("⬅️ Quay lại") == "quay lai"
    assert bare("✅ Tôi đồng ý") == "toi dong y"


def test_long_text_splits_on_lines_within_the_limit() -> None:
    text = "\n".join(f"dòng {i} &amp; <b>đậm</b>" for i in range(400))
    parts = split_text(text, 4096)
    assert len(parts) > 1
    assert all(len(part) <= 4096 for part in parts)
    assert "\n".join(parts) == text
    long_line = "chữ &amp; " * 1000
    parts = split_text(long_line, 500)
    assert all(len(part) <= 500 for part in parts)
    assert all(part.count("&") == part.count("&amp;") for part in parts)
