"""The portal over HTTP (Starlette's test client): every route's access rules, sessions, CSRF,
headers, the upload of the daily file, member look-up and campaign requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.domain.enrolment import Enrolment
from bot.services.members import link_member
from bot.web.app import ROUTES
from tests.conftest import HEADER, PASSWORD, PORTAL_URL
from tests.dashboard_sample import ZAP, small_report
from tests.fakes import ALICE_CARD, csrf_of, sign_in, tx_row

ZAPPOS_REQUEST = """id = "zappos-winter"
merchant = "Zappos.com"
hashtag = "#ZapposWinter"
merchant_ids = ["MID-ZAP-0001"]
enrol_from = 2026-12-01
enrol_until = 2027-02-28
redeem_by = 2027-03-31
min_spend = 50.00
credit = 10.00
currency = "USD"
"""
MCD_REQUEST = ZAPPOS_REQUEST.replace("zappos-winter", "mcd-breakfast").replace("Zappos.com", "McDonald's") \
    .replace("#ZapposWinter", "#AmexMcBreakfast").replace("MID-ZAP-0001", "MID-MCD-0001")


def signed_in(portal, email: str):
    """Return a test client signed in as ``email``."""
    client = portal.client()
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    return client


def seed_alice(portal) -> None:
    """Link Alice (1001) and enrol her in McDonald's on Nov 20."""
    app = portal.app
    link_member(app.uow, app.fingerprinter, app.clock, "1001", "alice", ALICE_CARD)
    with app.uow() as tx:
        tx.enrolments.add_many([Enrolment("1001", "amex-mcdonalds", "5001",
                                          datetime(2026, 11, 20, 12, tzinfo=UTC))])
        tx.commit()


def day_file(*rows: str, header: str = HEADER) -> bytes:
    """Return a transaction file's bytes."""
    return ("\n".join((header, *rows)) + "\n").encode()


def upload(client, content: bytes, name: str = "day.csv"):
    """Upload a file through the form; return the page it ends on."""
    token = csrf_of(client.get("/upload").text)
    return client.post("/upload", data={"csrf": token}, files={"file": (name, content, "text/csv")})


def submit(client, text: str):
    """Submit a campaign request through the form."""
    token = csrf_of(client.get("/submissions/new").text)
    return client.post("/submissions/new", data={"csrf": token, "text": text})


def audit_text(portal) -> str:
    """Return the whole audit log as text."""
    events, _ = portal.portal.accounts.repo.audit_page(0, 10_000)
    return "\n".join(f"{e.actor} {e.event} {e.detail} {e.address}" for e in events)


@pytest.fixture
def zappos_objects(portal):
    """A run, an upload and a Zappos request exist; returns the path parameters to fill routes with."""
    seed_alice(portal)
    ops = signed_in(portal, "ops@bank.example")
    page = upload(ops, day_file(tx_row("T1")))
    sha = re.search(r"/runs/([0-9a-f]{64})", str(page.url)).group(1)
    refused = upload(ops, b"a,b\n")
    upload_id = re.search(r"/uploads/(\d+)", str(refused.url)).group(1)
    zap = signed_in(portal, "zap@example.com")
    made = submit(zap, ZAPPOS_REQUEST)
    submission_id = re.search(r"/submissions/(\d+)", str(made.url)).group(1)
    portal.reports.put(small_report(ZAP))  # Zappos has figures, an API token and a CSV to download
    token = portal.portal.tokens.create(zap_viewer(portal), "Zappos BI").token
    return {"campaign_id": "amex-zappos", "submission_id": submission_id, "sha256": sha,
            "upload_id": upload_id, "table": "summary", "token_id": str(token.id)}


def zap_viewer(portal):
    """Return the Zappos merchant user as the read models and services see them."""
    return portal.portal.accounts.repo.user_by_email("zap@example.com").viewer


def mcd_viewer(portal):
    """Return the McDonald's merchant user as the read models and services see them."""
    return portal.portal.accounts.repo.user_by_email("mcd@example.com").viewer


def bearer(portal, viewer=None) -> dict[str, str]:
    """Return the Authorization header of a new API token (McDonald's unless another viewer)."""
    made = portal.portal.tokens.create(viewer or mcd_viewer(portal), "tests")
    return {"Authorization": f"Bearer {made.text}"}


def url_of(path: str, params: dict[str, str]) -> str:
    """Fill a route's path parameters."""
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)


PRIVATE = [(spec.path, method) for spec in ROUTES if spec.access != "public" for method in spec.methods]


@pytest.mark.parametrize(("path", "method"), PRIVATE)
def test_signed_out_every_private_route_redirects_or_answers_401(portal, path, method):
    """Without a session a page GET goes to the sign-in page and anything else gets 401."""
    spec = next(s for s in ROUTES if s.path == path and method in s.methods)
    client = portal.client(follow_redirects=False)
    url = url_of(path, {"campaign_id": "amex-mcdonalds", "submission_id": "1", "sha256": "0" * 64,
                        "upload_id": "1", "table": "summary", "token_id": "1"})

    response = client.request(method, url)

    if method == "GET" and spec.kind == "page":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")
        assert client.head(url).status_code == 303
    else:
        assert response.status_code == 401


@pytest.mark.slow  # a portal or a CLI run per case: in `make test`, not the quick loop
@pytest.mark.parametrize(("path", "method"), PRIVATE)
def test_a_merchant_gets_404_for_everything_of_another_merchant(portal, zappos_objects, path, method):
    """McDonald's user: every route naming Zappos's campaign or request, and every ops route, is 404;
    the lists it may see hold nothing of Zappos (one test over the whole route registry)."""
    spec = next(s for s in ROUTES if s.path == path and method in s.methods)
    mcd = signed_in(portal, "mcd@example.com")
    data = {"csrf": csrf_of(mcd.get("/submissions/new").text), "note": "x", "text": MCD_REQUEST,
            "name": "McDonald's BI"}
    headers = bearer(portal) if spec.access == "token" else None  # the API: McDonald's own token

    response = mcd.request(method, url_of(path, zappos_objects), data=data if method == "POST" else None,
                           headers=headers)

    if spec.access == "ops" or spec.scoped is not None:
        assert response.status_code == 404, response.text
    else:
        assert response.status_code in (200, 303), response.text
        assert "Zappos" not in response.text
        assert "zappos" not in response.text.lower()


def test_the_route_test_covers_every_route_the_app_serves(portal):
    """Each path the app routes (but the static files) is in the registry the tests walk."""
    served = {getattr(r, "path", "") for r in portal.web.routes} - {"/static"}

    assert served == {spec.path for spec in ROUTES}


def test_ops_see_every_campaign_and_a_merchant_only_its_own(portal):
    """The overview and the API list all four campaigns for ops, only McDonald's for its merchant."""
    ops = signed_in(portal, "ops@bank.example")
    mcd = signed_in(portal, "mcd@example.com")

    everything = [c["id"] for c in ops.get("/api/campaigns").json()["campaigns"]]
    own = [c["id"] for c in mcd.get("/api/campaigns").json()["campaigns"]]

    assert sorted(everything) == ["amex-fedex", "amex-mcdonalds", "amex-virgin-america", "amex-zappos"]
    assert own == ["amex-mcdonalds"]
    assert mcd.get("/campaigns/amex-mcdonalds").status_code == 200
    assert "Last poll" in ops.get("/").text
    assert "Last poll" not in mcd.get("/").text


def test_the_ops_overview_says_what_offerbot_status_warns_of(portal):
    """A broken campaign file and the fingerprint key in use show on the ops overview, as in
    `offerbot status`; a merchant's overview shows neither."""
    (portal.project / "offers" / "amex-zappos.toml").write_text("id = [broken\n")
    ops = signed_in(portal, "ops@bank.example")
    mcd = signed_in(portal, "mcd@example.com")

    page = ops.get("/").text

    assert "Needs attention" in page
    assert "amex-zappos.toml" in page
    assert "Fingerprint keys" in page
    assert "linked members" in page
    assert "Needs attention" not in mcd.get("/").text


def test_a_post_without_the_forms_token_is_refused(portal):
    """A state-changing request whose CSRF token is missing or wrong gets 403 and changes nothing."""
    mcd = signed_in(portal, "mcd@example.com")

    missing = mcd.post("/submissions/new", data={"text": MCD_REQUEST})
    wrong = mcd.post("/submissions/new", data={"text": MCD_REQUEST, "csrf": "forged"})

    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert mcd.get("/api/campaigns").status_code == 200
    assert "csrf refused" in audit_text(portal)
    viewer = portal.portal.accounts.repo.user_by_email("mcd@example.com").viewer
    assert portal.portal.read.submissions(viewer) == []


def test_a_post_from_another_origin_is_refused_even_with_the_token(portal):
    """The Origin check stops a cross-site form post that somehow carries a valid token."""
    mcd = signed_in(portal, "mcd@example.com")
    token = csrf_of(mcd.get("/submissions/new").text)

    other = mcd.post("/submissions/new", data={"text": MCD_REQUEST, "csrf": token},
                     headers={"Origin": "https://evil.example"})
    cross = mcd.post("/submissions/new", data={"text": MCD_REQUEST, "csrf": token},
                     headers={"Sec-Fetch-Site": "cross-site"})

    assert other.status_code == 403
    assert cross.status_code == 403


def test_the_sign_in_form_is_protected_too(portal):
    """Signing in needs the sign-in form's own token (no login CSRF)."""
    client = portal.client()

    response = client.post("/signin", data={"email": "ops@bank.example", "password": PASSWORD})

    assert response.status_code == 403


def test_ten_failures_lock_the_account_for_30_minutes_with_the_same_message(portal):
    """After 10 wrong passwords even the right one fails, with the message an unknown email gets,
    until 30 minutes have passed."""
    client = portal.client()
    unknown = sign_in(client, "nobody@bank.example", "whatever it is here")
    for _ in range(10):
        assert sign_in(client, "ops@bank.example", "not the password at all").status_code == 401

    locked = sign_in(client, "ops@bank.example", PASSWORD)
    portal.clock.advance(minutes=31)
    later = sign_in(client, "ops@bank.example", PASSWORD)

    message = re.search(r'role="alert">([^<]+)<', unknown.text).group(1)
    assert locked.status_code == 401
    assert message in locked.text
    assert later.status_code == 200
    assert "Overview" in later.text
    assert "lockout" in audit_text(portal)


def test_a_session_idle_for_15_minutes_is_over(portal):
    """A session unused for 15 minutes ends on the server; one in use lasts, up to 12 hours."""
    client = signed_in(portal, "ops@bank.example")
    portal.clock.advance(minutes=14)
    assert client.get("/runs").url.path == "/runs"
    portal.clock.advance(minutes=14)
    assert client.get("/runs").url.path == "/runs"  # used 14 minutes ago: still good

    portal.clock.advance(minutes=16)
    idle = client.get("/runs", follow_redirects=False)

    assert idle.status_code == 303
    assert idle.headers["location"].startswith("/signin")
    assert "session ended" in audit_text(portal)


@pytest.mark.slow  # a portal or a CLI run per case: in `make test`, not the quick loop
def test_a_session_ends_after_12_hours_however_busy(portal):
    """The absolute timeout ends a session that was never idle."""
    client = signed_in(portal, "ops@bank.example")
    for _ in range(12 * 6):
        portal.clock.advance(minutes=10)
        client.get("/")

    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_sign_in_rotates_the_session_and_sign_out_ends_it_on_the_server(portal):
    """A session id the browser came with is never kept (no fixation); after sign-out the cookie
    opens nothing."""
    client = portal.client()
    client.cookies.set("offerbot_session", "planted-by-an-attacker", domain="127.0.0.1")
    sign_in(client, "ops@bank.example", PASSWORD)
    first = client.cookies["offerbot_session"]
    other = signed_in(portal, "ops@bank.example").cookies["offerbot_session"]
    token = csrf_of(client.get("/").text)

    client.post("/signout", data={"csrf": token})
    replay = portal.client(follow_redirects=False)
    replay.cookies.set("offerbot_session", first)

    assert first not in ("planted-by-an-attacker", other)
    assert replay.get("/").status_code == 303
    assert "sign-out" in audit_text(portal)
    with portal.app.engine.connect() as conn:
        kept = [row[0] for row in conn.exec_driver_sql("SELECT id_hash FROM web_sessions")]
    assert first not in kept
    assert other not in kept
    assert len(kept) == 1


def test_the_session_cookie_is_httponly_and_strict_and_secure_off_localhost(portal, monkeypatch):
    """On the localhost default the cookie is HttpOnly, SameSite=Strict; elsewhere also __Host- and Secure."""
    from bot.web.security import Cookies

    client = portal.client()
    form = client.get("/signin")
    response = client.post("/signin", data={"email": "ops@bank.example", "password": PASSWORD,
                                            "csrf": csrf_of(form.text)}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    tls = Cookies(type(portal.settings.portal)(url="https://offers.bank.example"))

    assert "offerbot_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict")
    assert "Secure" not in cookie
    assert tls.session == "__Host-offerbot_session"
    assert tls.secure


@pytest.mark.parametrize("path", ["/signin", "/", "/static/portal.css", "/favicon.ico", "/no-such-page",
                                  "/api/campaigns"])
def test_every_response_carries_the_security_headers(portal, path):
    """A strict CSP, nosniff, a referrer policy and, but for static files, no caching."""
    client = signed_in(portal, "ops@bank.example")

    headers = client.get(path).headers

    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    if not path.startswith(("/static", "/favicon")):
        assert headers["cache-control"] == "no-store"


def test_pages_load_nothing_from_outside_and_no_inline_script_or_style(portal):
    """Every page's resources are our own files: no CDN, no inline style or script."""
    client = signed_in(portal, "ops@bank.example")
    for path in ("/", "/runs", "/upload", "/members", "/replies", "/audit", "/submissions",
                 "/campaigns/amex-mcdonalds"):
        html = client.get(path).text
        assert "<script" not in html
        assert "style=" not in html
        assert "<style" not in html
        assert not re.search(r'(src|href)="(https?:)?//', html)


def test_an_uploaded_file_is_reconciled_and_its_run_shows_the_credits(portal):
    """The upload goes through the inbox pipeline: credited, moved to processed/, shown with exports."""
    seed_alice(portal)
    ops = signed_in(portal, "ops@bank.example")

    page = upload(ops, day_file(tx_row("T1"), tx_row("T2", amount="12,50")))

    assert page.url.path.startswith("/runs/")
    assert "reconciled" in page.text
    assert "amex-mcdonalds" in page.text
    assert "Rejected rows" in page.text
    assert "has 10 fields where the header has 9" in page.text
    inbox = portal.settings.inbox_dir
    assert (inbox / "processed" / "day.csv").exists()
    assert not [p for p in inbox.iterdir() if p.name.startswith(".upload-")]
    credits = ops.get(page.url.path + "/credits.csv")
    assert credits.status_code == 200
    assert "T1,amex-mcdonalds,5.00,USD,0005,credit" in credits.text
    assert ops.get(page.url.path + "/rejects.csv").text.startswith("line,column,transaction_id,reason")
    assert "rows read" in ops.get(page.url.path + "/summary.txt").text
    assert "export download" in audit_text(portal)


def test_uploading_the_same_file_twice_credits_nothing_new_and_says_so(portal):
    """The second upload of identical bytes is recognised by its SHA-256."""
    seed_alice(portal)
    ops = signed_in(portal, "ops@bank.example")
    content = day_file(tx_row("T1"))
    upload(ops, content)

    again = upload(ops, content, name="day-again.csv")

    assert again.url.path.startswith("/uploads/")
    assert "nothing new was credited" in again.text
    with portal.app.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM credits").scalar() == 1
    assert not (portal.settings.inbox_dir / "day-again.csv").exists()


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(portal, monkeypatch):
    """A file over [portal] max_upload_bytes gets 413, and its partial copy is deleted."""
    from dataclasses import replace

    small = replace(portal.settings, portal=replace(portal.settings.portal, max_upload_bytes=1000))
    monkeypatch.setattr(portal.app, "settings", small)
    ops = signed_in(portal, "ops@bank.example")

    response = upload(ops, day_file(*[tx_row(f"T{i}") for i in range(100)]))

    assert response.status_code == 413
    assert "larger than the limit of 1,000 bytes" in response.text
    inbox = portal.settings.inbox_dir
    assert not inbox.exists() or not [p for p in inbox.rglob("*") if p.is_file()]


@pytest.mark.parametrize(("content", "reason"), [
    (HEADER.encode() + b"\nT1,378282246310005,MID-MCD-0001,Caf\xe9,12.50,USD,2026-11-21,purchase,\n",
     "is not UTF-8"),
    (b"transaction_id,card_number,amount\nT1,378282246310005,1.00\n", "merchant_id"),
    (HEADER.encode() + b",cvv\nT1,378282246310005,MID-MCD-0001,Shop,12.50,USD,2026-11-21,purchase,,123\n",
     "card security codes"),
])
def test_a_file_refused_whole_shows_the_reason(portal, content, reason):
    """Wrong encoding or missing columns: the reason is on the page and nothing is reconciled."""
    ops = signed_in(portal, "ops@bank.example")

    page = upload(ops, content)

    assert page.url.path.startswith("/uploads/")
    assert "Refused whole" in page.text
    assert reason in page.text
    assert "378282246310005" not in page.text
    with portal.app.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM transaction_files").scalar() == 0
    assert not [p for p in portal.settings.inbox_dir.rglob("*") if p.is_file()]


def test_an_upload_needs_the_forms_token_before_the_file(portal):
    """A forged upload is refused before a byte of it is written."""
    ops = signed_in(portal, "ops@bank.example")

    response = ops.post("/upload", data={"csrf": "forged"}, files={"file": ("x.csv", b"a\n", "text/csv")})

    assert response.status_code == 403
    assert not portal.settings.inbox_dir.exists() or not list(portal.settings.inbox_dir.iterdir())


def test_a_member_look_up_shows_the_last_4_digits_and_why_no_credit(portal):
    """Ops find a member by id or handle: linked, card ending 0005 (never more), enrolments, the trail."""
    seed_alice(portal)
    ops = signed_in(portal, "ops@bank.example")

    by_handle = ops.get("/members", params={"q": "@Alice"}).text
    by_id = ops.get("/members", params={"q": "1001"}).text

    assert "ending 0005" in by_handle
    assert "amex-mcdonalds" in by_handle
    assert "no purchase at this merchant has been seen" in by_handle
    assert ALICE_CARD not in by_handle
    assert "@alice" in by_id
    assert "No member has" in ops.get("/members", params={"q": "9999"}).text


def test_the_replies_page_shows_failed_replies_with_their_error(portal):
    """Failed replies are listed with the error X gave."""
    with portal.app.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO outbox (dedupe_key, member_id, in_reply_to, template, context, status, attempts, "
            "next_attempt_at, created_at, last_error, channel) VALUES ('k1', '1001', '5001', 'reply.j2', "
            "'{}', "
            "'failed', 3, '2026-11-23 12:00:00', '2026-11-23 12:00:00', '403 reply not allowed', 'reply')")
    ops = signed_in(portal, "ops@bank.example")

    page = ops.get("/replies", params={"state": "failed"}).text

    assert "403 reply not allowed" in page
    assert "reply.j2" in page


def test_a_merchant_submits_a_campaign_and_ops_approve_it_into_offers(portal):
    """A valid request waits as pending; approval writes offers/<id>.toml, which the bot then loads."""
    mcd = signed_in(portal, "mcd@example.com")
    made = submit(mcd, MCD_REQUEST)
    assert made.url.path.startswith("/submissions/")
    assert "pending" in made.text
    ops = signed_in(portal, "ops@bank.example")
    page = ops.get(made.url.path)
    assert "Passes" in page.text

    approved = ops.post(made.url.path + "/approve", data={"csrf": csrf_of(page.text), "note": "ok"})

    assert "approved" in approved.text
    written = portal.project / "offers" / "mcd-breakfast.toml"
    assert written.read_text() == MCD_REQUEST
    assert "mcd-breakfast" in portal.app.campaigns.current().by_id
    assert "approved" in mcd.get(made.url.path).text
    assert "campaign approved" in audit_text(portal)


def test_ops_reject_a_request_with_a_note_the_merchant_sees(portal):
    """A rejected request says why; nothing reaches offers/."""
    mcd = signed_in(portal, "mcd@example.com")
    made = submit(mcd, MCD_REQUEST)
    ops = signed_in(portal, "ops@bank.example")
    token = csrf_of(ops.get(made.url.path).text)

    ops.post(made.url.path + "/reject", data={"csrf": token, "note": "budget missing"})

    page = mcd.get(made.url.path).text
    assert "rejected" in page
    assert "budget missing" in page
    assert not (portal.project / "offers" / "mcd-breakfast.toml").exists()


def test_an_invalid_request_shows_the_campaigns_check_messages_beside_the_lines(portal):
    """The problems are exactly `offerbot campaigns check`'s, with the file and line."""
    mcd = signed_in(portal, "mcd@example.com")

    page = submit(mcd, MCD_REQUEST.replace("credit = 10.00", "credit = -5") + "percnt = 10\n")

    assert page.status_code == 422
    assert "offers/mcd-breakfast.toml:9: credit: must be greater than 0" in page.text
    assert "offers/mcd-breakfast.toml:11: percnt: unknown key; did you mean &#39;percent&#39;?" in page.text
    assert portal.portal.accounts.repo.user_by_email("mcd@example.com") is not None
    with portal.app.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM campaign_submissions").scalar() == 0


@pytest.mark.parametrize(("change", "message"), [
    (("merchant = \"McDonald's\"", 'merchant = "Zappos.com"'), "must be your merchant name"),
    (('merchant_ids = ["MID-MCD-0001"]', 'merchant_ids = ["MID-ZAP-0002"]'), "belong to another merchant"),
    (('hashtag = "#AmexMcBreakfast"', 'hashtag = "#amexzappos"'), "is also used by offers/amex-zappos.toml"),
    (('hashtag = "#AmexMcBreakfast"', 'hashtag = "#AmexFedExFriends"'), None),
    (('id = "mcd-breakfast"', 'id = "amex-zappos"'), "is another merchant&#39;s campaign"),
])
def test_a_request_cannot_reach_another_merchants_names_ids_or_hashtags(portal, change, message):
    """A merchant's request naming another merchant, its merchant ids, hashtag or campaign id is refused."""
    mcd = signed_in(portal, "mcd@example.com")

    page = submit(mcd, MCD_REQUEST.replace(*change))

    if message is None:  # a hashtag of its own is fine
        assert page.status_code == 200
        assert "pending" in page.text
    else:
        assert page.status_code == 422
        assert message in page.text


def test_a_request_with_a_card_number_is_refused_and_not_kept(portal):
    """Campaign text never holds card data: refused, not stored, not shown back."""
    mcd = signed_in(portal, "mcd@example.com")

    page = submit(mcd, MCD_REQUEST + f"# test card {ALICE_CARD}\n")

    assert page.status_code == 422
    assert "looks like a card number" in page.text
    assert ALICE_CARD not in page.text
    with portal.app.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM campaign_submissions").scalar() == 0


def test_the_audit_log_never_holds_a_password_a_session_id_or_a_card_number(portal):
    """Sign-ins, failures, uploads and requests are logged without secrets."""
    seed_alice(portal)
    ops = signed_in(portal, "ops@bank.example")
    sign_in(portal.client(), "ops@bank.example", "wrong password here!")
    upload(ops, day_file(tx_row("T1")))
    ops.get("/members", params={"q": ALICE_CARD})
    session = ops.cookies["offerbot_session"]

    shown = ops.get("/audit").text
    text = audit_text(portal) + shown

    for secret in (PASSWORD, "wrong password here!", session, ALICE_CARD):
        assert secret not in text
    for event in ("sign-in", "sign-in failed", "file upload", "member lookup", "audit log viewed"):
        assert event in text


def test_sign_in_redirects_only_within_the_portal(portal):
    """The next= target after signing in is a local path, never another site."""
    client = portal.client(follow_redirects=False)
    form = client.get("/signin?next=//evil.example/")

    response = client.post("/signin", data={"email": "ops@bank.example", "password": PASSWORD,
                                            "csrf": csrf_of(form.text), "next": "//evil.example/"})

    assert response.headers["location"] == "/"
    assert PORTAL_URL.startswith("http://127.0.0.1")


def test_the_run_page_shows_progress_until_the_run_is_done(portal, monkeypatch):
    """While the file waits or runs the page says how far it got and refreshes itself; then the result."""
    seed_alice(portal)
    jobs: list = []
    monkeypatch.setattr(portal.portal.uploads, "run", jobs.append)
    ops = signed_in(portal, "ops@bank.example")

    waiting = upload(ops, day_file(tx_row("T1"), tx_row("T2", amount="9.00")))

    assert "Reconciling: 0 of about 2 rows (0%)" in waiting.text
    assert '<meta http-equiv="refresh" content="2">' in waiting.text
    assert (portal.settings.inbox_dir / "day.csv").exists()  # in the inbox, as the bot would take it
    jobs.pop()()
    done = ops.get(waiting.url.path)
    assert "Credits and clawbacks per campaign" in done.text
    assert "http-equiv" not in done.text


def test_a_campaign_file_can_be_uploaded_instead_of_pasted(portal):
    """The request form takes a .toml file too, checked the same way."""
    mcd = signed_in(portal, "mcd@example.com")
    token = csrf_of(mcd.get("/submissions/new").text)

    made = mcd.post("/submissions/new", data={"csrf": token, "text": ""},
                    files={"file": ("breakfast.toml", MCD_REQUEST.encode(), "text/plain")})

    assert made.url.path.startswith("/submissions/")
    assert "pending" in made.text
    assert "mcd-breakfast" in made.text
