"""The audit page in headless Chromium: events appear live, details, filters,
dead letters, and the read-token prompt.

Set UPDATE_SCREENSHOTS=1 to refresh docs/audit-page.png from this run.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from common.events import CloudEvent, new_event
from devstack import ServiceProcess
from tests.integration.audit.helpers import audit_process, post_binary, post_structured

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "audit-page.png"
SOURCE = "/apis/v1/namespaces/user-audit/user"
TOKEN = "page-" + "t" * 32


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 860})
    tab = context.new_page()
    yield tab
    context.close()


def user_event(kind: str, user: str, **extra: object) -> CloudEvent:
    data: dict[str, object] = {"id": user}
    if kind == "updateUser":
        data["changed"] = ["name"]
    trace = uuid.uuid4().hex
    return new_event(
        type=f"user.{kind}",
        source=SOURCE,
        subject=user,
        data=orjson.dumps(data),
        dataschema=f"http://user.user-audit.svc/v1/schemas/user.{kind}.json",
        traceparent=f"00-{trace}-{trace[:16]}-01",
        knativearrivaltime="2026-11-27T10:00:00.000Z",
        **extra,  # type: ignore[arg-type]
    )


def seed(client: httpx.Client) -> None:
    for i in range(9):
        user = str(uuid.uuid4())
        kinds = ["storeUser", "updateUser", "deleteUser"] if i % 3 == 0 else ["storeUser"]
        for kind in kinds:
            assert post_binary(client, user_event(kind, user)).status_code == 202
    dead = user_event(
        "deleteUser",
        str(uuid.uuid4()),
        knativeerrordest="http://audit.user-audit.svc.cluster.local/",
        knativeerrorcode="503",
        knativeerrordata=base64.b64encode(b'{"error":"store_unavailable"}').decode(),
    )
    assert post_binary(client, dead, path="/dead-letter").status_code == 202


@pytest.fixture
def audit(tmp_path: Path, database_url: str) -> Iterator[ServiceProcess]:
    service = audit_process(tmp_path, database_url).start()
    yield service
    service.stop()


def test_a_posted_event_appears_live_with_details_filters_and_dead_letters(
    page: Page, audit: ServiceProcess, tmp_path: Path
) -> None:
    client = httpx.Client(base_url=audit.url, timeout=30)
    seed(client)
    page.goto(audit.url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#events-table tbody tr")).to_have_count(15)
    page.evaluate("window.stillTheSamePage = true")

    fresh = user_event("storeUser", str(uuid.uuid4()))
    assert post_structured(client, fresh).status_code == 202

    row = page.locator(f'#events-table tr[data-id="{fresh.id}"]')
    expect(row).to_be_visible(timeout=10_000)
    expect(page.locator("#events-table tbody tr").first).to_have_attribute("data-id", fresh.id)
    assert page.evaluate("window.stillTheSamePage") is True, "the page reloaded"
    expect(page.locator('#type-counts button[data-type="user.storeUser"] .count')).to_have_text(
        "10"
    )
    expect(page.locator("#dead-count")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "audit-page.png"))
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(tmp_path / "audit-page.png", SCREENSHOT)

    row.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("user.storeUser")
    attributes = page.locator("#detail-attributes")
    expect(attributes).to_contain_text(str(fresh.attributes["traceparent"]))
    expect(attributes).to_contain_text("knativearrivaltime")
    expect(attributes).to_contain_text("structured")
    expect(page.locator("#detail-data")).to_have_text('{\n  "id": "' + str(fresh.subject) + '"\n}')
    page.screenshot(path=str(tmp_path / "audit-detail.png"))
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()

    page.fill('#filters input[name="type"]', "user.deleteUser")
    expect(page.locator("#events-table tbody tr")).to_have_count(3)
    deleted = user_event("deleteUser", str(uuid.uuid4()))
    post_binary(client, user_event("storeUser", str(uuid.uuid4())))
    post_binary(client, deleted)
    expect(page.locator("#events-table tbody tr").first).to_have_attribute("data-id", deleted.id)
    expect(page.locator("#events-table tbody tr")).to_have_count(4)

    page.click("#tab-dead")
    dead_row = page.locator("#dead-table tbody tr")
    expect(dead_row).to_have_count(1)
    expect(dead_row).to_contain_text("503")
    expect(dead_row).to_contain_text("store_unavailable")
    dead_row.click()
    expect(page.locator("#detail-error")).to_contain_text(
        "http://audit.user-audit.svc.cluster.local/"
    )
    client.close()


def test_with_a_read_token_the_page_asks_for_it_and_then_streams(
    page: Page, tmp_path: Path, database_url: str
) -> None:
    service = audit_process(tmp_path, database_url, AUDIT_READ_TOKEN=TOKEN).start()
    try:
        page.goto(service.url + "/")
        expect(page.locator("#token-panel")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()

        page.fill("#token-input", "wrong")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#token-error")).to_have_text("That token was not accepted.")

        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        assert page.evaluate("sessionStorage.getItem('audit.readToken')") == TOKEN

        ce = user_event("storeUser", str(uuid.uuid4()))
        with httpx.Client(base_url=service.url, timeout=30) as client:
            assert post_binary(client, ce).status_code == 202
        expect(page.locator(f'#events-table tr[data-id="{ce.id}"]')).to_be_visible(timeout=10_000)

        page.reload()
        expect(page.locator(f'#events-table tr[data-id="{ce.id}"]')).to_be_visible()
        page.click("#forget-token")
        expect(page.locator("#token-panel")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('audit.readToken')") is None
    finally:
        service.stop()
