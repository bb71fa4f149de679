"""Configuration-version statuses and transitions, without AWS."""
import pytest

from chalicelib.domain.configuration_versions import (TRANSITIONS, ConfigurationVersion,
                                                      CVStatus, source_for_clone_url)
from chalicelib.domain.errors import BadRequest, Conflict

T = "2026-01-01T00:00:00.000Z"


def cv(status=CVStatus.PENDING, **kw) -> ConfigurationVersion:
    return ConfigurationVersion(id="cv-abc", workspace_id="ws-x", org="o", seq=1, created_at=T,
                                status=status, **kw)


def test_every_documented_state_exists():
    assert {s.value for s in CVStatus} == {
        "pending", "fetching", "uploaded", "archived", "errored",
        "backing_data_soft_deleted", "backing_data_permanently_deleted"}
    assert set(TRANSITIONS) == set(CVStatus)


def test_upload_moves_pending_to_uploaded_with_timestamp():
    c = cv()
    move = c.mark_uploaded(T, blob_version="v1", size=10)
    assert (move.from_status, move.to_status) == (CVStatus.PENDING, CVStatus.UPLOADED)
    assert c.status_timestamps["uploaded-at"] == T and c.blob_version == "v1"


def test_errored_records_code_and_message_and_is_final():
    c = cv()
    c.mark_errored(T, code="not_gzip", message="nope")
    assert (c.error, c.error_message, c.status) == ("not_gzip", "nope", CVStatus.ERRORED)
    for attempt in (lambda: c.mark_uploaded(T, blob_version=None, size=1),
                    lambda: c.start_fetching(T)):
        with pytest.raises(Conflict):
            attempt()


def test_fetching_path():
    c = cv()
    c.start_fetching(T)
    c.mark_uploaded(T, blob_version=None, size=1)
    assert c.status == CVStatus.UPLOADED and "fetching-at" in c.status_timestamps


@pytest.mark.parametrize("status", [s for s in CVStatus if s != CVStatus.UPLOADED])
def test_archive_needs_uploaded(status):
    with pytest.raises(Conflict):
        cv(status).archive(T, is_current=False)


def test_archive_refuses_current_running_and_vcs_versions():
    with pytest.raises(Conflict, match="current"):
        cv(CVStatus.UPLOADED).archive(T, is_current=True)
    with pytest.raises(Conflict, match="runs in progress"):
        cv(CVStatus.UPLOADED, active_runs=1).archive(T, is_current=False)
    with pytest.raises(Conflict, match="VCS"):
        cv(CVStatus.UPLOADED, vcs=True).archive(T, is_current=False)
    c = cv(CVStatus.UPLOADED)
    c.archive(T, is_current=False)
    assert c.status == CVStatus.ARCHIVED and not c.downloadable


def test_backing_data_cycle_and_refusals_are_400s():
    c = cv(CVStatus.UPLOADED)
    with pytest.raises(BadRequest):
        c.soft_delete_backing_data(T, is_current=True)
    with pytest.raises(BadRequest):
        c.restore_backing_data(T)
    with pytest.raises(BadRequest):
        c.permanently_delete_backing_data(T)
    c.soft_delete_backing_data(T, is_current=False)
    assert c.status == CVStatus.BACKING_DATA_SOFT_DELETED and not c.downloadable
    c.restore_backing_data(T)
    assert c.status == CVStatus.UPLOADED
    c.soft_delete_backing_data(T, is_current=False)
    c.permanently_delete_backing_data(T)
    assert c.status == CVStatus.BACKING_DATA_PERMANENTLY_DELETED
    for attempt in (c.restore_backing_data, c.permanently_delete_backing_data):
        with pytest.raises(BadRequest):
            attempt(T)


def test_usable_for_runs():
    assert cv(CVStatus.UPLOADED).usable_for_runs
    assert not cv(CVStatus.ARCHIVED).usable_for_runs
    assert cv(CVStatus.ARCHIVED, vcs=True).usable_for_runs
    assert not cv(CVStatus.PENDING).usable_for_runs


def test_vcs_source_names_the_host_kind():
    assert source_for_clone_url("https://github.com/a/b.git") == "github"
    assert source_for_clone_url("git@gitlab.com:a/b.git") == "gitlab"
    assert source_for_clone_url("file:///srv/repo") == "tfe-api"
