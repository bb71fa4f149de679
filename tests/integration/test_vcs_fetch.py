"""VCS fetches without a git binary: dulwich fetches over a real git smart-HTTP server (dulwich's
own), the archive is written from the commit's tree, and hostile clone URLs are refused before
any connection is made."""
import io
import os
import tarfile
import threading
from wsgiref.simple_server import WSGIRequestHandler

import pytest

from conftest import git, git_commit
from chalicelib.services import vcs


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def git_server(tmp_path):
    """Serves tmp_path/repo over git's smart HTTP protocol; records the paths requested."""
    from dulwich.repo import Repo
    from dulwich.server import DictBackend
    from dulwich.web import make_server, make_wsgi_chain
    repo_dir = tmp_path / "repo"
    git_commit(repo_dir, {"main.tf": 'output "v" { value = 1 }\n'}, "first")
    requests: list[str] = []
    chain = make_wsgi_chain(DictBackend({"/repo": Repo(str(repo_dir))}))

    def app(environ, start_response):
        requests.append(environ["PATH_INFO"])
        return chain(environ, start_response)
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield repo_dir, f"http://127.0.0.1:{server.server_port}/repo", requests
    server.shutdown()
    server.server_close()


def _members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _read(archive: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.extractfile(name).read().decode()


def test_fetch_over_http_needs_no_git_binary(git_server, monkeypatch, tmp_path):
    repo, url, _ = git_server
    (repo / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "run.sh", 0o755)
    (repo / "link.tf").symlink_to("main.tf")
    sha = git_commit(repo, {"modules/a/main.tf": "# nested\n"}, "second")
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))       # as in Lambda's image: no git to run
    archive, fetched = vcs.fetch_archive(url, commit=None, branch=None)
    assert fetched == sha
    members = _members(archive)
    assert sorted(members) == ["link.tf", "main.tf", "modules/a/main.tf", "run.sh"]
    assert members["run.sh"].mode == 0o755 and members["main.tf"].mode == 0o644
    assert members["link.tf"].issym() and members["link.tf"].linkname == "main.tf"
    assert _read(archive, "modules/a/main.tf") == "# nested\n"


def test_branch_commit_and_tag_pick_what_they_name(git_server):
    repo, url, _ = git_server
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1", "-m", "release 1")
    git(repo, "checkout", "-q", "-b", "feature")
    feature = git_commit(repo, {"main.tf": 'output "v" { value = 2 }\n'}, "on feature")
    git(repo, "checkout", "-q", "main")
    main = git_commit(repo, {"main.tf": 'output "v" { value = 3 }\n'}, "on main")
    cases = {(None, None): (main, "3"), (None, "feature"): (feature, "2"),
             (first, None): (first, "1"), ("v1", None): (first, "1"), (feature, "main"): (feature, "2")}
    for (commit, branch), (sha, value) in cases.items():
        archive, fetched = vcs.fetch_archive(url, commit=commit, branch=branch)
        assert fetched == sha, (commit, branch)
        assert f"value = {value}" in _read(archive, "main.tf")


@pytest.mark.parametrize("commit,branch,says", [
    (None, "nope", "no branch nope"), ("0" * 40, None, "no commit"), ("v9", None, "no commit v9")])
def test_missing_commit_or_branch_fails_clearly(git_server, commit, branch, says):
    _, url, _ = git_server
    with pytest.raises(vcs.FetchFailed, match=says):
        vcs.fetch_archive(url, commit=commit, branch=branch)


def test_submodules_are_left_out_and_size_is_capped(git_server):
    repo, url, _ = git_server
    inner = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{inner},vendored")
    git(repo, "commit", "-qm", "a submodule")
    archive, _ = vcs.fetch_archive(url, commit=None, branch=None)
    assert sorted(_members(archive)) == ["main.tf"]
    git_commit(repo, {"big.tf": "#" * 5000}, "big")
    with pytest.raises(vcs.FetchFailed, match="larger than 4096 bytes"):
        vcs.fetch_archive(url, commit=None, branch=None, max_unpacked_bytes=4096)


@pytest.mark.parametrize("url", [
    "file:///tmp", "/tmp/repo", "http://{local}/repo", "http://localhost:1/repo",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]:1/repo", "http://10.0.0.1/repo",
    "ssh://git@example.com/repo.git", "git@example.com:org/repo.git", "ext::sh -c touch% /tmp/x",
    "-uhttps://example.com/repo", "https:///no-host", "https://exa\nmple.com/repo"])
def test_hostile_clone_urls_are_refused_before_any_request(git_server, monkeypatch, url):
    _, served, requests = git_server
    monkeypatch.delenv("TERRALESS_ALLOW_LOCAL_REPOS", raising=False)
    url = url.format(local=served.split("/")[2])
    with pytest.raises(vcs.FetchFailed):
        vcs.fetch_archive(url, commit=None, branch=None)
    assert requests == []


def test_a_token_in_the_clone_url_never_reaches_the_error(git_server):
    _, served, _ = git_server
    url = served.replace("http://", "http://user:s3cr3t-token@").replace("/repo", "/missing")
    with pytest.raises(vcs.FetchFailed) as failed:
        vcs.fetch_archive(url, commit=None, branch=None)
    message = str(failed.value)          # the message quotes the URL, without its user part
    assert message.startswith("no git repository at http://***@") and "s3cr3t-token" not in message
