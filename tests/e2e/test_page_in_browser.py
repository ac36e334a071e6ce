"""The `lwf dev` page in headless Chromium (Selenium with Debian's chromium-driver): a user
triggers the approval workflow from its form, opens the instance, sees the timeline,
sends the approval event from the page and sees the instance complete.

Screenshots of the workflows list, an instance list and an instance timeline are taken on
the way; `LWF_UPDATE_DOCS=1` writes them to docs/screenshots/ (shown in the README).
`./scripts/test` installs Chromium when it is missing (Debian/Ubuntu); this test is
never skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dev_process import ROOT, running_dev

SCREENSHOTS = ROOT / "docs" / "screenshots"
WAIT_SECONDS = 30


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "the browser test needs Chromium and chromedriver: run ./scripts/test (it "
            "installs them on Debian/Ubuntu) or `apt-get install chromium chromium-driver`"
        )
    return browser, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def _shoot(browser: Any, folder: Path, name: str) -> Path:
    browser.execute_script("window.scrollTo(0, 0)")
    path = folder / f"{name}.png"
    browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000, f"{name}: an empty page?"
    return path


def test_trigger_watch_and_approve_from_the_page(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)

    def timeline_shows(text: str) -> None:
        wait.until(seen.text_to_be_present_in_element((By.CLASS_NAME, "timeline"), text))

    shots: list[Path] = []
    with running_dev("--seed-demo") as url:
        browser.get(f"{url}/")
        wait.until(seen.presence_of_element_located((By.LINK_TEXT, "approval")))
        wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "tbody"), "complete 1"))
        shots.append(_shoot(browser, tmp_path, "workflows"))

        browser.find_element(By.LINK_TEXT, "approval").click()
        field = wait.until(seen.presence_of_element_located((By.NAME, "user_id")))
        field.send_keys("browser-user")
        browser.find_element(By.NAME, "id").send_keys("from-the-page")
        browser.find_element(By.XPATH, "//button[text()='Trigger']").click()

        wait.until(seen.url_contains("/instances/from-the-page"))
        wait.until(
            seen.text_to_be_present_in_element((By.CLASS_NAME, "timeline"), "wait for approval")
        )
        wait.until(seen.text_to_be_present_in_element((By.CLASS_NAME, "timeline"), "waiting"))
        event_type = browser.find_element(By.NAME, "event-type")
        assert event_type.get_attribute("value") == "approval-response"  # the wait's type
        payload = browser.find_element(By.NAME, "event-payload")
        payload.clear()
        payload.send_keys('{"approved": true}')
        browser.find_element(By.XPATH, "//button[text()='Send event']").click()

        wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "dl.facts"), "complete"))
        wait.until(
            seen.text_to_be_present_in_element((By.CLASS_NAME, "timeline"), "process approval")
        )
        shots.append(_shoot(browser, tmp_path, "instance-timeline"))

        browser.find_element(By.LINK_TEXT, "approval").click()
        wait.until(seen.presence_of_element_located((By.LINK_TEXT, "from-the-page")))
        shots.append(_shoot(browser, tmp_path, "instances"))
    if os.environ.get("LWF_UPDATE_DOCS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, SCREENSHOTS / shot.name)
