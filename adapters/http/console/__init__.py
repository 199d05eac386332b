"""A web console under /ui/ for agency staff, auditors and analysts (issue 17, ADR 91).

Server-rendered pages (Jinja2 templates and one stylesheet shipped in this package: no build
step, no CDN), Chinese by default with an English switch. Every page calls the same service
methods as the HTTP API, with the signed-in token: the same roles, region prefixes and masking
(ADR 37), the same reason codes. Entry points only: the pages translate forms and query
strings into those calls and their answers into HTML.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import tomllib
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters.http.auth import Auth
from adapters.http.console import session
from adapters.http.console.labels import labels
from adapters.http.errors import ApiError
from adapters.http.service import behaviour_of
from adapters.stores.tokens import Token

HERE = Path(__file__).parent
FORMS = ("register", "enroll", "pay", "grant_subsidy", "refund")
_ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]))


def _answer(response: Response) -> Any:
    """What a service method answered, as data (masked as the API masks it)."""
    return json.loads(bytes(response.body))


class Console:
    """The pages of one app: its service and token store."""

    def __init__(self, service: Any, auth: Auth) -> None:
        self.service, self.auth = service, auth

    # --- rendering --------------------------------------------------------------------------

    def render(self, request: Request, template: str, token: Token | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        lang = session.language(request)
        secret = session.token_of(request)
        html = _ENV.get_template(template).render(
            t=labels(lang), lang=lang, token=token, path=request.url.path,
            query=str(request.url.query), csrf=session.csrf_of(secret) if secret else "",
            may=(lambda action: token is not None and token.may(action)), **context)
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in ("zh", "en"):
            response.set_cookie(session.LANG_COOKIE, lang, path=session.PATH, samesite="strict",
                                max_age=365 * 86400)
        return response

    def refused(self, request: Request, token: Token | None, e: ApiError) -> HTMLResponse:
        return self.render(request, "refused.html", token, status=e.status, reason=e.reason,
                           message=e.message)

    def signed_in(self, request: Request) -> Token | None:
        secret = session.token_of(request)
        if not secret:
            return None
        try:
            return self.auth.permitted(secret, None)
        except ApiError:
            return None

    # --- pages ------------------------------------------------------------------------------

    def page(self, request: Request, action: str | None, build: Any, template: str
             ) -> Response:
        """A page for a signed-in token allowed `action`: `build(token)` gives the template's
        context; a refusal is shown with its reason code."""
        token = self.signed_in(request)
        if token is None:
            return RedirectResponse(f"{session.PATH}/signin", status_code=303)
        try:
            if action is not None and not token.may(action):
                raise ApiError(403, "forbidden", f"a {token.role} token may not use {action}")
            return self.render(request, template, token, **build(token))
        except ApiError as e:
            return self.refused(request, token, e)


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{value[:20]!r} is not a whole number") from None


def _year(value: str | None) -> int:
    year = _int(value)
    if year is None:
        raise ApiError(422, "invalid_input", "year is required")
    return year


def _day(value: str | None) -> Any:
    from datetime import date

    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{value[:20]!r} is not a date (YYYY-MM-DD)"
                       ) from None


def _patch_json(text: str) -> bytes:
    """A what-if patch written as in the policy files (TOML), as the API's JSON body."""
    try:
        patch = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ApiError(422, "invalid_input", f"the patch is not valid TOML: {e}") from None
    return json.dumps(patch, default=str).encode()


def _csv(rows: list[dict[str, Any]], name: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def add_console(app: FastAPI, service: Any, auth: Auth) -> None:
    """The console's routes under /ui/ and its stylesheet under /ui/static/."""
    console = Console(service, auth)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    q = lambda request, name: request.query_params.get(name) or None  # noqa: E731

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home(request: Request) -> Response:
        where = "search" if console.signed_in(request) else "signin"
        return RedirectResponse(f"{session.PATH}/{where}", status_code=303)

    @app.get("/ui/signin", include_in_schema=False)
    def signin_page(request: Request) -> Response:
        return console.render(request, "signin.html", None)

    @app.post("/ui/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await request.form()
        secret = str(form.get("token") or "").strip()
        try:
            auth.permitted(secret, None)
        except ApiError as e:
            return console.render(request, "signin.html", None, status=401, reason=e.reason,
                                  message=e.message)
        response = RedirectResponse(f"{session.PATH}/search", status_code=303)
        session.sign_in(response, secret)
        return response

    @app.post("/ui/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        form = await request.form()
        secret = session.token_of(request)
        if secret and not session.csrf_ok(secret, form.get("csrf")):
            return console.refused(request, console.signed_in(request), ApiError(
                403, "forbidden", "the form's CSRF token is missing or wrong"))
        response = RedirectResponse(f"{session.PATH}/signin", status_code=303)
        session.sign_out(response)
        return response

    @app.get("/ui/search", include_in_schema=False)
    def search(request: Request) -> Response:
        what = "persons" if q(request, "what") == "persons" else "households"
        number = q(request, "id")
        if number and console.signed_in(request) is not None:  # an ID number: straight there
            year = q(request, "year")
            where = (f"households/{number}?year={year}" if what == "households" and year
                     else f"persons/{number}" + (f"?year={year}" if year else ""))
            return RedirectResponse(f"{session.PATH}/{where}", status_code=303)

        def build(token: Token) -> dict[str, Any]:
            found = None
            if any(q(request, k) for k in ("name", "region", "year", "at_cap")):
                found = _answer(service.search(
                    token, what, q(request, "region"), q(request, "name"), 50,
                    _int(q(request, "offset")) or 0, year=_int(q(request, "year")),
                    identity=q(request, "identity"), at_cap=bool(q(request, "at_cap")),
                    remaining_below=None))
            return {"what": what, "found": found, "form": dict(request.query_params)}

        return console.page(request, "search", build, "search.html")

    @app.get("/ui/households/{ref}", include_in_schema=False)
    def household(request: Request, ref: str) -> Response:
        def build(token: Token) -> dict[str, Any]:
            year = _year(q(request, "year"))
            view = _answer(service.household(token, ref, year, _day(q(request, "as_of")),
                                             None))
            return {"h": view, "ref": ref, "year": year, "as_of": q(request, "as_of")}

        return console.page(request, "household", build, "household.html")

    @app.get("/ui/persons/{ref}", include_in_schema=False)
    def person(request: Request, ref: str) -> Response:
        def build(token: Token) -> dict[str, Any]:
            view = _answer(service.person(token, ref, _int(q(request, "year")), None, None))
            money = (_answer(service.person_money(token, ref, view["year"]))
                     if view.get("enrolled") else None)
            return {"p": view, "ref": ref, "money": money}

        return console.page(request, "person", build, "person.html")

    @app.get("/ui/trail/{ref}", include_in_schema=False)
    def trail(request: Request, ref: str) -> Response:
        def build(token: Token) -> dict[str, Any]:
            year = _year(q(request, "year"))
            return {"trail": _answer(service.audit_trail(token, ref, year)), "ref": ref,
                    "year": year, "claim": q(request, "claim")}

        return console.page(request, "audit", build, "trail.html")

    @app.get("/ui/audit", include_in_schema=False)
    def audit(request: Request) -> Response:
        def build(token: Token) -> dict[str, Any]:
            report = (_answer(service.audit_verify(token, None, True))
                      if q(request, "run") else None)
            return {"report": report}

        return console.page(request, "audit", build, "audit.html")

    @app.get("/ui/whatif", include_in_schema=False)
    def whatif_page(request: Request) -> Response:
        return console.page(request, "whatif", lambda token: {
            "form": {"patch": '[outpatient]\nratio = "0.60"\n', "engine": "fast",
                     "behaviour": "pay-new-due"}, "done": None}, "whatif.html")

    @app.post("/ui/whatif", include_in_schema=False)
    async def whatif(request: Request) -> Response:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        upload = form.get("patch_file")
        if upload is not None and not isinstance(upload, str):
            sent = (await upload.read()).decode("utf-8", errors="replace")
            if sent.strip():
                fields["patch"] = sent

        def build(token: Token) -> dict[str, Any]:
            if not session.csrf_ok(session.token_of(request) or "", fields.get("csrf")):
                raise ApiError(403, "forbidden", "the form's CSRF token is missing or wrong")
            run = getattr(service, "whatif_files", None)
            if run is None:
                raise ApiError(404, "not_found", "the console's what-if page runs on one "
                               "store; over a deployment use POST /whatif")
            done = run(token, _patch_json(fields.get("patch", "")),
                       fields.get("region") or None, _int(fields.get("year")),
                       fields.get("engine") or "fast", behaviour_of(
                           fields.get("behaviour") or "pay-new-due",
                           fields.get("take_up_elasticity") or None,
                           _int(fields.get("seed")) or 0))
            return {"form": fields, "done": {
                **done, "chart_png": base64.b64encode(done["chart_png"]).decode(),
                "households_csv": base64.b64encode(done["households_csv"].encode()).decode(),
                "regions_csv": base64.b64encode(done["regions_csv"].encode()).decode()}}

        return console.page(request, "whatif", build, "whatif.html")

    @app.get("/ui/shadows", include_in_schema=False)
    def shadows(request: Request) -> Response:
        def build(token: Token) -> dict[str, Any]:
            name = q(request, "name")
            report = _answer(service.shadow(token, name)) if name else None
            return {"shadows": _answer(service.shadows(token)), "name": name,
                    "report": report}

        return console.page(request, "whatif", build, "shadows.html")

    @app.get("/ui/reports/{name}", include_in_schema=False)
    def report(request: Request, name: str) -> Response:
        name = "enrollment" if name == "enrollment" else "fund"

        def rows(token: Token) -> list[dict[str, Any]]:
            return _answer(service.report(token, name, q(request, "region"),
                                          _int(q(request, "year"))))

        if q(request, "format") == "csv":
            token = console.signed_in(request)
            if token is None:
                return RedirectResponse(f"{session.PATH}/signin", status_code=303)
            try:
                if not token.may("report"):
                    raise ApiError(403, "forbidden", f"a {token.role} token may not use report")
                return _csv(rows(token), name)
            except ApiError as e:
                return console.refused(request, token, e)
        return console.page(request, "report", lambda token: {
            "name": name, "rows": rows(token), "form": dict(request.query_params)},
            "report.html")

    @app.get("/ui/forms", include_in_schema=False)
    def forms(request: Request) -> Response:
        return console.page(request, None, lambda token: {
            "forms": [op for op in FORMS if token.may(op)], "command_id": str(uuid.uuid4()),
            "op": q(request, "op") or "register"}, "forms.html")

    @app.post("/ui/forms/{op}", include_in_schema=False)
    async def submit(request: Request, op: str) -> Response:
        token = console.signed_in(request)
        if token is None:
            return RedirectResponse(f"{session.PATH}/signin", status_code=303)
        form = await request.form()
        if not session.csrf_ok(session.token_of(request) or "", form.get("csrf")):
            return console.refused(request, token, ApiError(
                403, "forbidden", "the form's CSRF token is missing or wrong"))
        command = {k: str(v).strip() for k, v in form.items()
                   if k != "csrf" and str(v).strip() != ""}
        for number in ("year",):
            if number in command and command[number].isdigit():
                command[number] = int(command[number])
        try:
            result = _answer(await service.command(token, json.dumps(command).encode(),
                                                   op if op in FORMS else None))
        except ApiError as e:
            return console.refused(request, token, e)
        return console.render(request, "recorded.html", token, result=result, op=op)
