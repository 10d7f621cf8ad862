"""Configuration: config.toml, overridden by the environment; secrets only from the environment."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.awards import Ladder, LadderError, parse_ladder

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "FloodConfig",
    "ScheduleConfig",
    "TelegramConfig",
    "VerifyConfig",
    "ZaloConfig",
    "ZaloOAConfig",
    "ZaloOATemplate",
    "load",
    "shipped_file",
]

PUBLIC_TELEGRAM_API = "https://api.telegram.org"
PUBLIC_ZALO_API = "https://bot-api.zaloplatforms.com"
# Zalo's Official Account API, its OAuth server and its template (ZBS/ZNS) server.
PUBLIC_ZALO_OA_API = "https://openapi.zalo.me"
PUBLIC_ZALO_OAUTH = "https://oauth.zaloapp.com"
PUBLIC_ZALO_BUSINESS_API = "https://business.openapi.zalo.me"
# What the webhook signature hashes, in order (see bot.channels.zalo_oa).
SIGNATURE_PARTS = ("app_id", "oa_id", "body", "timestamp", "secret")
SUPPORTED_LOCALES = ("vi", "en")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and what is wrong."""


def shipped_file(name: str) -> Path:
    """A data file shipped with the project: data/ in a checkout, bot/shipped installed."""
    checkout = Path(__file__).resolve().parent.parent / "data" / name
    if checkout.is_file():
        return checkout
    return Path(str(resources.files("bot.shipped") / name))


def shipped_ladder() -> Ladder:
    """The award ladder shipped with the project (data/awards.toml)."""
    return parse_ladder(shipped_file("awards.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    busy_timeout_ms: int = 10_000


@dataclass(frozen=True)
class TelegramConfig:
    token: str | None = None
    api_base_url: str = PUBLIC_TELEGRAM_API
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    poll_timeout: int = 30
    rate_per_second: int = 30  # Telegram's limit for one bot, replies and broadcasts together
    bot_username: str | None = None  # for invite links (t.me/<username>?start=<code>)

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def bot_url(self) -> str:
        return self.api_base_url.rstrip("/") + "/bot"

    @property
    def file_url(self) -> str:
        return self.api_base_url.rstrip("/") + "/file/bot"


@dataclass(frozen=True)
class ZaloConfig:
    token: str | None = field(default=None, repr=False)
    api_base_url: str = PUBLIC_ZALO_API
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8444
    webhook_secret: str | None = field(default=None, repr=False)
    poll_timeout: int = 30
    # Zalo documents no limit: a conservative pace, replies and broadcasts together.
    rate_per_second: int = 5
    # Photos users send are fetched only from these hosts (and their subdomains).
    media_hosts: tuple[str, ...] = ("zalo.me", "zdn.vn", "zadn.vn", "zaloapp.com")

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def bot_url(self) -> str:
        return f"{self.api_base_url.rstrip('/')}/bot{self.token}"


@dataclass(frozen=True)
class ZaloOATemplate:
    """An approved template message (ZBS), for what the bot writes first outside the free
    window: its id, what one costs, and its parameters, each filled from {text} (the message
    as plain text, cut to `max_chars`) and {date} (today)."""

    id: str
    cost: int = 200  # đồng per message
    params: tuple[tuple[str, str], ...] = (("content", "{text}"),)
    max_chars: int = 400


@dataclass(frozen=True)
class ZaloOAConfig:
    app_id: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # the app's, for OAuth
    oa_id: str | None = None
    # The key webhook signatures are made with, where it is not the app's secret key.
    webhook_secret: str | None = field(default=None, repr=False)
    signature: tuple[str, ...] = ("app_id", "body", "timestamp", "secret")
    api_base_url: str = PUBLIC_ZALO_OA_API
    oauth_base_url: str = PUBLIC_ZALO_OAUTH
    business_base_url: str = PUBLIC_ZALO_BUSINESS_API
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8446
    # Requests a minute the OA's API package allows (100 on "Tăng trưởng", 2,000 on
    # "Toàn diện", as reported): replies and broadcasts together.
    per_minute: int = 100
    free_window_hours: int = 48
    announcement: ZaloOATemplate | None = None
    media_hosts: tuple[str, ...] = ("zalo.me", "zdn.vn", "zadn.vn", "zaloapp.com")

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.secret_key and self.oa_id)

    @property
    def signing_key(self) -> str:
        return self.webhook_secret or self.secret_key or ""


@dataclass(frozen=True)
class FloodConfig:
    messages: int = 12
    per_seconds: float = 6.0


@dataclass(frozen=True)
class ScheduleConfig:
    # Nothing scheduled is sent from quiet_start until quiet_end (local time); it waits.
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(7, 0)
    # A run missed while the bot was down still happens on start if it is at most this late.
    misfire_grace: dt.timedelta = dt.timedelta(hours=6)
    # When automatic reminders go out: days before a campaign ends, and at what time.
    deadline_days: tuple[int, ...] = (7, 1)
    deadline_time: dt.time = dt.time(8, 0)


@dataclass(frozen=True)
class VerifyConfig:
    """Certificates anyone can check: the key that signs their codes, the public address of
    the verify page (printed and put in the QR code), and where the bot serves that page."""

    secret: str | None = field(default=None, repr=False)  # from $CERTIFICATE_SECRET only
    public_url: str | None = None  # "https://thidua.example.vn/verify": codes go after a "/"
    listen_host: str | None = None  # None: the bot serves no verify page
    listen_port: int = 8445

    @property
    def enabled(self) -> bool:
        return self.secret is not None

    def link(self, code: str) -> str | None:
        """The page that checks this code, when the bot has a public address."""
        return f"{self.public_url.rstrip('/')}/{code}" if self.public_url else None


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database: DatabaseConfig
    telegram: TelegramConfig
    zalo: ZaloConfig = ZaloConfig()
    zalo_oa: ZaloOAConfig = ZaloOAConfig()
    flood: FloodConfig = FloodConfig()
    schedules: ScheduleConfig = ScheduleConfig()
    verify: VerifyConfig = VerifyConfig()
    # Where `run` answers /healthz and /readyz for a proxy or supervisor; None: nowhere.
    health_listen: tuple[str, int] | None = None
    # A reviewer hears that entries wait for them at most this often (outside quiet hours).
    review_digest_every: dt.timedelta = dt.timedelta(minutes=60)
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    consent_version: str = "2026-11-27"
    min_age: int = 16
    max_age: int = 30
    adult_age: int = 18
    units_file: Path | None = None
    # The award forms, their levels and the scoring (awards.file, else the shipped one).
    ladder: Ladder = field(default_factory=shipped_ladder, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load(path: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Reads config.toml (YOUTHBOT_CONFIG, else ./config.toml if present) and the environment."""
    env = dict(os.environ if environ is None else environ)
    if path is None and env.get("YOUTHBOT_CONFIG"):
        path = Path(env["YOUTHBOT_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"YOUTHBOT_CONFIG: file not found: {path}")
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read: {error}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
        base = path.resolve().parent
    return _build(raw, env, base)


def _build(raw: dict[str, Any], env: dict[str, str], base: Path) -> Config:
    reader = _Reader(raw)
    data_dir = Path(reader.string("bot.data_dir", "var"))
    if not data_dir.is_absolute():
        data_dir = base / data_dir

    default_locale = reader.string("bot.default_locale", "vi")
    if default_locale not in SUPPORTED_LOCALES:
        raise ConfigError(f"bot.default_locale: must be one of {', '.join(SUPPORTED_LOCALES)}")
    timezone = reader.string("bot.timezone", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"bot.timezone: unknown time zone {timezone!r}") from None

    url = env.get("DATABASE_URL") or reader.string("database.url", "")
    if not url:
        url = f"sqlite+aiosqlite:///{data_dir / 'youthbot.sqlite3'}"
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    database = DatabaseConfig(
        url=url, busy_timeout_ms=reader.integer("database.busy_timeout_ms", 10_000, minimum=0)
    )

    api_base = env.get("TELEGRAM_API_BASE_URL") or reader.string(
        "telegram.api_base_url", PUBLIC_TELEGRAM_API
    )
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError("TELEGRAM_API_BASE_URL: must be an http:// or https:// URL")
    webhook_url = env.get("TELEGRAM_WEBHOOK_URL") or reader.string("telegram.webhook_url", "")
    webhook_secret = env.get("TELEGRAM_WEBHOOK_SECRET") or None
    if webhook_url:
        if not webhook_url.startswith("https://"):
            raise ConfigError("telegram.webhook_url: must be an https:// URL")
        if not webhook_secret:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET: required when telegram.webhook_url is set")
        if not (1 <= len(webhook_secret) <= 256) or not all(
            c.isascii() and (c.isalnum() or c in "_-") for c in webhook_secret
        ):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET: 1-256 characters, only A-Z, a-z, 0-9, _ and -"
            )
    token = env.get("TELEGRAM_BOT_TOKEN") or None
    if token is not None and ":" not in token:
        raise ConfigError("TELEGRAM_BOT_TOKEN: does not look like a bot token (id:secret)")
    telegram = TelegramConfig(
        token=token,
        api_base_url=api_base,
        webhook_url=webhook_url or None,
        webhook_listen=reader.string("telegram.webhook_listen", "127.0.0.1"),
        webhook_port=reader.integer("telegram.webhook_port", 8443, minimum=0, maximum=65535),
        webhook_secret=webhook_secret,
        poll_timeout=reader.integer("telegram.poll_timeout", 30, minimum=0, maximum=50),
        rate_per_second=reader.integer("telegram.rate_per_second", 30, minimum=2, maximum=1000),
        bot_username=(
            env.get("TELEGRAM_BOT_USERNAME") or reader.string("telegram.bot_username", "") or None
        ),
    )
    zalo = _zalo(reader, env)
    flood = FloodConfig(
        messages=reader.integer("flood.messages", 12, minimum=1),
        per_seconds=float(reader.integer("flood.per_seconds", 6, minimum=1)),
    )
    schedules = ScheduleConfig(
        quiet_start=reader.time("schedules.quiet_start", "21:00"),
        quiet_end=reader.time("schedules.quiet_end", "07:00"),
        misfire_grace=dt.timedelta(
            minutes=reader.integer("schedules.misfire_grace_minutes", 360, minimum=1)
        ),
        deadline_time=reader.time("schedules.deadline_time", "08:00"),
    )
    min_age = reader.integer("registration.min_age", 16, minimum=1, maximum=120)
    max_age = reader.integer("registration.max_age", 30, minimum=min_age, maximum=120)
    units_file = reader.string("units.file", "")
    return Config(
        ladder=_ladder(base, reader.string("awards.file", "")),
        data_dir=data_dir,
        database=database,
        telegram=telegram,
        zalo=zalo,
        zalo_oa=_zalo_oa(reader, env),
        flood=flood,
        schedules=schedules,
        verify=_verify(reader, env),
        health_listen=_address(
            "health.listen", env.get("HEALTH_LISTEN") or reader.string("health.listen", "")
        ),
        review_digest_every=dt.timedelta(
            minutes=reader.integer("review.digest_minutes", 60, minimum=1)
        ),
        default_locale=default_locale,
        timezone=timezone,
        consent_version=reader.string("registration.consent_version", "2026-11-27"),
        min_age=min_age,
        max_age=max_age,
        units_file=(base / units_file) if units_file else None,
    )


def _ladder(base: Path, name: str) -> Ladder:
    """The award ladder of awards.file, checked now so that a mistake stops the start."""
    if not name:
        return shipped_ladder()
    path = base / name
    try:
        return parse_ladder(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"awards.file: cannot read {path}: {error}") from None
    except LadderError as error:
        raise ConfigError(f"awards.file: {path.name}: {error}") from None


def _zalo(reader: _Reader, env: dict[str, str]) -> ZaloConfig:
    api_base = env.get("ZALO_API_BASE_URL") or reader.string("zalo.api_base_url", PUBLIC_ZALO_API)
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError("ZALO_API_BASE_URL: must be an http:// or https:// URL")
    token = env.get("ZALO_BOT_TOKEN") or None
    if token is not None and ":" not in token:
        raise ConfigError("ZALO_BOT_TOKEN: does not look like a bot token (id:secret)")
    webhook_url = env.get("ZALO_WEBHOOK_URL") or reader.string("zalo.webhook_url", "")
    secret = env.get("ZALO_WEBHOOK_SECRET") or None
    if webhook_url:
        if not webhook_url.startswith("https://"):
            raise ConfigError("zalo.webhook_url: must be an https:// URL")
        # It comes back in an HTTP header, which is ASCII: any other letter could never match.
        if (
            secret is None
            or not 8 <= len(secret) <= 256
            or not all(c.isascii() and c.isprintable() and not c.isspace() for c in secret)
        ):
            raise ConfigError(
                "ZALO_WEBHOOK_SECRET: 8-256 characters, ASCII letters, digits and punctuation "
                "(no spaces), required with a webhook"
            )
    hosts = reader.strings("zalo.media_hosts", list(ZaloConfig.media_hosts))
    return ZaloConfig(
        token=token,
        api_base_url=api_base,
        webhook_url=webhook_url or None,
        webhook_listen=reader.string("zalo.webhook_listen", "127.0.0.1"),
        webhook_port=reader.integer("zalo.webhook_port", 8444, minimum=0, maximum=65535),
        webhook_secret=secret,
        poll_timeout=reader.integer("zalo.poll_timeout", 30, minimum=1, maximum=60),
        rate_per_second=reader.integer("zalo.rate_per_second", 5, minimum=1, maximum=1000),
        media_hosts=tuple(host.lower().strip(".") for host in hosts),
    )


def _zalo_oa(reader: _Reader, env: dict[str, str]) -> ZaloOAConfig:
    bases = {}
    for key, default in (
        ("api_base_url", PUBLIC_ZALO_OA_API),
        ("oauth_base_url", PUBLIC_ZALO_OAUTH),
        ("business_base_url", PUBLIC_ZALO_BUSINESS_API),
    ):
        value = env.get(f"ZALO_OA_{key.upper()}") or reader.string(f"zalo_oa.{key}", default)
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"zalo_oa.{key}: must be an http:// or https:// URL")
        bases[key] = value.rstrip("/")
    settings = ZaloOAConfig(
        app_id=env.get("ZALO_OA_APP_ID") or reader.string("zalo_oa.app_id", "") or None,
        secret_key=env.get("ZALO_OA_SECRET_KEY") or None,
        oa_id=env.get("ZALO_OA_ID") or reader.string("zalo_oa.oa_id", "") or None,
        webhook_secret=env.get("ZALO_OA_WEBHOOK_SECRET") or None,
        signature=tuple(reader.strings("zalo_oa.signature", list(ZaloOAConfig.signature))),
        webhook_url=env.get("ZALO_OA_WEBHOOK_URL")
        or reader.string("zalo_oa.webhook_url", "")
        or None,
        webhook_listen=reader.string("zalo_oa.webhook_listen", "127.0.0.1"),
        webhook_port=reader.integer("zalo_oa.webhook_port", 8446, minimum=0, maximum=65535),
        per_minute=reader.integer("zalo_oa.per_minute", 100, minimum=2, maximum=100_000),
        free_window_hours=reader.integer("zalo_oa.free_window_hours", 48, minimum=0),
        announcement=_template(reader, "zalo_oa.templates.announcement"),
        media_hosts=tuple(
            host.lower().strip(".")
            for host in reader.strings("zalo_oa.media_hosts", list(ZaloOAConfig.media_hosts))
        ),
        **bases,
    )
    unknown = set(settings.signature) - set(SIGNATURE_PARTS)
    if unknown or "body" not in settings.signature or "secret" not in settings.signature:
        raise ConfigError(
            "zalo_oa.signature: a list of " + ", ".join(SIGNATURE_PARTS) + " with body and secret"
        )
    given = [settings.app_id, settings.secret_key, settings.oa_id]
    if any(given) and not all(given):
        raise ConfigError("ZALO_OA_APP_ID, ZALO_OA_SECRET_KEY and ZALO_OA_ID: set all three")
    if settings.enabled and not (settings.webhook_url or "").startswith("https://"):
        raise ConfigError(
            "zalo_oa.webhook_url: an Official Account sends events only to a webhook; "
            "set the public https:// address Zalo posts them to"
        )
    return settings


def _template(reader: _Reader, key: str) -> ZaloOATemplate | None:
    template_id = reader.string(f"{key}.id", "")
    if not template_id:
        return None
    params = reader.table(f"{key}.params", {"content": "{text}"})
    for name, value in params.items():
        try:
            value.format(text="", date="")
        except (KeyError, IndexError, ValueError):
            raise ConfigError(
                f"{key}.params.{name}: only {{text}} and {{date}} may be filled in"
            ) from None
    return ZaloOATemplate(
        id=template_id,
        cost=reader.integer(f"{key}.cost", 200, minimum=0),
        params=tuple(params.items()),
        max_chars=reader.integer(f"{key}.max_chars", 400, minimum=10),
    )


def _verify(reader: _Reader, env: dict[str, str]) -> VerifyConfig:
    secret = env.get("CERTIFICATE_SECRET") or None
    if secret is not None and len(secret) < 16:
        raise ConfigError("CERTIFICATE_SECRET: at least 16 characters (a long random string)")
    public_url = env.get("VERIFY_PUBLIC_URL") or reader.string("verify.public_url", "")
    if public_url and not public_url.startswith(("https://", "http://")):
        raise ConfigError("verify.public_url: must be an https:// (or http://) URL")
    address = _address("verify.listen", reader.string("verify.listen", ""))
    host, port = address or (None, VerifyConfig.listen_port)
    return VerifyConfig(
        secret=secret, public_url=public_url or None, listen_host=host, listen_port=port
    )


def _address(key: str, listen: str) -> tuple[str, int] | None:
    """A "host:port" to listen on; None when empty."""
    if not listen:
        return None
    host, _, number = listen.rpartition(":")
    if not host or not number.isdecimal() or int(number) > 65535:
        raise ConfigError(f'{key}: must be "host:port", e.g. "127.0.0.1:8445"')
    return host.strip("[]"), int(number)


class _Reader:
    """Typed access to dotted keys, with errors that name the key."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    def _get(self, key: str) -> Any:
        node: Any = self._raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def string(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string")
        return value

    def strings(self, key: str, default: list[str]) -> list[str]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: must be a list of strings")
        return value

    def table(self, key: str, default: dict[str, str]) -> dict[str, str]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{key}: must be a table of strings")
        return value

    def time(self, key: str, default: str) -> dt.time:
        value = self.string(key, default)
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{key}: must be a time of day as HH:MM") from None

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key}: must be a whole number")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{key}: must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{key}: must be at most {maximum}")
        return value
