"""The web console (/app/) in Debian's Chromium, headless, against the shared dev stack; every
fixture is made through the API, every action through the page. Screenshots of each page are
written to .terraless/console-screenshots/ (the tests' artefacts)."""
from pathlib import Path

import httpx
import pytest

from conftest import (PLAN_APPROVE_APPLY, ROOT, make_workspace, poll, release_slow_state, run_attrs, start_run,
                      tcl, upload_config)

pytestmark = pytest.mark.e2e
ORG = "console-e2e"
SHOTS = ROOT / ".terraless" / "console-screenshots"
SECRET = "never-shown-in-the-page"


@pytest.fixture(scope="module")
def browser():
    from peers import browser as chromium
    try:
        session = chromium.driver()
    except chromium.NoBrowser as exc:
        if __import__("os").environ.get("CI") == "true":
            raise
        pytest.skip(f"no browser: {exc}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield session
    session.quit()


@pytest.fixture(scope="module")
def http(dev_stack):
    client = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers, timeout=60)
    make_workspace(client, ORG, "first")
    return client


class Page:
    def __init__(self, driver, stack) -> None:
        self.driver, self.stack = driver, stack

    def open(self, hash_path: str = "/") -> None:
        self.driver.get(f"{self.stack.url}/app/index.html#{hash_path}")

    def sign_in(self, token: str | None = None) -> None:
        self.open("/signin")
        box = poll(lambda: self.find("#token"), lambda e: e is not None, timeout=20)
        box.send_keys(token or self.stack.token)
        self.find("form.signin button").click()

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def text(self, css: str = "#view") -> str:
        try:
            element = self.find(css)
            return element.text if element is not None else ""
        except Exception:  # noqa: BLE001 - the page redrew it between find and read
            return ""

    def wait_text(self, needle: str, css: str = "#view", timeout: float = 60) -> str:
        return poll(lambda: self.text(css), lambda t: needle in t, timeout=timeout, interval=0.2)

    def click(self, label: str, timeout: float = 30) -> None:
        from selenium.webdriver.common.by import By

        def button():
            for element in self.driver.find_elements(By.CSS_SELECTOR, "#view button"):
                try:
                    if element.text == label and element.is_enabled():
                        return element
                except Exception:  # noqa: BLE001 - redrawn
                    pass
            return None
        poll(button, lambda b: b is not None, timeout=timeout, interval=0.2).click()

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))


@pytest.fixture
def page(browser, dev_stack, http):
    signed_in = Page(browser, dev_stack)
    signed_in.sign_in()
    signed_in.wait_text("Organizations")
    return signed_in




def _slow(fifo: str) -> dict:
    return {"main.tf": f'data "terraform_remote_state" "slow" {{\n  backend = "local"\n'
                       f'  config = {{ path = "{fifo}" }}\n}}\n'
                       'resource "null_resource" "web" {\n  triggers = { ready = data.terraform_remote_state.slow.outputs.ready }\n}\n'
                       'output "shown" { value = "plain" }\n'
                       'output "hidden" {\n  value = "' + SECRET + '"\n  sensitive = true\n}\n'}


def test_organizations_and_workspaces_with_search(page, http):
    make_workspace(http, ORG, "web-frontend")
    page.wait_text(ORG)
    page.shot("organizations")
    page.open(f"/orgs/{ORG}")
    page.wait_text("web-frontend")
    assert "unlocked" in page.text()
    page.open(f"/orgs/{ORG}?search=frontend")
    # the unfiltered table stays until the search's answer replaces it: wait for the filtered one
    poll(lambda: page.text("table"), lambda t: "web-frontend" in t and "first" not in t, timeout=30, interval=0.2)
    page.shot("workspaces")


def test_a_run_page_shows_the_log_as_it_arrives_and_applies_from_the_page(page, http, slow_state):
    ws = make_workspace(http, ORG, "live")
    upload_config(http, ws, _slow(slow_state))
    http.post(f"/api/v2/workspaces/{ws}/vars", json={"data": {"type": "vars", "attributes": {
        "key": "TOKEN", "value": SECRET, "category": "env", "sensitive": True}}})
    run = start_run(http, ws, "watched in the browser")
    poll(lambda: run_attrs(http, run)["status"], lambda s: s == "planning", timeout=60)
    page.open(f"/runs/{run}")
    page.wait_text("Terraform v", "pre.log")               # the plan's first lines, while it plans
    assert "planning" in page.text()
    assert "Plan: 1 to add" not in page.text("pre.log")
    release_slow_state(slow_state, 0)
    page.wait_text("Plan: 1 to add", "pre.log")            # appended without a reload
    page.wait_text("planned")
    assert "+1" in page.text(".counts")
    page.shot("run-planned")
    page.find("input[aria-label='apply comment']").send_keys("looks right")
    page.click("Apply")
    page.wait_text("applied", "#view p", timeout=120)
    page.wait_text("Apply complete", "pre.log[data-phase='apply']", timeout=60)
    assert [c["attributes"]["body"] for c in http.get(f"/api/v2/runs/{run}/comments").json()["data"]] == ["looks right"]
    page.shot("run-applied")
    page.driver.set_window_size(390, 844)                  # a phone
    page.shot("run-phone")
    page.driver.set_window_size(1280, 900)
    # the workspace's state and variables: sensitive values never reach the page's text
    page.open(f"/workspaces/{ws}/states")
    page.click("Outputs")
    page.wait_text("(sensitive)")
    assert '"plain"' in page.text() and SECRET not in page.driver.page_source
    page.shot("state-versions")
    page.open(f"/workspaces/{ws}/variables")
    page.wait_text("TOKEN")
    assert "(sensitive)" in page.text() and SECRET not in page.driver.page_source
    page.shot("variables")


def test_cancel_a_planning_run_from_its_page(page, http, slow_state):
    ws = make_workspace(http, ORG, "stopped")
    upload_config(http, ws, _slow(slow_state))
    run = start_run(http, ws, "cancelled in the browser")
    poll(lambda: run_attrs(http, run)["status"], lambda s: s == "planning", timeout=60)
    page.open(f"/runs/{run}")
    page.click("Cancel")
    page.wait_text("canceled", "#view p", timeout=60)
    assert run_attrs(http, run)["status"] == "canceled"
    page.shot("run-canceled")
    page.open(f"/workspaces/{ws}/runs")
    page.wait_text(run, "table")
    assert "canceled" in page.text("table")
    page.shot("workspace-runs")


def test_approve_a_terrakube_job_from_its_page(page, http):
    ws = make_workspace(http, ORG, "jobs")
    upload_config(http, ws, {"main.tf": 'resource "null_resource" "tk" {}\n'})
    job = http.post(f"/api/v1/workspace/{ws}/job", json={"data": {"type": "job", "attributes": {
        "tcl": tcl(PLAN_APPROVE_APPLY)},
        "relationships": {"workspace": {"data": {"type": "workspace", "id": ws}}}}}).json()["data"]["id"]
    page.open(f"/jobs/{ws}/{job}")
    page.wait_text("waitingApproval", timeout=120)
    page.shot("job-waiting")
    page.click("Approve")
    page.wait_text("completed", "#view p", timeout=120)
    assert "Apply complete" in page.text()
    page.open(f"/workspaces/{ws}/jobs")
    page.wait_text(job, "table")
    page.shot("job-completed")


def test_toggle_a_cts_task(page, http, tmp_path):
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text('variable "services" { type = any }\n')
    made = http.post("/v1/tasks", json={"task": {"name": "console-task", "module": str(module),
                                                  "condition": {"services": {"names": ["web"]}}}})
    assert made.status_code == 201, made.text
    page.open("/tasks")
    page.wait_text("console-task")
    page.click("Disable")
    page.wait_text("disabled")
    assert http.get("/v1/tasks/console-task").json()["task"]["enabled"] is False
    page.shot("cts-tasks")
    page.click("Enable")
    page.wait_text("enabled")
    assert http.get("/v1/tasks/console-task").json()["task"]["enabled"] is True


def test_sign_out_and_a_refused_token_lead_back_to_sign_in(browser, dev_stack, http):
    page = Page(browser, dev_stack)
    page.sign_in("not-a-token")
    page.wait_text("token was refused", ".signin")         # stays on sign-in, says why
    page.shot("sign-in-refused")
    page.sign_in()
    page.wait_text("Organizations")
    page.driver.find_element("id", "signout").click()
    page.wait_text("Signed out", ".signin")
    assert page.driver.execute_script("return sessionStorage.getItem('terraless.token')") is None
    # a token revoked while the page is open: the next call leads back to sign-in
    me = http.get("/api/v2/account/details").json()["data"]["id"]
    made = http.post(f"/api/v2/users/{me}/authentication-tokens",
                     json={"data": {"type": "authentication-tokens", "attributes": {"description": "console"}}}).json()["data"]
    page.sign_in(made["attributes"]["token"])
    page.wait_text("Organizations")
    assert http.delete(f"/api/v2/authentication-tokens/{made['id']}").status_code == 204
    page.open(f"/orgs/{ORG}")
    page.wait_text("sign in again", ".signin", timeout=30)
