"""End to end through `terraless dev` (moto_server + HTTP API + dispatcher) with a real HTTP
client (httpx over a socket, not moto's request patching)."""
import httpx
import pytest

from conftest import make_tgz, poll

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ws(dev_stack):
    h = dev_stack.headers
    httpx.post(f"{dev_stack.url}/api/v2/organizations", headers=h, json={"data": {"attributes": {
        "name": "e2e-cv", "email": "e2e@example.test"}}}).raise_for_status()
    resp = httpx.post(f"{dev_stack.url}/api/v2/organizations/e2e-cv/workspaces", headers=h,
                      json={"data": {"attributes": {"name": "uploads"}}})
    resp.raise_for_status()
    return resp.json()["data"]["id"]


@pytest.mark.parametrize("bearer", [False, True], ids=["no-auth-header", "bearer-header"])
def test_create_upload_download_round_trip(dev_stack, ws, bearer):
    h = dev_stack.headers
    created = httpx.post(f"{dev_stack.url}/api/v2/workspaces/{ws}/configuration-versions",
                         headers=h, json={"data": {"attributes": {"auto-queue-runs": False}}})
    assert created.status_code == 201
    cv_id = created.json()["data"]["id"]
    url = created.json()["data"]["attributes"]["upload-url"]
    assert url.startswith(dev_stack.url)
    blob = make_tgz({"main.tf": 'output "e2e" { value = "yes" }\n'})
    put_headers = {"Content-Type": "application/octet-stream"}
    if bearer:   # terraform <= 1.5 and terrasnek send their token to the upload URL
        put_headers["Authorization"] = f"Bearer {dev_stack.token}"
    put = httpx.put(url, content=blob, headers=put_headers)
    assert put.status_code == 200
    status = poll(lambda: httpx.get(f"{dev_stack.url}/api/v2/configuration-versions/{cv_id}",
                                    headers=h).json()["data"]["attributes"]["status"],
                  lambda s: s != "pending", timeout=30)
    assert status == "uploaded"
    redirect = httpx.get(f"{dev_stack.url}/api/v2/configuration-versions/{cv_id}/download", headers=h)
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["location"]).content == blob


def test_curl_style_upload_of_a_hostile_archive_ends_errored(dev_stack, ws):
    h = dev_stack.headers
    created = httpx.post(f"{dev_stack.url}/api/v2/workspaces/{ws}/configuration-versions",
                         headers=h, json={"data": {}}).json()["data"]
    # curl --data-binary without a content type sends application/x-www-form-urlencoded
    put = httpx.put(created["attributes"]["upload-url"], content=make_tgz({"../x.tf": "x"}),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert put.status_code == 200
    final = poll(lambda: httpx.get(f"{dev_stack.url}/api/v2/configuration-versions/{created['id']}",
                                   headers=h).json()["data"]["attributes"],
                 lambda a: a["status"] != "pending", timeout=30)
    assert (final["status"], final["error"]) == ("errored", "unsafe_path")


def test_errors_are_json_api_everywhere(dev_stack):
    unknown = httpx.get(f"{dev_stack.url}/api/v2/no/such/route", headers=dev_stack.headers)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["status"] == "404"
    anon = httpx.get(f"{dev_stack.url}/api/v2/organizations")
    assert anon.status_code == 401 and anon.json()["errors"][0]["status"] == "401"
    ping = httpx.get(f"{dev_stack.url}/api/v2/ping")
    assert ping.status_code == 200 and ping.headers["tfp-api-version"] == "2.5"
