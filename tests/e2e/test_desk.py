"""The front desk in a real browser (headless Debian Chromium), against the whole stack
through the gateway: reception signs in, sees the day, books, cancels, and is kept
out of what its key does not see. A screenshot of each test lands in
.spa/screenshots/."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.desk import DeskSession, chromium_path, screenshot, sign_in
from tests.e2e.partner import CUSTOMER, INTAKE, book, direct
from tests.e2e.stack import london_instant

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context (no cookies) at a tablet's width; its screenshot after."""
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    screenshot(opened, request.node.name)
    context.close()


def booked(stack, day: str, clock: str, **changes) -> dict:
    response = book(stack, direct(london_instant(day, clock), **changes))
    assert response.status_code == 201, response.text
    return response.json()


def day_url(stack, day: str, studio: str = "camden", by: str = "room") -> str:
    return f"{stack.base_url}/desk/day?studio={studio}&date={day}&by={by}"


def test_sign_in_shows_the_day_of_the_keys_studio(stack, page):
    sign_in(page, stack.base_url, stack.partner_key)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Triyoga Camden")
    expect(page.get_by_label("Studio")).to_have_value("camden")
    assert [o for o in page.get_by_label("Studio").locator("option").all_inner_texts()] == [
        "Triyoga Camden"]  # a partner sees only its own studios
    assert stack.partner_key not in page.content()


def test_the_day_lists_a_booking_made_through_the_api(stack, page):
    day = stack.workday()
    made = booked(stack, day, "10:00", addons=["aromatherapy-oil"],
                  customer={"name": "Ada Timeline", "email": "ada.t@example.com"})
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(day_url(stack, day))
    block = page.locator(f'a.tl-block[data-booking="{made["id"]}"]')
    expect(block).to_contain_text("Ada Timeline")
    expect(block).to_contain_text("10:00–11:00")
    expect(block).to_contain_text("aromatherapy-oil")
    assert "status-confirmed" in block.get_attribute("class")
    row = page.locator(f'tr[data-booking="{made["id"]}"]')
    expect(row).to_contain_text("confirmed")
    page.get_by_label("Therapists").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator(f'[data-row="{made["therapist"]}"] a.tl-block')).to_contain_text(
        "Ada Timeline")


def test_a_booking_made_elsewhere_shows_within_five_seconds(stack, page):
    day = stack.workday()
    first = booked(stack, day, "09:00")
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(day_url(stack, day))
    focused = page.locator(f'a.tl-block[data-booking="{first["id"]}"]')
    focused.focus()  # reception is on a booking, with the keyboard
    made = booked(stack, day, "15:00", customer={"name": "Live Arrival",
                                                 "email": "live@example.com"})
    expect(page.locator(f'a.tl-block[data-booking="{made["id"]}"]')).to_contain_text(
        "Live Arrival", timeout=5_000)
    expect(focused).to_be_focused()  # the new timeline did not take the focus away
    expect(page.locator("#live-note")).to_contain_text("The day was updated")


def test_reception_books_a_walk_in_through_the_page(stack, page):
    day = stack.workday()
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(day_url(stack, day))
    page.get_by_role("link", name="New booking").click()
    page.get_by_label("Treatment and length").select_option("ashiatsu:60")
    page.get_by_role("button", name="Show free starts").click()
    page.get_by_label(re.compile("Aromatherapy")).check()  # the add-ons ashiatsu allows
    page.get_by_role("button", name="Show free starts").click()
    page.get_by_role("radio", name=re.compile(r"^11:00 ")).check()
    page.get_by_label("Email").fill("walk.in@example.com")
    page.get_by_label("Name", exact=True).fill("Walk In")
    page.get_by_role("button", name="Book").click()
    alert = page.locator('[data-code="intake_unanswered"]')  # nothing assumed about health
    expect(alert).to_contain_text("answer every health question")
    for question in ("Pregnant?", "Surgery in the last months?",
                     "A recent fracture, sprain or injury?"):
        page.get_by_role("group", name=question).get_by_label("No").check()
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status")).to_contain_text("Booked.")
    expect(page.locator("[data-status]")).to_have_text("confirmed")
    booking_id = page.url.rsplit("/", 1)[1]
    made = stack.get(f"/v1/bookings/{booking_id}", key="partner").json()
    assert made["start"] == london_instant(day, "11:00")
    assert made["customer"]["name"] == "Walk In" and made["addons"] == ["aromatherapy-oil"]
    assert made["screening"]["outcome"] == "cleared"


def test_a_pregnant_intake_shows_the_contraindication_and_alternatives(stack, page):
    day = stack.workday()
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(f"{stack.base_url}/desk/new?studio=camden&date={day}&order=ashiatsu:60")
    page.get_by_role("radio", name=re.compile(r"^10:00 ")).check()
    page.get_by_label("Email").fill("expecting@example.com")
    page.get_by_label("Name", exact=True).fill("Expecting Client")
    page.get_by_role("group", name="Pregnant?").get_by_label("Yes").check()
    page.get_by_role("group", name="Surgery in the last months?").get_by_label("No").check()
    page.get_by_role("group", name="A recent fracture, sprain or injury?").get_by_label(
        "No").check()
    page.get_by_role("button", name="Book").click()
    alert = page.locator('[data-code="contraindicated"]')
    expect(alert).to_contain_text("not safe with: pregnancy")
    expect(alert.locator(".alternatives")).to_contain_text("Relaxation")
    bookings = stack.get("/v1/bookings", key="partner",
                         params={"from": london_instant(day, "00:00"),
                                 "to": london_instant(day, "23:59")}).json()["items"]
    assert bookings == []  # nothing was booked
    expect(page.get_by_label("Email")).to_have_value("expecting@example.com")  # kept to fix


def test_reception_cancels_a_booking_and_sees_the_fee(stack, page):
    day = stack.workday()
    made = booked(stack, day, "12:30", customer={"name": "To Cancel",
                                                 "email": "cancel@example.com"})
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(f"{stack.base_url}/desk/bookings/{made['id']}")
    cancel = page.get_by_role("button", name=re.compile("Cancel booking"))
    expect(cancel).to_contain_text("fee 0.00 GBP")  # days ahead: inside the free window
    cancel.click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled. Fee: 0.00 GBP.")
    expect(page.locator("[data-status]")).to_have_text("cancelled")
    assert stack.get(f"/v1/bookings/{made['id']}", key="partner").json()["status"] == "cancelled"


def test_reception_moves_a_booking_to_a_free_time(stack, page):
    day = stack.workday()
    made = booked(stack, day, "09:00", customer={"name": "To Move", "email": "move@example.com"})
    sign_in(page, stack.base_url, stack.partner_key)
    page.goto(f"{stack.base_url}/desk/bookings/{made['id']}")
    page.get_by_role("link", name="Reschedule…").click()
    page.get_by_role("radio", name=re.compile(r"^13:00$")).check()
    page.get_by_role("button", name="Move the booking").click()
    expect(page.get_by_role("status")).to_contain_text("Moved.")
    moved = stack.get(f"/v1/bookings/{made['id']}", key="partner").json()
    assert moved["start"] == london_instant(day, "13:00")


def test_a_partner_cannot_open_another_studios_day(stack, page):
    sign_in(page, stack.base_url, stack.partner_key)
    response = page.goto(day_url(stack, stack.day(), studio="islington"))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


def test_sign_out_ends_the_session(stack, page):
    sign_in(page, stack.base_url, stack.partner_key)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.go_back()  # the day just seen is not shown again from the browser's cache
    expect(page.get_by_label("API key")).to_be_visible()
    page.goto(day_url(stack, stack.day()))
    expect(page.get_by_label("API key")).to_be_visible()  # sent back to sign in


def test_a_key_revoked_mid_session_sends_the_page_to_sign_in(stack, page):
    partner = json.loads(stack.spa("partners", "create", "Revoked Spa", "--studio", "camden",
                                   "--json"))
    day = stack.day()
    sign_in(page, stack.base_url, partner["api_key"])
    page.goto(day_url(stack, day))
    stack.spa("partners", "keys", "revoke", partner["api_key"])
    expect(page.get_by_role("alert")).to_contain_text("no longer accepted", timeout=5_000)
    # the sign-in page itself, not swapped into the day; and back to that day after
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert urlsplit(page.url).path == "/desk/sign-in"
    back_to = day_url(stack, day).removeprefix(stack.base_url)
    assert parse_qs(urlsplit(page.url).query)["next"] == [back_to]


# Security, as plain HTTP (what a browser would not send) ----------------------------

PAGES = ["/desk/day", "/desk/day?studio=camden&date=2030-01-01", "/desk/bookings/bk_x",
         "/desk/new?studio=camden&date=2030-01-01&order=ashiatsu:60",
         "/desk/bookings/bk_x/reschedule"]


@pytest.mark.parametrize("path", PAGES)
def test_no_page_works_without_a_session(stack, path):
    response = DeskSession(stack.base_url).get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/desk/sign-in")


def test_an_action_without_a_session_changes_nothing(stack):
    day = stack.workday()
    made = booked(stack, day, "17:00")
    outsider = DeskSession(stack.base_url)
    response = outsider.post(f"/desk/bookings/{made['id']}/cancel",
                             {"csrf_token": outsider.token()})
    assert response.status_code == 302 and "/desk/sign-in" in response.headers["Location"]
    assert stack.get(f"/v1/bookings/{made['id']}").json()["status"] == "confirmed"


def test_a_form_without_its_csrf_token_is_refused(stack):
    made = booked(stack, stack.workday(), "16:00")
    desk = DeskSession(stack.base_url)
    assert desk.sign_in(stack.partner_key).status_code == 302
    refused = desk.post(f"/desk/bookings/{made['id']}/cancel", {})
    assert refused.status_code == 400 and "Form expired" in refused.text
    forged = desk.post(f"/desk/bookings/{made['id']}/cancel", {"csrf_token": "forged"})
    assert forged.status_code == 400
    assert stack.get(f"/v1/bookings/{made['id']}").json()["status"] == "confirmed"


def test_the_session_cookie_is_httponly_samesite_strict_and_holds_no_key(stack):
    desk = DeskSession(stack.base_url)
    signed = desk.sign_in(stack.partner_key)
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    assert stack.partner_key not in cookie
    page = desk.get("/desk/day")
    assert page.status_code == 200 and stack.partner_key not in page.text
    over_https = DeskSession(stack.base_url)
    over_https.http.headers["X-Forwarded-Proto"] = "https"
    assert "Secure" in over_https.sign_in(stack.partner_key).headers["Set-Cookie"]


def test_a_cookie_replayed_after_sign_out_opens_nothing(stack):
    desk = DeskSession(stack.base_url)
    desk.sign_in(stack.partner_key)
    stolen = dict(desk.http.cookies)
    desk.post("/desk/sign-out", {"csrf_token": desk.token("/desk/day")})
    thief = DeskSession(stack.base_url)
    thief.http.cookies.update(stolen)
    response = thief.get("/desk/day")
    assert response.status_code == 302 and "/desk/sign-in" in response.headers["Location"]


def test_a_bad_key_is_refused_at_sign_in(stack):
    desk = DeskSession(stack.base_url)
    response = desk.sign_in("spa_partner_not-a-real-key")
    assert response.status_code == 401 and "not accepted" in response.text
    assert desk.get("/desk/day").status_code == 302


def test_a_partner_cannot_reach_another_partners_booking_by_editing_the_url(stack):
    other = json.loads(stack.spa("partners", "create", "Other Spa", "--studio", "camden",
                                 "--json"))
    theirs = book(stack, {**direct(london_instant(stack.workday(), "10:00")),
                          "customer": CUSTOMER, "intake": INTAKE}, api_key=other["api_key"])
    assert theirs.status_code == 201, theirs.text
    desk = DeskSession(stack.base_url)
    desk.sign_in(stack.partner_key)
    booking_id = theirs.json()["id"]
    assert desk.get(f"/desk/bookings/{booking_id}").status_code == 404
    token = desk.token("/desk/day")
    refused = desk.post(f"/desk/bookings/{booking_id}/cancel", {"csrf_token": token})
    assert refused.status_code == 404
    mine_to_see = stack.get(f"/v1/bookings/{booking_id}", key=other["api_key"]).json()
    assert mine_to_see["status"] == "confirmed"
    assert "Ada Lovelace" not in desk.get(
        f"/desk/day?studio=camden&date={theirs.json()['start'][:10]}").text
