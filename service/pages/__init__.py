"""Server-rendered pages under `/ui`: verification, the legal workbench and the auditor's
view. FastAPI routes and Jinja2 templates; a little CSS and vanilla JS, charts as inline
SVG drawn on the server; no front-end build.

Who may see what (see `session.PAGE_ROLES`): `/ui/verify` the verifier (and admin), as the
verification API; `/ui/legal` the legal role (and admin); `/ui/audit` the auditor (and
admin). A lender has no pages. The key is entered once on `/ui/login`, which opens a
server-side session; the HttpOnly, SameSite=Strict cookie scoped to `/ui` holds only the
session's random id, looked up (with its key) on every request (see `session`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from anchoring.errors import AnchoringError
from cunzheng_verify.errors import CunzhengError
from lending_core.state import CHINA_TZ
from service import problems
from service.auth import AuthError, Principal, authenticate
from service.completeness import completeness_json
from service.context import AppContext
from service.pages import audit as audit_model
from service.pages import cases, session
from service.pages import loans as loans_model
from service.pages.charts import bar_chart, fmt_seconds, line_chart
from service.pages.labels import LANG_COOKIE, LANGS, label, label_n, text
from service.pages.verifying import MAX_UPLOAD_BYTES, InputError, verify_input
from service.verification import REJECTED, log_call

HERE = Path(__file__).parent
STATIC = {"pages.css": "text/css; charset=utf-8", "verify.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ui", include_in_schema=False)
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
_env.filters["seconds"] = fmt_seconds
_env.filters["short"] = lambda h, n=12: (h[:n] + "…") if isinstance(h, str) and len(h) > n else h


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "both"
    return lang if lang in LANGS else "both"


def render(request: Request, template: str, status_code: int = 200,
           who: Principal | None = None, **values: Any) -> HTMLResponse:
    lang = _lang(request)
    html = _env.get_template(template).render(
        request=request, who=who, lang=lang, L=lambda k: label(k, lang),
        Ln=lambda k, n: label_n(k, n, lang),
        T=lambda k: text(k, lang), path=request.url.path, **values)
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, path=session.COOKIE_PATH, samesite="strict",
                            httponly=True, max_age=365 * 86400)
    return response


def _who(request: Request, page: str) -> Principal | Response:
    """The visitor, or the response to send instead (login redirect, 403 page)."""
    principal = session.principal_from_cookie(request, _ctx(request))
    if principal is None:
        return session.login_redirect(request)
    if not session.allowed(principal, session.PAGE_ROLES[page]):
        roles = ", ".join(sorted(r.value for r in session.PAGE_ROLES[page]))
        return render(request, "error.html", 403, who=principal, title=text("forbidden", "en"),
                      message=f"role {principal.role.value!r} may not open this page; "
                      f"allowed: {roles}")
    return principal


def _cross_site(request: Request) -> Response | None:
    if session.same_origin(request):
        return None
    return render(request, "error.html", 403, title="cross-site form refused",
                  message="this form must be sent from this site's own pages")


def _today() -> date:
    return datetime.now(CHINA_TZ).date()


# --- login ----------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    principal = session.principal_from_cookie(request, _ctx(request))
    home = session.home_for(principal.role) if principal is not None else None
    return RedirectResponse(home or "/ui/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=session.safe_next(next) or "", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    if (refused := _cross_site(request)) is not None:
        return refused
    form = await request.form()
    key = str(form.get("key") or "").strip()
    target = session.safe_next(str(form.get("next") or ""))
    try:
        if len(key) > session.MAX_KEY_LENGTH:
            raise AuthError("malformed API key")
        principal = authenticate(_ctx(request).engine, key or None)
    except AuthError as exc:
        return render(request, "login.html", 401, next=target or "", error=str(exc))
    home = session.home_for(principal.role)
    if home is None:
        return render(request, "login.html", 403, next=target or "",
                      error=f"role {principal.role.value!r} has no pages here; it uses the API")
    if target is None or not any(target.startswith(f"/ui/{page}")
                                 for page, roles in session.PAGE_ROLES.items()
                                 if principal.role in roles):
        target = home
    ctx = _ctx(request)
    if previous := request.cookies.get(session.COOKIE):  # a new login replaces the old one
        await run_in_threadpool(session.close_session, ctx.engine, previous)
    session_id = await run_in_threadpool(session.open_session, ctx.engine, principal.key_id,
                                         ctx.clock())
    response = RedirectResponse(target, status_code=303)
    session.set_session_cookie(request, response, session_id)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    # a cross-site post must not log anyone out (nor may a link: see session.login_redirect)
    if (refused := _cross_site(request)) is not None:
        return refused
    response = RedirectResponse("/ui/login", status_code=303)
    session_id = request.cookies.get(session.COOKIE)
    if session_id:
        session.close_session(_ctx(request).engine, session_id)
        session.clear_session_cookie(response)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    # verify.js only adds drag and drop: without it (a wheel built without *.js) the form
    # still works with the file picker
    if name not in STATIC or not (HERE / "static" / name).is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})


# --- verification ---------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request) -> Response:
    who = _who(request, "verify")
    if isinstance(who, Response):
        return who
    return render(request, "verify.html", who=who, verdict=None, error=None,
                  limit_mib=MAX_UPLOAD_BYTES // (1024 * 1024))


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request) -> Response:
    who = _who(request, "verify")
    if isinstance(who, Response):
        return who
    if (refused := _cross_site(request)) is not None:
        return refused
    values: dict[str, Any] = {"who": who, "verdict": None, "error": None,
                              "limit_mib": MAX_UPLOAD_BYTES // (1024 * 1024)}
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 1024 * 1024:
        return render(request, "verify.html", 413, **{
            **values, "error": f"upload is {declared} bytes, limit {MAX_UPLOAD_BYTES}"})
    form = await request.form()
    upload = form.get("file")
    data: bytes | None = None
    filename: str | None = None
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        filename = upload.filename
    ctx = _ctx(request)
    try:
        verdict = await run_in_threadpool(
            verify_input, ctx, kind=str(form.get("kind") or "auto"),
            text=str(form.get("text") or ""), data=data, filename=filename,
            evidence=str(form.get("evidence_id") or ""))
    except (InputError, CunzhengError) as exc:
        await run_in_threadpool(log_call, ctx, who, "page", None, REJECTED)
        return render(request, "verify.html", 422, **{**values, "error": str(exc)})
    # every verification is written to the access log with the caller, as the API does
    await run_in_threadpool(log_call, ctx, who, verdict.kind,
                            verdict.leaf_hash or verdict.subject, verdict.status)
    return render(request, "verify.html", **{**values, "verdict": verdict})


# --- legal workbench ------------------------------------------------------------------


def _as_of(value: str | None) -> date:
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    return _today()


@router.get("/legal", response_class=HTMLResponse)
def legal_page(request: Request, tenant: str | None = None, category: str | None = None,
               as_of: str | None = None) -> Response:
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    ctx = _ctx(request)
    day = _as_of(as_of)
    pf = loans_model.portfolio(ctx, day, tenant=tenant or None, category=category or None)
    cat_bars = [(f"{c} {loans_model.CATEGORY_EN[c]}", n) for c, n in pf.by_category().items()]
    proof_at, proofs = loans_model.proof_statuses(ctx, pf.rows)
    return render(request, "legal.html", who=who, pf=pf, tenants=loans_model.tenants(ctx),
                  proof_at=proof_at, proofs=proofs, max_proof_checks=loans_model.MAX_PROOF_CHECKS,
                  tenant=tenant or "", category=category or "",
                  categories=loans_model.CATEGORIES, category_en=loans_model.CATEGORY_EN,
                  cat_chart=bar_chart(cat_bars, title="Loans by classification 五级分类"),
                  dpd_chart=bar_chart(pf.by_dpd(), title="Loans by days past due 逾期天数"),
                  as_of=day.isoformat(), cases=cases.built_cases(ctx))


def _loan_values(ctx: AppContext, tenant: str, loan_id: str, day: date) -> dict[str, Any]:
    available, why = cases.builder_available()
    completeness = loans_model.loan_completeness(ctx, tenant, loan_id)
    return {"tenant": tenant, "loan_id": loan_id, "as_of": day.isoformat(),
            "row": loans_model.loan_row(ctx, tenant, loan_id, day),
            "entries": loans_model.timeline(ctx, tenant, loan_id),
            "findings": loans_model.loan_findings(ctx, tenant, loan_id),
            "completeness": completeness,
            "proof": loans_model.ProofStatus(loans_model.NO_INDEX) if completeness is None
            else loans_model.ProofStatus.of(completeness),
            "venues": cases.VENUES, "venue_labels": cases.VENUE_LABELS,
            "builder_available": available, "builder_why": why,
            "built": cases.built_cases(ctx, loan_id, tenant)}


@router.get("/legal/loans/{tenant}/{loan_id}", response_class=HTMLResponse)
def loan_page(request: Request, tenant: str, loan_id: str, as_of: str | None = None,
              built: str | None = None) -> Response:
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    ctx = _ctx(request)
    try:
        values = _loan_values(ctx, tenant, loan_id, _as_of(as_of))
    except CunzhengError as exc:  # a stored record that cannot be read: a damaged database
        return render(request, "error.html", 500, who=who, title="loan cannot be read",
                      message=f"the log's records of loan {loan_id!r} of tenant {tenant!r} "
                      f"cannot be read ({exc}); an administrator should run `cunzheng fsck`")
    if not values["entries"]:
        return render(request, "error.html", 404, who=who, title="no such loan",
                      message=f"no events for loan {loan_id!r} of tenant {tenant!r}")
    return render(request, "loan.html", who=who, message=None, error=None,
                  just_built=built if built and cases.PACKAGE_ID.fullmatch(built) else None,
                  **values)


@router.get("/legal/loans/{tenant}/{loan_id}/completeness.json")
def loan_completeness_json(request: Request, tenant: str, loan_id: str,
                           tree_size: int | None = None) -> Response:
    """The loan page's link: `GET /v1/loans/{loan_id}/completeness`'s answer, through the
    page session (a browser has no bearer key)."""
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    try:
        answer = completeness_json(_ctx(request), tenant, loan_id, tree_size, contents=True)
    except CunzhengError as exc:
        return problems.for_error(exc)
    return JSONResponse(answer, headers=SECURITY_HEADERS)


@router.post("/legal/loans/{tenant}/{loan_id}/case", response_class=HTMLResponse)
async def build_case(request: Request, tenant: str, loan_id: str) -> Response:
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    if (refused := _cross_site(request)) is not None:
        return refused
    form = await request.form()
    venue = str(form.get("venue") or "")
    day = _as_of(str(form.get("as_of") or ""))
    ctx = _ctx(request)
    try:
        built = await run_in_threadpool(cases.build, ctx, tenant=tenant, loan_id=loan_id,
                                        venue=venue, as_of=day)
    except cases.CaseBuildUnavailable as exc:
        return render(request, "loan.html", 503, who=who, just_built=None, message=None,
                      error=f"{text('not_available', 'en')}: {exc}",
                      **_loan_values(ctx, tenant, loan_id, day))
    except (CunzhengError, AnchoringError) as exc:
        return render(request, "loan.html", 422, who=who, just_built=None, message=None,
                      error=str(exc), **_loan_values(ctx, tenant, loan_id, day))
    return RedirectResponse(f"/ui/legal/loans/{tenant}/{loan_id}?as_of={day.isoformat()}"
                            f"&built={built.package_id}", status_code=303)


@router.get("/legal/cases/{package_id}.zip")
def download_package(request: Request, package_id: str) -> Response:
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    path = cases.package_path(_ctx(request), package_id)
    if path is None:
        return render(request, "error.html", 404, who=who, title="no such package",
                      message=f"no package {package_id[:80]!r} was built here")
    return Response(path.read_bytes(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{package_id}.zip"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/legal/cases/{package_id}/case-file.pdf")
def download_pdf(request: Request, package_id: str) -> Response:
    who = _who(request, "legal")
    if isinstance(who, Response):
        return who
    path = cases.package_path(_ctx(request), package_id)
    pdf = cases.case_pdf(path) if path is not None else None
    if pdf is None:
        return render(request, "error.html", 404, who=who, title="no case file",
                      message=f"no case-file PDF for package {package_id[:80]!r}")
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{package_id}-case-file.pdf"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# --- audit ----------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    who = _who(request, "audit")
    if isinstance(who, Response):
        return who
    ctx = _ctx(request)
    size, root = ctx.store.tree_head()
    points = audit_model.lag_points(ctx)
    chart = line_chart([(p.tree_size, p.lag_seconds) for p in points],
                       title="Anchoring lag 锚定延迟 (block time − checkpoint signed_at)",
                       x_label="tree size 树大小", y_label="lag 延迟")
    latest = ctx.anchors.latest()
    loan_findings, findings_truncated = loans_model.open_findings(ctx)
    return render(request, "audit.html", who=who, size=size, root=root.hex(),
                  loan_findings=loan_findings, findings_truncated=findings_truncated,
                  checkpoints=audit_model.recent_checkpoints(ctx), points=points, chart=chart,
                  witnesses=audit_model.witnesses(ctx), fsck=audit_model.last_fsck(ctx),
                  latest_anchor=latest.as_dict() if latest else None,
                  origin=ctx.log.origin)


@router.post("/audit/fsck")
async def audit_fsck(request: Request) -> Response:
    who = _who(request, "audit")
    if isinstance(who, Response):
        return who
    if (refused := _cross_site(request)) is not None:
        return refused
    await run_in_threadpool(audit_model.run_fsck, _ctx(request), f"{who.role.value}:{who.key_id}")
    return RedirectResponse("/ui/audit#fsck", status_code=303)
