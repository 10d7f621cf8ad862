"""The public page that checks a certificate's code: GET /verify/<code> (the address its QR
code holds) and GET /verify/?code=<code> (the form on the page). Plain HTML, everything
escaped, nothing of the holder beyond their name, unit and what is certified; the status
says the answer too: 200 valid, 410 revoked or withdrawn, 404 not found or altered, 400 not a
code, 503 when the bot has no certificate key.

`verify_page` is the page as a plain function; `VerifyServer` serves it with a small tornado
application on its own address (verify.listen), started by `python -m bot run`.
"""

from __future__ import annotations

import html
import logging

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.app import App
from bot.certificates import Standing, Verdict, certified, check_code, title_of, verdict_line
from bot.i18n import Translator, pick_locale

__all__ = ["VerifyServer", "verify_page"]

log = logging.getLogger(__name__)

STATUS = {
    Standing.VALID: 200,
    Standing.REVOKED: 410,
    Standing.WITHDRAWN: 410,
    Standing.UNKNOWN: 404,
    Standing.ALTERED: 404,
    Standing.MALFORMED: 400,
    Standing.UNAVAILABLE: 503,
}
MAX_TYPED = 200  # characters of a code worth reading: anything longer is not one
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}h1{font-size:1.4rem}.answer{padding:1rem;border-radius:.5rem;"
    "font-weight:600}.valid{background:#e6f4ea;color:#0d5223}.refused{background:#fce8e6;"
    "color:#8a1c12}dt{font-weight:600}dd{margin:0 0 .5rem}form{margin-top:2rem}"
    "input{font-size:1rem;padding:.3rem;width:14rem}"
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _page(t: Translator, body: str, action: str) -> str:
    title = t.gettext("Check a certificate")
    return (
        f'<!doctype html>\n<html lang="{_e(t.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>{body}"
        f'<form method="get" action="{_e(action)}"><label>{_e(t.gettext("Code:"))} '
        f'<input name="code" maxlength="40" autocomplete="off" '
        f'placeholder="ABCD-EFGH-JKMN-PQRS"></label> '
        f'<button type="submit">{_e(t.gettext("Check"))}</button></form>'
        "</main></body></html>\n"
    )


def _answer(t: Translator, verdict: Verdict) -> str:
    issued = verdict.certificate
    css = "valid" if verdict.valid else "refused"
    if verdict.valid and issued is not None:
        headline = "✅ " + t.gettext("This certificate is valid.")
    elif verdict.standing is Standing.REVOKED:
        headline = "⛔ " + t.gettext("This certificate was revoked.")
    else:
        headline = "❌ " + verdict_line(t, verdict)
    body = f'<p class="answer {css}">{_e(headline)}</p>'
    if issued is None:
        return body
    rows = [
        (t.gettext("Certificate"), title_of(t, issued)),
        (t.gettext("Holder"), issued.holder),
        (t.gettext("Unit"), issued.unit_name),
        (t.gettext("Certifies that the holder"), certified(t, issued)),
        (t.gettext("Issued on"), t.date(issued.issued_at.astimezone(t.timezone).date())),
        (t.gettext("Code"), issued.code),
    ]
    if issued.revoked_at is not None:
        rows.append(
            (t.gettext("Revoked on"), t.date(issued.revoked_at.astimezone(t.timezone).date()))
        )
        rows.append((t.gettext("Reason"), issued.revoke_reason or "—"))
    items = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows)
    return body + f"<dl>{items}</dl>"


async def verify_page(
    app: App, code: str | None, *, accept_language: str | None = None, action: str = "."
) -> tuple[int, str]:
    """The page for a code (None: the form alone), in the reader's language: (status, HTML)."""
    config = app.config
    first = (accept_language or "").split(",")[0].split(";")[0].strip() or None
    t = app.catalogs.translator(pick_locale(None, first, config.default_locale), config.tz)
    if code is None or not code.strip():
        intro = t.gettext("Type the code printed under the QR code of a certificate.")
        return 200, _page(t, f"<p>{_e(intro)}</p>", action)
    async with app.db.read() as session:
        verdict = await check_code(session, config, code[:MAX_TYPED])
    return STATUS[verdict.standing], _page(t, _answer(t, verdict), action)


class _VerifyHandler(tornado.web.RequestHandler):
    def initialize(self, app: App) -> None:
        self.bot = app

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Robots-Tag", "noindex")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        )

    async def get(self, code: str | None = None) -> None:
        typed = code if code is not None else self.get_query_argument("code", None)
        # /verify/<code> and /verify/ check with the form's "."; /verify checks with "verify/".
        action = "." if self.request.path.endswith("/") or code is not None else "verify/"
        status, page = await verify_page(
            self.bot,
            typed,
            accept_language=self.request.headers.get("Accept-Language"),
            action=action,
        )
        self.set_status(status)
        self.finish(page)

    def write_error(self, status_code: int, **kwargs: object) -> None:
        self.finish(f"<!doctype html><title>{status_code}</title><p>{status_code}</p>\n")


class VerifyServer:
    """The verify page on its own address, beside the channels."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    def start(self, host: str, port: int) -> None:
        application = tornado.web.Application(
            [
                (r"/verify/?", _VerifyHandler, {"app": self.app}),
                (r"/verify/([^/]+)", _VerifyHandler, {"app": self.app}),
            ],
            xheaders=True,
        )
        sockets = tornado.netutil.bind_sockets(port, host, reuse_port=True)  # as the webhook
        self._server = tornado.httpserver.HTTPServer(application, xheaders=True)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("verify page on http://%s:%d/verify/", host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
