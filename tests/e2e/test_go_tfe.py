"""go-tfe's own integration tests (v1.111.2, the release pinned in tests/peers/go-tfe) against
the dev stack: every test of the groups Terraless offers, but those in left-out.tsv (features it
does not offer), each in its own process. The figures are printed; a test that fails and is not
in known-failing.tsv fails this one."""
from urllib.parse import urlparse

import httpx
import pytest

from conftest import make_workspace, peer, upload_config
from peers import go_tfe

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def go_tfe_tests():
    found = peer("go-tfe")
    if found is None:
        pytest.skip("go-tfe's tests could not be built: `python -m tests.peers.build go-tfe`")
    return found


def test_go_tfe_integration_tests_pass_but_for_features_not_offered(go_tfe_tests, dev_stack, capsys):
    listed = go_tfe.listed(go_tfe_tests)
    left_out, known = go_tfe.left_out(), go_tfe.known_failing()
    tests_named = {name.split("/")[0] for name in set(left_out) | set(known)}
    assert not tests_named - set(listed), "names in the lists that go-tfe has not"
    assert not set(left_out) & set(known)
    assert all(len(depths) == 1 for depths in go_tfe.subtest_depths(left_out).values()), \
        "a test's left-out subtests are named at one depth (one -test.skip pattern)"
    outcomes = go_tfe.run(go_tfe_tests, dev_stack.url, dev_stack.token,
                          [name for name in listed if name not in go_tfe.wholly_left_out()])
    failed = {o.name: o for o in outcomes if o.status == "FAIL"}
    with capsys.disabled():
        print("\n" + go_tfe.summary(outcomes, left_out))
        for name in sorted(set(known) - set(failed)):
            print(f"  now passes, take it off known-failing.tsv: {name}")
    unexpected = {name: o for name, o in failed.items() if name not in known}
    assert not unexpected, "\n\n".join(f"{name}:\n{o.output[-3000:]}" for name, o in unexpected.items())


def test_presigned_urls_name_another_host_than_the_api(dev_stack):
    # Go's HTTP client keeps the bearer token on a redirect to the same host name (any port),
    # and S3 refuses two authentications: go-tfe's Download hung retrying moto's 500 before
    http = httpx.Client(base_url=dev_stack.url, headers=dev_stack.headers, timeout=30)
    ws = make_workspace(http, "presign-e2e", "dl")
    cv = upload_config(http, ws, {"main.tf": "# nothing\n"})
    moved = http.get(f"/api/v2/configuration-versions/{cv}/download")
    assert moved.status_code == 302
    location = moved.headers["location"]
    assert urlparse(location).hostname != urlparse(dev_stack.url).hostname
    fetched = httpx.get(location)
    assert fetched.status_code == 200 and fetched.content[:2] == b"\x1f\x8b"   # the archive
