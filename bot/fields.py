"""Parsing and validating typed answers. Each parser returns a JSON-storable value or raises
Invalid with a translatable message that states the rule."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from domain.forms import Invalid
from domain.text import fold, nfc
from domain.vocabulary import N_

__all__ = [
    "Invalid",
    "parse_date",
    "parse_day",
    "parse_decimal",
    "parse_integer",
    "parse_moment",
    "parse_money",
    "parse_phone",
    "parse_text",
    "parse_time",
    "parse_year",
]


def parse_text(raw: str, *, min_length: int = 1, max_length: int = 500) -> str:
    value = nfc(raw)
    if len(value) < min_length:
        raise Invalid(N_("Please write at least {min} characters."), {"min": min_length})
    if len(value) > max_length:
        raise Invalid(
            N_("That is too long: at most {max} characters, you wrote {length}."),
            {"max": max_length, "length": len(value)},
        )
    return value


_INTEGER = re.compile(r"^\d{1,3}([.,\s]\d{3})*$|^\d+$")
# What people write around a number they estimate or count (folded): "khoảng 150 triệu",
# "hơn 20 bạn", "tầm 4 tiếng". The number is taken as it is written.
_ABOUT = re.compile(
    r"^(?:khoang|tam|gan|hon|tren|chung|xap xi|uoc tinh|uoc|about|around|approximately"
    r"|nearly|almost|over|more than|~)\s*"
)
_COUNTED = re.compile(
    r"\s*(?:ban|nguoi|em|doan vien|thanh nien|ho|gio|tieng|h|viec lam|lao dong|people|persons"
    r"|hours?|jobs?)$"
)


def _number_text(raw: str) -> str:
    """The number in an answer, without "khoảng" before it or "bạn", "giờ" after it."""
    text = fold(raw)
    return _COUNTED.sub("", _ABOUT.sub("", text, count=1), count=1)


def parse_integer(raw: str, *, minimum: int = 0, maximum: int = 10**9) -> int:
    text = _number_text(raw)
    if not _INTEGER.match(text):
        raise Invalid(N_("Please answer with a whole number, for example 25."))
    value = _whole(re.sub(r"[.,\s]", "", text), maximum)
    _check_range(value, minimum, maximum)
    return int(value)


def _whole(digits: str, maximum: float) -> int | float:
    """The value of a string of digits; infinity when it has more digits than `maximum`
    (Python refuses to convert more than 4,300 digits, and no limit of ours has 20)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(int(maximum))):
        return float("inf")
    return int(significant)


def parse_decimal(raw: str, *, minimum: float = 0, maximum: float = 10**9) -> float:
    text = _number_text(raw).replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise Invalid(N_("Please answer with a number, for example 2,5."))
    value = Decimal(text)
    _check_range(value, minimum, maximum)
    return float(value)


def _check_range(value: int | float | Decimal, minimum: float, maximum: float) -> None:
    if not minimum <= value <= maximum:
        raise Invalid(
            N_("Please answer with a number from {min} to {max}."),
            {"min": minimum, "max": maximum},
        )


def parse_year(raw: str, *, minimum: int, maximum: int) -> int:
    text = nfc(raw)
    if not re.fullmatch(r"\d{4}", text):
        raise Invalid(N_("Please write the year with four digits, for example 2004."))
    value = int(text)
    if not minimum <= value <= maximum:
        raise Invalid(
            N_("Please write a year from {min} to {max}."), {"min": minimum, "max": maximum}
        )
    return value


_UNITS = {
    "k": 1_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "tr": 1_000_000,
    "trieu": 1_000_000,
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
}
_MONEY = re.compile(r"^(?P<number>\d[\d.,\s]*?)\s*(?P<unit>[a-z]+)?\s*(d|dong|vnd)?$")


def parse_money(raw: str, *, maximum: int = 10**13) -> int:
    """Đồng from "1.500.000", "1,5 triệu", "2 tr", "500k", "1 tỷ", "300.000đ", "khoảng 150
    triệu"."""
    text = _ABOUT.sub("", fold(raw).replace("₫", "").strip(), count=1)
    match = _MONEY.match(text)
    unit = match.group("unit") if match else None
    if match is None or (
        unit is not None and unit not in _UNITS and unit not in ("d", "dong", "vnd")
    ):
        raise Invalid(
            N_("Please write an amount in đồng, for example 1.500.000, 1,5 triệu or 500k.")
        )
    number = match.group("number").replace(" ", "")
    value: int | float
    if unit in _UNITS:
        # "1,5 triệu", "1.5 tr": a single separator is a decimal point; more are thousands.
        if len(re.findall(r"[.,]", number)) <= 1:
            amount = Decimal(number.replace(",", "."))
        else:
            amount = Decimal(re.sub(r"[.,]", "", number))
        value = int(amount * _UNITS[unit])
    else:
        if not re.fullmatch(r"\d{1,3}([.,]\d{3})*|\d+", number):
            raise Invalid(
                N_("Please write an amount in đồng, for example 1.500.000, 1,5 triệu or 500k.")
            )
        value = _whole(re.sub(r"[.,]", "", number), maximum)
    if not 0 <= value <= maximum:
        raise Invalid(N_("That amount is out of range."))
    return int(value)


_TODAY = {"hom nay", "today", "nay"}
_YESTERDAY = {"hom qua", "yesterday", "qua"}


def parse_date(raw: str, *, today: dt.date, earliest: dt.date = dt.date(2021, 1, 1)) -> str:
    """An ISO date from dd/mm/yyyy, "hôm nay" or "hôm qua"; not in the future, not too early."""
    text = fold(raw)
    if text in _TODAY:
        value = today
    elif text in _YESTERDAY:
        value = today - dt.timedelta(days=1)
    else:
        match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
        if match is None:
            raise Invalid(N_("Please write the date as dd/mm/yyyy, for example 27/11/2026."))
        day, month, year = (int(part) for part in match.groups())
        try:
            value = dt.date(year, month, day)
        except ValueError:
            raise Invalid(
                N_("That date does not exist. Please check the day and month.")
            ) from None
    if value > today:
        raise Invalid(N_("The date cannot be in the future."))
    if value < earliest:
        raise Invalid(
            N_("The date cannot be before {date}."), {"date": earliest.strftime("%d/%m/%Y")}
        )
    return value.isoformat()


_TOMORROW = {"ngay mai", "mai", "tomorrow"}
_DAY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_TIME = re.compile(r"(\d{1,2})\s*(?:[:h]\s*(\d{2})?)?")


def _day(text: str, today: dt.date) -> dt.date:
    """A day from folded text: dd/mm/yyyy, "hôm nay" or "ngày mai"."""
    if text in _TODAY:
        return today
    if text in _TOMORROW:
        return today + dt.timedelta(days=1)
    match = _DAY.fullmatch(text)
    if match is None:
        raise Invalid(N_("Please write the date as dd/mm/yyyy, for example 27/11/2026."))
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise Invalid(N_("That date does not exist. Please check the day and month.")) from None


def parse_day(
    raw: str,
    *,
    today: dt.date,
    earliest: dt.date = dt.date(2021, 1, 1),
    latest: dt.date = dt.date(2030, 12, 31),
) -> str:
    """An ISO date, past or future, within the programme's years (a campaign's start or end)."""
    value = _day(fold(raw), today)
    if not earliest <= value <= latest:
        raise Invalid(
            N_("The date must be between {first} and {last}."),
            {"first": earliest.strftime("%d/%m/%Y"), "last": latest.strftime("%d/%m/%Y")},
        )
    return value.isoformat()


def _clock(text: str) -> dt.time:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise Invalid(N_("Please write the time as hh:mm, for example 08:00 or 19:30."))
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise Invalid(N_("That time does not exist. Please check the hour and minutes."))
    return dt.time(hour, minute)


def parse_time(raw: str) -> str:
    """A time of day as "HH:MM" from "8:00", "08h30" or "8h"."""
    return _clock(fold(raw)).strftime("%H:%M")


def parse_moment(raw: str, *, now: dt.datetime) -> str:
    """A local date and time in the future, as ISO "YYYY-MM-DDTHH:MM", from "dd/mm/yyyy hh:mm"
    (or "ngày mai 8:00"); `now` is local."""
    text = fold(raw)
    match = re.fullmatch(r"(.+?)\s+(?:luc\s+|at\s+)?(\d{1,2}\s*(?:[:h]\s*\d{0,2})?)", text)
    if match is None:
        raise Invalid(
            N_("Please write the date and time as dd/mm/yyyy hh:mm, for example 01/12/2026 08:00.")
        )
    moment = dt.datetime.combine(_day(match.group(1), now.date()), _clock(match.group(2)))
    if moment <= now.replace(tzinfo=None):
        raise Invalid(N_("That time has already passed. Please choose a later one."))
    if moment > now.replace(tzinfo=None) + dt.timedelta(days=366):
        raise Invalid(N_("Please choose a time within the next year."))
    return moment.isoformat(timespec="minutes")


def parse_phone(raw: str) -> str:
    """A Vietnamese mobile number, stored as +84…; accepts 0912 345 678 or +84 912 345 678."""
    digits = re.sub(r"[\s.\-()]", "", raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise Invalid(N_("Please write a Vietnamese mobile number, for example 0912 345 678."))
    return "+84" + digits[1:]
