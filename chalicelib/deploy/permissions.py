"""What each deployed function may call: one role per function, granting only its own needs.

Every grant names the stack's own resources (by Ref / GetAtt or the stack's `${Prefix}-`
names) — never another stack's. `tests/integration/test_function_permissions.py` records the
AWS calls each handler makes through a whole workflow under the emulator and checks them against
these grants both ways: nothing called is missing, nothing granted goes unused (but the event
source mapping's own reads of the function's queue, which Lambda makes with the function's role).
The dev stack's single identity holds the union (.chalice/policy.json; a unit test keeps the two
in step), which the emulator enforces in the end-to-end tests.
"""
from __future__ import annotations

# -- capabilities: IAM actions and the resources they apply to ------------------------------------

_TABLES = [{"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Prefix}-*"},
           {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Prefix}-*/index/*"}]
_BUCKET = [{"Fn::GetAtt": ["BlobsBucket", "Arn"]},
           {"Fn::Sub": ["${Arn}/*", {"Arn": {"Fn::GetAtt": ["BlobsBucket", "Arn"]}}]}]
_RUN_MACHINE = {"Ref": "RunStateMachine"}
_FLOW_MACHINES = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${Prefix}-job-flow-*"}
_EXECUTIONS = [{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Prefix}-runs:*"},
               {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Prefix}-job-flow-*:*"}]

CAPABILITIES: dict[str, list[tuple[list[str], object]]] = {
    # (no ConditionCheckItem, no DescribeTable: the code calls neither; a transaction is
    # authorized by its items' own actions)
    "read-items": [(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], _TABLES)],
    "write-items": [(["dynamodb:PutItem", "dynamodb:UpdateItem"], _TABLES)],
    "delete-items": [(["dynamodb:DeleteItem"], _TABLES)],
    "read-blobs": [(["s3:GetObject", "s3:GetObjectVersion"], _BUCKET)],
    "write-blobs": [(["s3:PutObject"], _BUCKET)],
    "delete-blobs": [(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListBucketVersions",
                       "s3:ListBucket"], _BUCKET)],
    "start-runs": [(["states:StartExecution"], _RUN_MACHINE)],
    "stop-runs": [(["states:StopExecution"], _EXECUTIONS)],
    # task tokens carry no resource ARN: AWS authorizes these on "*" only
    "succeed-tasks": [(["states:SendTaskSuccess"], "*")],
    "fail-tasks": [(["states:SendTaskFailure"], "*")],
    "job-flows": [(["states:DescribeStateMachine"], [_RUN_MACHINE, _FLOW_MACHINES]),
                  (["states:CreateStateMachine", "states:StartExecution"], _FLOW_MACHINES)],
    "signing-key": [(["secretsmanager:GetSecretValue"], {"Ref": "SigningSecret"})],
    "seal": [(["kms:GenerateDataKey"], {"Fn::GetAtt": ["VariablesKey", "Arn"]})],
    "open": [(["kms:Decrypt"], {"Fn::GetAtt": ["VariablesKey", "Arn"]})],
    "invoke-runner": [(["lambda:InvokeFunction"], {"Fn::GetAtt": ["Runner", "Arn"]})],
}


def _queue(logical: str) -> dict:
    return {"Fn::GetAtt": [logical, "Arn"]}


def send(*queues: str) -> list[tuple[list[str], object]]:
    return [(["sqs:SendMessage", "sqs:GetQueueUrl"], [_queue(q) for q in queues])]


def consume(queue: str) -> list[tuple[list[str], object]]:
    """What the event source mapping needs of the function's own queue (Lambda polls with the
    function's role); failed records are made visible again by the handler's batch response."""
    return [(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
              "sqs:ChangeMessageVisibility"], _queue(queue))]


# -- the functions ---------------------------------------------------------------------------------

READ_WRITE = ("read-items", "write-items")
# prepare a phase and hand it to the runner; end a task whose run was canceled while it was
# queued; error a phase whose runner cannot start (its log archived, the next run started)
PHASE = READ_WRITE + ("signing-key", "invoke-runner", "succeed-tasks", "fail-tasks",
                      "write-blobs", "start-runs")
FUNCTIONS: dict[str, dict] = {
    # the API: every route; it signs URLs and credentials, seals variables and saved plans,
    # starts and stops runs and job flows, completes confirmations and approvals
    "http": {"capabilities": READ_WRITE + (
        "delete-items", "read-blobs", "write-blobs", "delete-blobs", "start-runs", "stop-runs",
        "succeed-tasks", "fail-tasks", "job-flows", "signing-key", "seal", "open"),
        "send": ("FetchesQueue", "TaskTriggersQueue"), "pass-role": True},
    "on_upload_event": {"capabilities": READ_WRITE + ("read-blobs", "start-runs"),
                        "consume": "UploadsQueue"},
    "on_fetch_request": {"capabilities": READ_WRITE + ("write-blobs",), "consume": "FetchesQueue"},
    "on_plan_task": {"capabilities": PHASE, "consume": "PlansQueue"},
    "on_apply_task": {"capabilities": PHASE, "consume": "AppliesQueue"},
    "on_job_step": {"capabilities": PHASE, "consume": "JobStepsQueue"},
    "on_run_event": {"capabilities": READ_WRITE + ("start-runs", "succeed-tasks", "fail-tasks"),
                     "consume": "RunEventsQueue"},
    "on_job_event": {"capabilities": READ_WRITE + ("succeed-tasks", "fail-tasks"),
                     "consume": "JobEventsQueue"},
    "on_plan_dead_letter": {"capabilities": READ_WRITE + ("start-runs", "fail-tasks"),
                            "consume": "PlansDeadLetterQueue"},
    "on_apply_dead_letter": {"capabilities": READ_WRITE + ("start-runs", "fail-tasks"),
                             "consume": "AppliesDeadLetterQueue"},
    "on_job_step_dead_letter": {"capabilities": READ_WRITE + ("fail-tasks",),
                                "consume": "JobStepsDeadLetterQueue"},
    # no signing key: the configuration version a trigger makes is written here, never
    # handed out with an upload URL
    "on_task_trigger_check": {"capabilities": READ_WRITE + (
        "read-blobs", "write-blobs", "start-runs"),
        "consume": "TaskTriggersQueue", "send": ("TaskTriggersQueue",)},
    "purge_backing_data": {"capabilities": READ_WRITE + ("delete-blobs",)},
    "sweep_lost_phases": {"capabilities": READ_WRITE + ("start-runs", "fail-tasks")},
    "fire_task_schedules": {"capabilities": READ_WRITE, "send": ("TaskTriggersQueue",)},
    "poll_consul": {"capabilities": READ_WRITE, "send": ("TaskTriggersQueue",)},
    # tenant code runs here: its own logs only (infra/resources.yaml, RunnerRole)
    "runner": {"capabilities": ()},
}


def statements(function: str) -> list[dict]:
    """The IAM statements of one function's role (its log group first)."""
    spec = FUNCTIONS[function]
    out: list[dict] = [{"Effect": "Allow",
                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                     "${AWS::AccountId}:log-group:/aws/lambda/${Prefix}-" + function + ":*"}}]
    grants: list[tuple[list[str], object]] = []
    for capability in spec["capabilities"]:
        grants += CAPABILITIES[capability]
    if spec.get("send"):
        grants += send(*spec["send"])
    if spec.get("consume"):
        grants += consume(spec["consume"])
    for actions, resource in grants:
        out.append({"Effect": "Allow", "Action": list(actions), "Resource": resource})
    if spec.get("pass-role"):
        # job flows are created with the run state machine's role: that role, to that service
        out.append({"Effect": "Allow", "Action": ["iam:PassRole"],
                    "Resource": {"Fn::GetAtt": ["RunStateMachineRole", "Arn"]},
                    "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}})
    return out


def actions(function: str) -> set[str]:
    return {a for stmt in statements(function) for a in stmt["Action"]}
