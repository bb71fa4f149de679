"""Terrakube jobs and templates in DynamoDB. Jobs: GetItem by id; page N of a workspace's
(by_workspace_seq) and of an organization's (by_org_seq); the oldest job waiting for its
workspace (pending_by_workspace, Limit 1). Templates: GetItem by id; an organization's by name
(by_org_name)."""
from __future__ import annotations

import json

from ..domain.identity import Organization
from ..domain.jobs import JOB_FINAL, Job, JobStatus, Step
from ..domain.tcl import Template
from ..domain.workspaces import Workspace
from . import base, identity, paging, workspaces
from .models import JobModel as Model
from .models import OrganizationModel, TemplateModel, WorkspaceModel


def _from(item: Model) -> Job:
    return Job(id=item.id, workspace_id=item.workspace_id, org=item.org, cv_id=item.cv_id,
               seq=int(item.seq), org_seq=int(item.org_seq or 0), created_at=item.created_at,
               steps=[Step.from_dict(s) for s in json.loads(item.steps_json)],
               status=JobStatus(item.status), tcl=item.tcl,
               template_reference=item.template_reference, created_by=item.created_by,
               updated_at=item.updated_at, cancel_requested_at=item.cancel_requested_at,
               approval_token=item.approval_token,
               approval_step=int(item.approval_step) if item.approval_step is not None else None,
               has_changes=bool(item.has_changes), comments=item.comments, via=item.via,
               delete_requested=bool(item.delete_requested), version=item.version)


def item_of(job: Job) -> Model:
    item = Model(
        id=job.id, workspace_id=job.workspace_id, org=job.org, cv_id=job.cv_id, seq=job.seq,
        org_seq=job.org_seq, queue_ws=job.workspace_id if job.status == JobStatus.PENDING else None,
        status=job.status.value, steps_json=json.dumps([s.to_dict() for s in job.steps]),
        tcl=job.tcl, template_reference=job.template_reference, created_at=job.created_at,
        created_by=job.created_by, updated_at=job.updated_at,
        cancel_requested_at=job.cancel_requested_at, approval_token=job.approval_token,
        approval_step=job.approval_step, has_changes=job.has_changes, comments=job.comments,
        via=job.via, delete_requested=job.delete_requested,
        **base.lease_index(*(step.lease for step in job.steps)))
    if job.version is not None:
        item.version = job.version
    return item


def unfinished_at_start() -> list[Job]:
    return base.unfinished_at_start(Model, _from, JOB_FINAL)


def overdue_lease_ids(now: float, limit: int = 100) -> list[str]:
    return base.overdue_lease_ids(Model, now, limit)


def find(job_id: str) -> Job | None:
    return base.find(Model, _from, job_id)


def insert(ws: Workspace, organization: Organization, build) -> Job:
    """Numbered twice in one transaction: in its workspace and in its organization."""
    job, item = base.insert_in_sequence(
        [(workspaces.item_of(ws), WorkspaceModel.job_seq),
         (identity.org_item(organization), OrganizationModel.job_seq)], build, item_of)
    job.version = item.version
    return job


def save(job: Job, expected: JobStatus | None = None) -> None:
    """Conditional on the status read and the version read: nobody changed the job since (a
    worker finishing a step cannot overwrite a cancel or a rejection)."""
    item = item_of(job)
    base.save(item, Model.status, (expected or job.status).value, f"job {job.id}")
    job.version = item.version


def delete(job: Job) -> None:
    with base.conditional(f"job {job.id} changed concurrently"):
        item_of(job).delete()     # pynamodb adds `version = <read>` to the condition


def page(workspace_id: str, total: int, number: int, size: int) -> list[Job]:
    """Jobs keep their dense seq after a delete: a page may hold fewer than `size`."""
    return paging.page_by_seq(Model.by_workspace, workspace_id, Model.seq, total, number, size, _from)


def org_page(org: str, total: int, number: int, size: int) -> list[Job]:
    return paging.page_by_seq(Model.by_org, org, Model.org_seq, total, number, size, _from)


def oldest_pending(workspace_id: str) -> Job | None:
    return base.first(Model.pending.query(workspace_id, limit=1, scan_index_forward=True),
                      lambda item: find(item.id))


# -- templates ------------------------------------------------------------------------------------

def _template_from(item: TemplateModel) -> Template:
    return Template(id=item.id, org=item.org, name=item.name, tcl=item.tcl,
                    created_at=item.created_at, updated_at=item.updated_at,
                    description=item.description, version=item.version)


def find_template(template_id: str) -> Template | None:
    return base.find(TemplateModel, _template_from, template_id)


def templates_of(org: str, name: str | None = None) -> list[Template]:
    condition = TemplateModel.name == name if name is not None else None
    return [_template_from(i) for i in TemplateModel.by_org_name.query(org, condition)]


def insert_template(template: Template) -> None:
    item = TemplateModel(**vars(template))
    with base.conditional("template id collision"):
        item.save(condition=TemplateModel.id.does_not_exist())


def update_template(template_id: str, values: dict, updated_at: str) -> Template:
    item = TemplateModel(id=template_id)
    actions = [getattr(TemplateModel, k).set(v) for k, v in values.items()]
    with base.conditional(f"template {template_id} was deleted concurrently"):
        item.update(actions=actions + [TemplateModel.updated_at.set(updated_at)],
                    condition=TemplateModel.id.exists())
    return _template_from(item)


def delete_template(template_id: str) -> None:
    TemplateModel(id=template_id).delete()
