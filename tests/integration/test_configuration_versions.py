"""Configuration versions through the app under moto: every endpoint and documented state."""
import io
import tarfile

import pytest
import requests

from conftest import git_commit, make_tgz

CV = "/api/v2/configuration-versions"


def attrs(resp):
    return resp.json["data"]["attributes"]


def status(api, cv_id):
    return attrs(api.get(f"{CV}/{cv_id}"))["status"]


def test_create_gives_pending_and_an_upload_url_also_shown_while_pending(api, workspace):
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                       {"data": {"type": "configuration-versions", "attributes": {
                           "speculative": True, "provisional": True, "something-new": 1}}})
    assert created.status_code == 201
    data = created.json["data"]
    assert data["type"] == "configuration-versions" and data["id"].startswith("cv-")
    a = data["attributes"]
    assert a["status"] == "pending" and a["source"] == "tfe-api" and a["auto-queue-runs"] is True
    assert a["speculative"] is True and a["provisional"] is True
    assert a["upload-url"].startswith("http://terraless.test/_archivist/")
    assert a["status-timestamps"]["pending-at"].endswith("Z")
    assert data["links"]["self"] == f"{CV}/{data['id']}"
    assert data["relationships"]["ingress-attributes"]["data"] is None
    # go-tfe reads a pending version's upload-url too (its tests do): a fresh one on every read
    shown = api.get(f"{CV}/{data['id']}")
    assert attrs(shown)["upload-url"].startswith("http://terraless.test/_archivist/")


def test_create_refuses_wrong_types(api, workspace):
    bad = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                   {"data": {"attributes": {"auto-queue-runs": "yes"}}})
    assert bad.status_code == 422
    assert bad.json["errors"][0]["source"]["pointer"] == "/data/attributes/auto-queue-runs"
    assert api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", raw=b"[1,").status_code == 400
    assert api.post("/api/v2/workspaces/ws-nope/configuration-versions",
                    {"data": {"attributes": {}}}).status_code == 404


@pytest.mark.parametrize("send_bearer", [False, True])
def test_upload_with_or_without_bearer_then_download_round_trips(api, workspace, drain, send_bearer):
    blob = make_tgz({"main.tf": 'output "a" { value = 1 }\n', "sub/x.tf": "# x\n"})
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                       {"data": {"attributes": {"auto-queue-runs": False}}})
    cv_id = created.json["data"]["id"]
    path = attrs(created)["upload-url"].replace("http://terraless.test", "")
    uploader = api if send_bearer else api.as_token(None)
    put = uploader.put(path, blob, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200          # terrasnek accepts only 200
    assert status(api, cv_id) == "pending"  # nothing happens until the S3 event is handled
    assert drain() >= 1
    shown = api.get(f"{CV}/{cv_id}")
    assert attrs(shown)["status"] == "uploaded"
    assert set(attrs(shown)["status-timestamps"]) == {"pending-at", "uploaded-at"}
    assert shown.json["data"]["links"]["download"] == f"{CV}/{cv_id}/download"
    redirect = api.get(f"{CV}/{cv_id}/download")
    assert redirect.status_code == 302
    assert requests.get(redirect.headers["Location"], timeout=10).content == blob
    # The URL cannot be used twice.
    assert uploader.put(path, blob).status_code == 409


def test_forged_or_expired_upload_urls_are_refused(api, workspace, monkeypatch):
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}})
    path = attrs(created)["upload-url"].replace("http://terraless.test", "")
    forged = path[:-4] + ("0000" if not path.endswith("0000") else "1111")
    assert api.as_token(None).put(forged, make_tgz()).status_code == 404
    from chalicelib.services import signing
    expired = signing.sign("cv-upload", "acme", created.json["data"]["id"], -5)
    resp = api.as_token(None).put(f"/_archivist/v1/object/{expired}", make_tgz())
    assert resp.status_code == 404 and "expired" in resp.json["errors"][0]["detail"]
    # a genuine credential of another organization names only that organization's objects
    other = signing.sign("cv-upload", "another-org", created.json["data"]["id"], 60)
    assert api.as_token(None).put(f"/_archivist/v1/object/{other}", make_tgz()).status_code == 404
    assert status(api, created.json["data"]["id"]) == "pending"


def test_oversized_upload_is_refused_before_storage(api, workspace, monkeypatch):
    monkeypatch.setenv("TERRALESS_MAX_ARCHIVE_BYTES", "100")
    from chalicelib import config
    config.reset()
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}})
    path = attrs(created)["upload-url"].replace("http://terraless.test", "")
    assert api.as_token(None).put(path, b"\x1f\x8b" + b"0" * 200).status_code == 413
    assert status(api, created.json["data"]["id"]) == "pending"
    config.reset()


@pytest.mark.parametrize("blob, code", [
    (b"just text", "not_gzip"),
    (b"", "empty_archive"),
    (make_tgz({"../escape.tf": "x"}), "unsafe_path"),
    (make_tgz({"/abs.tf": "x"}), "unsafe_path"),
])
def test_hostile_uploads_end_errored_with_a_reason(api, workspace, upload, blob, code):
    cv_id = upload(workspace, raw=blob)
    a = attrs(api.get(f"{CV}/{cv_id}"))
    assert (a["status"], a["error"]) == ("errored", code) and a["error-message"]
    assert "errored-at" in a["status-timestamps"]
    assert api.get(f"{CV}/{cv_id}/download").status_code == 404


def test_symlink_and_device_entries_are_rejected(api, workspace, upload):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("evil")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tar.addfile(link)
    assert attrs(api.get(f"{CV}/{upload(workspace, raw=buf.getvalue())}"))["error"] == "link_escapes_root"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dev = tarfile.TarInfo("null")
        dev.type = tarfile.CHRTYPE
        tar.addfile(dev)
    assert attrs(api.get(f"{CV}/{upload(workspace, raw=buf.getvalue())}"))["error"] == "device_file"


def test_file_count_limit(api, workspace, upload, monkeypatch):
    monkeypatch.setenv("TERRALESS_MAX_ARCHIVE_FILES", "3")
    from chalicelib import config
    config.reset()
    cv_id = upload(workspace, {f"f{i}.tf": "#" for i in range(4)})
    assert attrs(api.get(f"{CV}/{cv_id}"))["error"] == "too_many_files"
    config.reset()


def test_redelivered_s3_event_is_harmless(api, workspace, upload, app_module):
    from chalicelib.services import configuration_versions as svc
    cv_id = upload(workspace)
    before = attrs(api.get(f"{CV}/{cv_id}"))
    assert svc.process_uploaded_object(f"cv/{cv_id}/config.tar.gz", None).value == "uploaded"
    assert attrs(api.get(f"{CV}/{cv_id}")) == before


def test_list_is_newest_first_with_full_pagination(api, workspace):
    ids = [api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
                    {"data": {}}).json["data"]["id"] for _ in range(7)]
    page2 = api.get(f"/api/v2/workspaces/{workspace}/configuration-versions?page[number]=2&page[size]=3")
    assert [c["id"] for c in page2.json["data"]] == list(reversed(ids))[3:6]
    assert page2.json["meta"]["pagination"] == {"current-page": 2, "page-size": 3, "prev-page": 1,
                                                "next-page": 3, "total-pages": 3, "total-count": 7}
    last = api.get(f"/api/v2/workspaces/{workspace}/configuration-versions?page[number]=3&page[size]=3")
    assert [c["id"] for c in last.json["data"]] == [ids[0]]
    assert last.json["meta"]["pagination"]["next-page"] is None
    beyond = api.get(f"/api/v2/workspaces/{workspace}/configuration-versions?page[number]=9&page[size]=3")
    assert beyond.json["data"] == []
    default = api.get(f"/api/v2/workspaces/{workspace}/configuration-versions")
    assert len(default.json["data"]) == 7 and default.json["meta"]["pagination"]["page-size"] == 20


def test_ingress_attributes(api, workspace):
    plain = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}})
    cv_id = plain.json["data"]["id"]
    resp = api.get(f"{CV}/{cv_id}/ingress-attributes")
    assert resp.status_code == 200 and resp.json["data"] is None
    assert "included" not in api.get(f"{CV}/{cv_id}?include=ingress_attributes").json
    vcs = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {"attributes": {
        "ingress-attributes": {"branch": "main", "commit-sha": "abc123", "is-pull-request": False,
                               "clone-url": "https://example.test/repo.git", "bogus": "dropped"}}}})
    vcs_id = vcs.json["data"]["id"]
    rel = vcs.json["data"]["relationships"]["ingress-attributes"]["data"]
    assert rel["type"] == "ingress-attributes" and rel["id"].startswith("ia-")
    ia = api.get(f"{CV}/{vcs_id}/ingress-attributes").json["data"]
    assert ia["attributes"]["commit-sha"] == "abc123" and "bogus" not in ia["attributes"]
    assert ia["attributes"]["tag"] is None
    for include in ("ingress_attributes", "ingress-attributes"):
        shown = api.get(f"{CV}/{vcs_id}?include={include}")
        assert shown.json["included"] == [ia]


def test_archive_rules(api, workspace, upload):
    older = upload(workspace)
    current = upload(workspace)
    assert api.get(f"/api/v2/workspaces/{workspace}").json["data"]["relationships"][
        "current-configuration-version"]["data"]["id"] == current
    assert api.post(f"{CV}/{current}/actions/archive").status_code == 409       # current
    pending = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}}).json["data"]["id"]
    assert api.post(f"{CV}/{pending}/actions/archive").status_code == 409       # not uploaded
    resp = api.post(f"{CV}/{older}/actions/archive")
    assert resp.status_code == 202 and resp.body in (b"", "")
    assert status(api, older) == "archived"
    assert api.get(f"{CV}/{older}/download").status_code == 404
    assert api.post(f"{CV}/{older}/actions/archive").status_code == 409
    assert api.post(f"{CV}/cv-unknown000000/actions/archive").status_code == 404


def test_backing_data_soft_delete_restore_and_permanent_delete(api, workspace, upload):
    from chalicelib.aws import blobs
    from chalicelib.storage import keys
    original = make_tgz({"main.tf": 'output "keep" { value = "me" }\n'})
    target = upload(workspace, raw=original)
    current = upload(workspace)
    assert api.post(f"{CV}/{current}/actions/soft_delete_backing_data").status_code == 400
    assert api.post(f"{CV}/{target}/actions/restore_backing_data").status_code == 400
    assert api.post(f"{CV}/{target}/actions/permanently_delete_backing_data").status_code == 400

    assert api.post(f"{CV}/{target}/actions/soft_delete_backing_data").status_code == 200
    assert status(api, target) == "backing_data_soft_deleted"
    assert api.get(f"{CV}/{target}/download").status_code == 404
    assert blobs.head(keys.cv_archive(target)) is None                  # hidden by a delete marker

    assert api.post(f"{CV}/{target}/actions/restore_backing_data").status_code == 200
    assert status(api, target) == "uploaded"
    assert requests.get(api.get(f"{CV}/{target}/download").headers["Location"]).content == original

    assert api.post(f"{CV}/{target}/actions/soft_delete_backing_data").status_code == 200
    assert api.post(f"{CV}/{target}/actions/permanently_delete_backing_data").status_code == 200
    assert status(api, target) == "backing_data_permanently_deleted"
    assert list(blobs._versions(keys.cv_archive(target))) == []         # every version gone
    assert api.post(f"{CV}/{target}/actions/restore_backing_data").status_code == 400


def test_other_organizations_cannot_see_versions(api, workspace, upload):
    cv_id = upload(workspace)
    api.post("/api/v2/organizations", {"data": {"attributes": {"name": "rival", "email": "r@r.r"}}})
    rival_token = api.post("/api/v2/organizations/rival/authentication-token").json["data"]["attributes"]["token"]
    rival = api.as_token(rival_token)
    for path in (f"{CV}/{cv_id}", f"{CV}/{cv_id}/download", f"{CV}/{cv_id}/ingress-attributes",
                 f"/api/v2/workspaces/{workspace}/configuration-versions"):
        assert rival.get(path).status_code == 404, path
    assert rival.post(f"{CV}/{cv_id}/actions/archive").status_code == 404
    assert rival.post(f"{CV}/{cv_id}/actions/soft_delete_backing_data").status_code == 404
    assert status(api, cv_id) == "uploaded"


@pytest.mark.parametrize("mode,agent,presigned", [
    ("auto", "pytfe/1.0", True), ("auto", "pytfe/1.0 my-tool/2", True), ("auto", "OpenTofu/1.12.6", True),
    ("auto", "Terraform/1.0.3 (+https://www.terraform.io)", False), ("auto", None, False),
    ("auto", "curl/8.0 pytfe/1.0", False), ("archivist", "pytfe/1.0", False),
    ("presigned", "Terraform/1.0.3", True)])
def test_the_upload_url_suits_the_client_asking(api, workspace, drain, monkeypatch, mode, agent, presigned):
    """A client that sends no token to the upload URL gets S3's own (no size cap through the API);
    one that sends its token, the archivist, which real S3 would refuse as two authentications."""
    monkeypatch.setenv("TERRALESS_UPLOAD_MODE", mode)
    from chalicelib import config
    config.reset()
    headers = {"User-Agent": agent} if agent else {}
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}},
                       headers=headers)
    cv_id = created.json["data"]["id"]
    for shown in (attrs(created), attrs(api.get(f"{CV}/{cv_id}", headers=headers))):
        assert ("X-Amz-Signature" in shown["upload-url"]) is presigned, shown["upload-url"]
        assert ("/_archivist/v1/object/" in shown["upload-url"]) is not presigned
    url = attrs(created)["upload-url"]
    if presigned:
        assert requests.put(url, data=make_tgz(), timeout=10).status_code == 200
    else:     # the archivist, with the token such a client sends along
        assert api.request("PUT", url.split("terraless.test", 1)[1], raw=make_tgz()).status_code == 200
    drain()
    assert status(api, cv_id) == "uploaded"
    config.reset()


def test_presigned_mode_hands_out_a_direct_s3_url(api, workspace, drain, monkeypatch):
    monkeypatch.setenv("TERRALESS_UPLOAD_MODE", "presigned")
    from chalicelib import config
    config.reset()
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {}})
    url = attrs(created)["upload-url"]
    assert "X-Amz-Signature" in url and "terraless-blobs" in url and "/cv/" in url
    blob = make_tgz()
    assert requests.put(url, data=blob, timeout=10).status_code == 200
    drain()
    assert status(api, created.json["data"]["id"]) == "uploaded"
    config.reset()


def test_vcs_style_version_is_fetched_then_uploaded(api, workspace, drain, tmp_path):
    sha = git_commit(tmp_path / "repo", {"main.tf": 'output "from_git" { value = true }\n'})
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {
        "attributes": {"fetch": True, "auto-queue-runs": False, "ingress-attributes": {
            "clone-url": f"file://{tmp_path / 'repo'}", "branch": "main"}}}})
    assert created.status_code == 201
    a = attrs(created)
    assert a["status"] == "fetching" and "upload-url" not in a
    cv_id = created.json["data"]["id"]
    drain()
    shown = attrs(api.get(f"{CV}/{cv_id}"))
    assert shown["status"] == "uploaded"
    assert list(shown["status-timestamps"]) == ["pending-at", "fetching-at", "uploaded-at"]
    ia = api.get(f"{CV}/{cv_id}/ingress-attributes").json["data"]["attributes"]
    assert ia["commit-sha"] == sha
    archive = requests.get(api.get(f"{CV}/{cv_id}/download").headers["Location"]).content
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["main.tf"]           # .git is not part of the configuration
    # VCS versions are archived by the service, not through the API.
    assert api.post(f"{CV}/{cv_id}/actions/archive").status_code == 409


@pytest.mark.parametrize("url", ["file:///nonexistent/repo", "ext::sh -c touch% /tmp/pwned"])
def test_unfetchable_or_dangerous_clone_urls_end_errored(api, workspace, drain, url):
    created = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {
        "attributes": {"fetch": True, "ingress-attributes": {"clone-url": url}}}})
    cv_id = created.json["data"]["id"]
    drain()
    a = attrs(api.get(f"{CV}/{cv_id}"))
    assert (a["status"], a["error"]) == ("errored", "vcs_fetch_failed") and a["error-message"]


def test_scheduled_purge_deletes_expired_soft_deleted_backing_data(api, workspace, upload, app_module):
    from chalicelib.aws import blobs
    from chalicelib.storage import keys
    from chalicelib.local import schedule
    expired = upload(workspace)
    kept = upload(workspace)
    upload(workspace)                                            # the current version
    bad = api.post(f"{CV}/{expired}/actions/soft_delete_backing_data",
                   {"data": {"attributes": {"delete-older-than-n-days": "soon"}}})
    assert bad.status_code == 422 and status(api, expired) == "uploaded"
    assert api.post(f"{CV}/{expired}/actions/soft_delete_backing_data",
                    {"data": {"attributes": {"delete-older-than-n-days": 0}}}).status_code == 200
    assert api.post(f"{CV}/{kept}/actions/soft_delete_backing_data").status_code == 200   # 30 days
    # the dev stack's scheduler runs the app's @app.schedule handler when it is due
    jobs = [j for j in schedule.jobs(app_module.app, app_module, now=0) if j.name == "purge_backing_data"]
    assert [j.every for j in jobs] == [3600]
    assert schedule.run_due(jobs, now=10) == []                  # not due yet
    assert schedule.run_due(jobs, now=3600) == ["purge_backing_data"]
    assert status(api, expired) == "backing_data_permanently_deleted"
    assert list(blobs._versions(keys.cv_archive(expired))) == []
    assert status(api, kept) == "backing_data_soft_deleted"
    assert api.post(f"{CV}/{kept}/actions/restore_backing_data").status_code == 200
