"""Configuration versions: the statuses of the HCP Terraform reference and the moves between them.

Every move goes through `LIFECYCLE` (domain/lifecycle.py), which refuses anything not in
`TRANSITIONS`; storage then writes the entity on the condition that the stored status is still
`from_status` of the returned `Transition` and the version is the one read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .errors import BadRequest, Conflict
from .lifecycle import Lifecycle, Transition, WorkspaceItem


# Clients known to PUT an upload URL without an Authorization header, which real S3 refuses
# next to a presigned signature: they get a presigned S3 URL in the "auto" upload mode (no size
# cap but S3's), the others the archivist endpoint. Checked against the client's code:
# pytfe uploads with an httpx client that holds no token (pytfe 1.5.0); OpenTofu (1.12, both
# its cloud and remote backends) through go-tfe 1.101's UploadTarGzip, a "foreign" PUT that
# sends no Authorization header. Terraform 1.0.3 and terrasnek send their token there.
UPLOADS_WITHOUT_TOKEN = ("pytfe/", "OpenTofu/")


def uploads_without_token(user_agent: str | None) -> bool:
    return bool(user_agent) and user_agent.startswith(UPLOADS_WITHOUT_TOKEN)


class CVStatus(str, Enum):
    PENDING = "pending"
    FETCHING = "fetching"
    UPLOADED = "uploaded"
    ARCHIVED = "archived"
    ERRORED = "errored"
    BACKING_DATA_SOFT_DELETED = "backing_data_soft_deleted"
    BACKING_DATA_PERMANENTLY_DELETED = "backing_data_permanently_deleted"


TRANSITIONS: dict[CVStatus, frozenset[CVStatus]] = {
    # API uploads go pending -> uploaded|errored; VCS-style versions (created with a clone URL)
    # pass through fetching while a worker clones the repository.
    CVStatus.PENDING: frozenset({CVStatus.FETCHING, CVStatus.UPLOADED, CVStatus.ERRORED}),
    CVStatus.FETCHING: frozenset({CVStatus.UPLOADED, CVStatus.ERRORED}),
    CVStatus.UPLOADED: frozenset({CVStatus.ARCHIVED, CVStatus.BACKING_DATA_SOFT_DELETED}),
    # A VCS-style archived version is fetched again when a run needs it.
    CVStatus.ARCHIVED: frozenset({CVStatus.FETCHING}),
    CVStatus.BACKING_DATA_SOFT_DELETED: frozenset(
        {CVStatus.UPLOADED, CVStatus.BACKING_DATA_PERMANENTLY_DELETED}),
    CVStatus.ERRORED: frozenset(),
    CVStatus.BACKING_DATA_PERMANENTLY_DELETED: frozenset(),
}
LIFECYCLE = Lifecycle("configuration version", TRANSITIONS)

SOURCE_API = "tfe-api"
# VCS-style versions are fetched by Terraless from a clone URL; `source` names the host kind
# with the values clients know (pytfe's ConfigurationSource).
VCS_SOURCES = {"github": "github", "gitlab": "gitlab", "bitbucket": "bitbucket",
               "dev.azure.com": "ado", "visualstudio.com": "ado"}


def source_for_clone_url(url: str) -> str:
    lowered = url.lower()
    return next((source for host, source in VCS_SOURCES.items() if host in lowered), SOURCE_API)


@dataclass(kw_only=True)
class ConfigurationVersion(WorkspaceItem):
    status: CVStatus = CVStatus.PENDING
    source: str = SOURCE_API
    speculative: bool = False
    provisional: bool = False
    auto_queue_runs: bool = True
    status_timestamps: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_message: str | None = None
    ingress: dict | None = None
    blob_version: str | None = None
    size: int | None = None
    active_runs: int = 0
    vcs: bool = False
    purge_at: str | None = None    # when soft-deleted backing data is deleted for good

    @property
    def is_vcs(self) -> bool:
        return self.vcs

    @property
    def downloadable(self) -> bool:
        return self.status == CVStatus.UPLOADED

    @property
    def in_progress(self) -> bool:
        """Uploaded or being fetched, not yet validated: a run may wait for it."""
        return self.status in (CVStatus.PENDING, CVStatus.FETCHING)

    @property
    def usable_for_runs(self) -> bool:
        return self.status == CVStatus.UPLOADED or (self.is_vcs and self.status == CVStatus.ARCHIVED)

    def _move(self, to: CVStatus, at: str) -> Transition:
        return LIFECYCLE.move(self, to, at)

    def count_run(self, delta: int) -> None:
        """A run using this version started (+1) or ended (-1): archiving and backing-data
        deletion wait for none to be in progress."""
        self.active_runs = max(0, self.active_runs + delta)

    # -- upload / fetch --------------------------------------------------------------------
    def start_fetching(self, at: str) -> Transition:
        return self._move(CVStatus.FETCHING, at)

    def mark_uploaded(self, at: str, *, blob_version: str | None, size: int) -> Transition:
        move = self._move(CVStatus.UPLOADED, at)
        self.blob_version, self.size = blob_version, size
        self.error = self.error_message = None
        return move

    def mark_errored(self, at: str, *, code: str, message: str) -> Transition:
        move = self._move(CVStatus.ERRORED, at)
        self.error, self.error_message = code, message
        return move

    # -- archive ---------------------------------------------------------------------------
    def archive(self, at: str, *, is_current: bool) -> Transition:
        """Only API/CLI versions that are uploaded, have no run in progress and are not the
        workspace's current version (the reference answers 409 otherwise)."""
        if self.is_vcs:
            raise Conflict("configuration versions fetched from VCS are archived automatically")
        if self.status != CVStatus.UPLOADED:
            raise Conflict(f"configuration version is {self.status.value}, not uploaded")
        if self.active_runs > 0:
            raise Conflict("configuration version has runs in progress")
        if is_current:
            # HCP's words (go-tfe's tests look for both parts)
            raise Conflict("transition not allowed: configuration could not be archived because it is current")
        return self._move(CVStatus.ARCHIVED, at)

    # -- backing data (Terraform Enterprise; the reference answers 400 on refusal) -----------
    def soft_delete_backing_data(self, at: str, *, is_current: bool,
                                 purge_at: str | None = None) -> Transition:
        if self.is_vcs:
            raise BadRequest("only configuration versions created with the API or CLI qualify")
        if self.status != CVStatus.UPLOADED:
            raise BadRequest(f"configuration version is {self.status.value}, not uploaded")
        if is_current:
            raise BadRequest("configuration version is the workspace's current version")
        if self.active_runs > 0:
            raise BadRequest("configuration version has runs in progress")
        self.purge_at = purge_at
        return self._move(CVStatus.BACKING_DATA_SOFT_DELETED, at)

    def restore_backing_data(self, at: str) -> Transition:
        if self.status != CVStatus.BACKING_DATA_SOFT_DELETED:
            raise BadRequest(f"configuration version is {self.status.value}, "
                             "not backing_data_soft_deleted")
        self.purge_at = None
        return self._move(CVStatus.UPLOADED, at)

    def permanently_delete_backing_data(self, at: str) -> Transition:
        if self.status != CVStatus.BACKING_DATA_SOFT_DELETED:
            raise BadRequest(f"configuration version is {self.status.value}; only soft-deleted "
                             "backing data can be deleted permanently")
        self.purge_at = None
        return self._move(CVStatus.BACKING_DATA_PERMANENTLY_DELETED, at)
