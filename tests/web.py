"""Helpers for the workspace's browser tests: headless Chromium (Debian's) with Selenium, people
with accounts, signing in through the form, and axe-core's accessibility check."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _waits_look_past_the_page_being_left() -> None:
    """A wait polling the page while the browser navigates may meet an element of the page it leaves
    (stale): every WebDriverWait of the tests retries then, as it does for an element not there yet.
    (selenium reads its default list when a wait is made.)"""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support import wait

    if StaleElementReferenceException not in wait.IGNORED_EXCEPTIONS:
        wait.IGNORED_EXCEPTIONS = (*wait.IGNORED_EXCEPTIONS, StaleElementReferenceException)


_waits_look_past_the_page_being_left()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh test installs them as root)",
)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "richtig-langes-passwort"


def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium driven by Selenium (quit it when done)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def people(engine, **accounts: tuple) -> None:
    """Accounts name=(role, [AGS]) with :data:`PASSWORD`, committed."""
    from landreg import users

    with engine.begin() as conn:
        for name, (role, *ags) in accounts.items():
            users.create_user(conn, name, role, PASSWORD, ags[0] if ags else None, display_name=name)


def sign_in(driver, base: str, username: str, password: str = PASSWORD) -> None:
    """Through the sign-in form, as a person would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/app/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "/app/login" not in d.current_url)


def submit(driver, button, timeout: float = 15) -> None:
    """Click a form's submit button (or a link) and wait for the page the server answers with: a find right after
    a bare click may still see the old page (the click returns before the navigation has begun)."""
    with new_page(driver, timeout):
        button.click()


@contextmanager
def new_page(driver, timeout: float = 15):
    """Whatever the block does (a click, Enter in a form) leads to a new page: wait until it has loaded.
    The old page is marked in its window; the new one has no mark. (Watching an old element go stale is
    not enough: Chromium may answer "node does not belong to the document" while it navigates.)"""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__landregOldPage = true;")
    yield
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__landregOldPage && document.readyState === 'complete';")
    )


def axe_violations(driver, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of the page shown, of the given impacts (WCAG 2.1 A and AA rules)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e)}])));"
    )
    return [v for v in json.loads(result) if v.get("impact") in impacts]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v.get('help')} — {[n.get('target') for n in v.get('nodes', [])][:3]}"
        for v in violations
    )


def screenshot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
