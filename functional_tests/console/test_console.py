"""The API console (Swagger UI at ``/docs/index.html``) driven in a real
headless Chromium through Selenium, as a person would use it: Authorize with
``X-Project-Id``, create a secret with "Try it out" on ``POST /v1/secrets``,
then read its payload back with ``GET /v1/secrets/{secret_id}/payload``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/system-deps``)
and a Coffer with trusted headers addressed by a loopback name (the
DNS-rebinding guard refuses other hosts). Run by ``scripts/test-console``.
Every wait is an explicit wait for an element or a text, never a sleep.
"""
import json
import os
import re
import shutil
import tempfile
import uuid

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import UUID4

CHROMIUM = os.environ.get("COFFER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COFFER_CHROMEDRIVER", "/usr/bin/chromedriver")
# The ceiling of each explicit wait (a page load, a response): generous for a
# loaded CI machine; nothing is asserted about how long anything takes.
WAIT_SECONDS = 60
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)


@pytest.fixture
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing: run scripts/system-deps (Debian "
                        "chromium, chromium-driver)" % path, pytrace=False)
    profile = tempfile.mkdtemp(prefix="coffer-console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ("--user-data-dir=" + profile,):
        options.add_argument(flag)
    driver = None
    try:
        # An explicit driver path: Selenium Manager downloads nothing.
        driver = webdriver.Chrome(
            options=options, service=Service(executable_path=CHROMEDRIVER))
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Console:
    """The Swagger UI page, by the elements a person looks at."""

    def __init__(self, driver):
        self.driver = driver

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(condition)
        except TimeoutException:
            body = self.driver.find_element(By.TAG_NAME, "body").text
            pytest.fail("console: %s did not happen; the page shows:\n%s"
                        % (what, body[-3000:]), pytrace=False)

    def element(self, css, within=None, what=None):
        root = within or self.driver

        def found(_):
            els = root.find_elements(By.CSS_SELECTOR, css)
            return els[0] if els and els[0].is_displayed() else False
        return self.wait(found, what or "an element %r" % css)

    def click(self, css, within=None, what=None):
        el = self.element(css, within, what)
        self.wait(lambda _: el.is_enabled(), "%r enabled" % css)
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});", el)
        el.click()
        return el

    @staticmethod
    def replace_text(field, text):
        # Select all and type over it: the input events React listens to
        # (clear() alone does not reach React's state).
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(text)

    def open(self, base_url):
        self.driver.get(base_url + "/docs/index.html")
        title = self.element(".information-container .title",
                             what="the document's title")
        assert title.text.startswith("Coffer"), title.text

    def authorize(self, header, value):
        self.click(".auth-wrapper button.authorize", what="the Authorize button")
        modal = self.element(".modal-ux", what="the authorization dialog")
        containers = modal.find_elements(By.CSS_SELECTOR, ".auth-container")
        mine = [c for c in containers
                if c.find_element(By.CSS_SELECTOR, "h4 code").text == header]
        assert len(mine) == 1, [c.text for c in containers]
        self.replace_text(self.element("input[type=text]", mine[0]), value)
        self.click("button.authorize", mine[0], what="the dialog's Authorize")
        # Authorized: the value is hidden and a Logout button replaces it.
        self.wait(lambda _: "Logout" in mine[0].text,
                  "authorization with %s" % header)
        self.click("button.btn-done", mine[0], what="the dialog's Close")
        self.wait(EC.invisibility_of_element_located(
            (By.CSS_SELECTOR, ".modal-ux")), "the dialog closing")

    def operation(self, tag, operation_id):
        """Expand an operation and press "Try it out"; return its block."""
        css = "#operations-%s-%s" % (tag, operation_id)
        block = self.element(css, what="operation %s" % operation_id)
        self.click(".opblock-summary-control", block,
                   what="the summary of %s" % operation_id)
        self.click("button.try-out__btn", block,
                   what="Try it out of %s" % operation_id)
        self.element("button.execute", block,
                     what="Execute of %s" % operation_id)
        return block

    def execute(self, block):
        """Execute and return (status, body text) of the live response."""
        self.click("button.execute", block, what="Execute")
        status = self.element(
            ".live-responses-table .response .response-col_status", block,
            what="a response")
        body = self.element(
            ".live-responses-table .response-col_description pre", block,
            what="the response body")
        return int(status.text.strip()), body.text

    def curl(self, block):
        return self.element(".curl-command", block, what="the curl line").text


def test_authorize_create_a_secret_and_read_its_payload(browser, base_url):
    project = "console-" + uuid.uuid4().hex
    payload = "console payload " + uuid.uuid4().hex
    console = Console(browser)
    console.open(base_url)
    console.authorize("X-Project-Id", project)

    # POST /v1/secrets with "Try it out": the body field starts with the
    # document's example; replace it with our secret.
    create = console.operation("secrets", "create_secret")
    field = console.element("textarea.body-param__text", create,
                            what="the request body field")
    assert json.loads(field.get_attribute("value"))["payload"]
    console.replace_text(field, json.dumps({
        "name": "console-secret", "payload": payload,
        "payload_content_type": "text/plain"}))
    status, body = console.execute(create)
    assert status == 201, body
    # The Authorize button's header went with the request.
    assert "X-Project-Id: %s" % project in console.curl(create)
    secret_ref = json.loads(body)["secret_ref"]
    match = re.fullmatch(
        re.escape(base_url) + "/v1/secrets/(" + UUID4 + ")", secret_ref)
    assert match, secret_ref
    secret_id = match.group(1)

    # GET /v1/secrets/{secret_id}/payload: the path field starts with the
    # example UUID; the response media type (what the console sends as
    # Accept) starts with text/plain.
    read = console.operation("secrets", "get_secret_payload")
    field = console.element("input[placeholder=secret_id]", read,
                            what="the secret_id field")
    assert re.fullmatch(UUID4, field.get_attribute("value"))
    console.replace_text(field, secret_id)
    media = Select(console.element(
        ".responses-wrapper select", read, what="the response media type"))
    assert media.first_selected_option.text == "text/plain"
    status, body = console.execute(read)
    assert status == 200, body
    assert body == payload
    assert "X-Project-Id: %s" % project in console.curl(read)

    # What the console did is what the service holds, in that project: another
    # project is refused it (403, as Barbican).
    meta = requests.get(
        secret_ref, headers={"X-Project-Id": project}, timeout=10)
    assert meta.status_code == 200, meta.text
    assert meta.json()["name"] == "console-secret"
    other = requests.get(
        secret_ref, headers={"X-Project-Id": project + "-other"}, timeout=10)
    assert other.status_code == 403, other.text
