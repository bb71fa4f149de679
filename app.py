"""Terraless: wires the blueprints and event handlers. Nothing else lives here."""
from chalice import Rate

from chalicelib.api import (agent_pools, agents, configuration_versions, console, discovery, function_url, jobs,
                            organizations, runner, runs, state_versions, tasks, users, variables,
                            workspaces)
from chalicelib.api.routing import ThreadSafeChalice, jsonapi_errors
from chalicelib.config import settings
from chalicelib.runner import main as runner_main
from chalicelib.services import configuration_versions as cv_service
from chalicelib.services import consul_poll, lost_phases, task_conditions
from chalicelib.wiring import wire
from chalicelib.workers import fetches, task_triggers, uploads
from chalicelib.workers import jobs as job_workers
from chalicelib.workers import runs as run_workers

wire()
app = ThreadSafeChalice(app_name="terraless")
# Archives arrive as application/octet-stream from most clients; curl's --data-binary default
# is form-encoded, and some tools say gzip. All of them must reach the view as raw bytes.
app.api.binary_types.extend(["application/x-www-form-urlencoded", "application/gzip",
                             "application/x-gzip", "application/x-tar"])

for blueprint in (discovery.bp, organizations.bp, users.bp, workspaces.bp,
                  configuration_versions.bp, runs.bp, state_versions.bp, tasks.bp, jobs.bp,
                  variables.bp, agent_pools.bp, agents.bp, console.bp, runner.bp):
    app.register_blueprint(blueprint)
app.register_middleware(jsonapi_errors, "http")


@app.on_sqs_message(queue=settings().queue("uploads"), batch_size=10)
def on_upload_event(event):
    return uploads.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("fetches"), batch_size=1)
def on_fetch_request(event):
    return fetches.handle(event.to_dict(), event.context)


# Terraform phases, one task at a time. On AWS these prepare the phase and hand it to the
# runner function; in the dev stack the local executor runs it inside the handler, so the
# dispatcher gives them worker processes (chalicelib/local/dispatch.py).
PHASE_HANDLERS = ("on_plan_task", "on_apply_task", "on_job_step")
@app.on_sqs_message(queue=settings().queue("plans"), batch_size=1)
def on_plan_task(event):
    return run_workers.handle_tasks(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("applies"), batch_size=1)
def on_apply_task(event):
    return run_workers.handle_tasks(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("run-events"), batch_size=10)
def on_run_event(event):
    return run_workers.handle_events(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("plans-dlq"), batch_size=10)
def on_plan_dead_letter(event):
    return run_workers.handle_dead_letters(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("applies-dlq"), batch_size=10)
def on_apply_dead_letter(event):
    return run_workers.handle_dead_letters(event.to_dict(), event.context)


# Soft-deleted backing data whose retention has passed is deleted for good.
@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_backing_data(event):
    return {"purged": cv_service.purge_due_backing_data()}


# Phases whose worker stopped heartbeating: their tasks are failed (the run or job errors).
# The dev stack ticks it more often (TERRALESS_SCHEDULE_EVERY).
@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_lost_phases(event):
    return {"lost": lost_phases.sweep()}


# Consul-Terraform-Sync schedule conditions (cron, minute granularity).
@app.schedule(Rate(1, unit=Rate.MINUTES))
def fire_task_schedules(event):
    return {"fired": task_conditions.fire_due_schedules()}


# Consul-Terraform-Sync conditions read from a Consul HTTP API when CONSUL_HTTP_ADDR is set.
@app.schedule(Rate(1, unit=Rate.MINUTES))
def poll_consul(event):
    return consul_poll.poll_and_schedule_within_the_minute()


@app.on_sqs_message(queue=settings().queue("task-triggers"), batch_size=10)
def on_task_trigger_check(event):
    return task_triggers.handle(event.to_dict(), event.context)


# Terrakube job steps (terraform, scripts): long-running like plans and applies.
@app.on_sqs_message(queue=settings().queue("job-steps"), batch_size=1)
def on_job_step(event):
    return job_workers.handle_steps(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("job-events"), batch_size=10)
def on_job_event(event):
    return job_workers.handle_events(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings().queue("job-steps-dlq"), batch_size=10)
def on_job_step_dead_letter(event):
    return job_workers.handle_dead_letters(event.to_dict(), event.context)


# The runner function (chalicelib/executor/aws_lambda.py): executes one phase with its phase's
# credential only; its role allows its own logs and nothing else (infra/resources.yaml).
@app.lambda_function(name="runner")
def run_phase(event, context):
    return runner_main.handler(event, context)


# The deployed API: a function URL at the host root (discovery where terraform looks for it,
# no 29 s cut), its payload translated for the routes above (chalicelib/api/function_url.py).
@app.lambda_function(name="http")
def serve_function_url(event, context):
    return function_url.handle(app, event, context)
