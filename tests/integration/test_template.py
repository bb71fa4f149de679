"""The deployable template: chalice package merged with infra/resources.yaml and overlaid by
deploy/template.py; cfn-lint (offline) accepts it. The resource types moto's CloudFormation
accepts without creating (test_deploy.EMULATOR_GAPS) are checked here, on the template as
CloudFormation receives it (translated from SAM)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.deploy import permissions, sam, template


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = Path(template.build_template(str(tmp_path_factory.mktemp("t") / "deploy.json")))
    return out, json.loads(out.read_text())


@pytest.fixture(scope="module")
def translated(built):
    return sam.translate(built[1], "artefacts", "code/x.zip", {"Prefix": "zeta"})["Resources"]


def _functions(resources):
    return {n: b for n, b in resources.items() if b["Type"] == "AWS::Serverless::Function"}


def test_cfn_lint_accepts_the_template(built):
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(built[0])],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_runner_holds_no_key_and_runs_once(built, translated):
    resources = built[1]["Resources"]
    runner = [b for b in _functions(resources).values() if b["Properties"]["Handler"] == "app.run_phase"]
    assert len(runner) == 1
    props = runner[0]["Properties"]
    assert props["Role"] == {"Fn::GetAtt": ["RunnerRole", "Arn"]} and "Policies" not in props
    variables = props["Environment"]["Variables"]
    assert not [k for k in variables if "SECRET" in k or "TOKEN" in k or "KEY" in k]
    assert variables["TERRALESS_ROLE"] == "runner"
    assert props["EphemeralStorage"]["Size"] >= 2048
    # an asynchronous invocation is not retried: a phase runs once (a lost one errors by its lease)
    invoke_config = [b for b in translated.values() if b["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert len(invoke_config) == 1 and invoke_config[0]["Properties"]["MaximumRetryAttempts"] == 0
    assert invoke_config[0]["Properties"]["FunctionName"] == {"Ref": "Runner"}


def test_privileged_functions_find_keys_by_reference_and_hand_phases_to_the_runner(built):
    resources = built[1]["Resources"]
    for name, body in _functions(resources).items():
        if body["Properties"]["Handler"] == "app.run_phase":
            continue
        env = body["Properties"]["Environment"]["Variables"]
        assert env["TERRALESS_SIGNING_SECRET_ARN"] == {"Ref": "SigningSecret"}, name
        assert "TERRALESS_SIGNING_SECRET" not in env
        assert env["TERRALESS_EXECUTOR"] == "lambda"
        assert env["TERRALESS_RUNNER_FUNCTION"] == {"Ref": "Runner"}
        assert env["TERRALESS_PREFIX"] == {"Ref": "Prefix"}
        assert env["TERRALESS_PUBLIC_URL"] == {"Ref": "PublicUrl"}
    # the signing key is generated into the secret store, never a template value
    secret = resources["SigningSecret"]["Properties"]
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32 and "SecretString" not in secret


def test_the_api_is_a_function_url_at_the_host_root(built, translated):
    resources = built[1]["Resources"]
    assert "RestAPI" not in resources and "APIHandler" not in resources
    urls = [b for b in translated.values() if b["Type"] == "AWS::Lambda::Url"]
    assert len(urls) == 1
    assert urls[0]["Properties"]["TargetFunctionArn"] == {"Ref": "Http"}
    assert urls[0]["Properties"]["AuthType"] == "NONE"      # the app authenticates every route
    public = [b for b in translated.values() if b["Type"] == "AWS::Lambda::Permission"
              and b["Properties"]["Action"] == "lambda:InvokeFunctionUrl"]
    assert len(public) == 1 and public[0]["Properties"]["FunctionUrlAuthType"] == "NONE"
    assert resources["Http"]["Properties"]["Handler"] == "app.serve_function_url"


def test_only_the_stack_bucket_may_send_upload_events(translated):
    policy = [b for b in translated.values() if b["Type"] == "AWS::SQS::QueuePolicy"]
    assert len(policy) == 1
    statement, = policy[0]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    bucket_name = translated["BlobsBucket"]["Properties"]["BucketName"]
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source[1]["Bucket"] == bucket_name     # the same expression names the same bucket


def test_least_privilege_per_function(built):
    resources = built[1]["Resources"]
    roles = {template.function_name(b): b["Properties"]["Role"]["Fn::GetAtt"][0]
             for b in _functions(resources).values()}
    for name, role in roles.items():
        if name == "runner":
            continue
        statements = [s for p in resources[role]["Properties"]["Policies"]
                      for s in p["PolicyDocument"]["Statement"]]
        actions = {a for s in statements for a in s["Action"]}
        assert actions == permissions.actions(name)
        for stmt in statements:
            # "*" only where AWS knows no resource: task tokens
            if stmt["Resource"] == "*":
                assert set(stmt["Action"]) <= {"states:SendTaskSuccess", "states:SendTaskFailure"}
            if "iam:PassRole" in stmt["Action"]:
                assert stmt["Resource"] == {"Fn::GetAtt": ["RunStateMachineRole", "Arn"]}
        # the runner is invoked only by the functions that prepare phases; only the API
        # creates job flows (and passes their role); DLQ readers and schedules hold no key
        invokes = "lambda:InvokeFunction" in actions
        assert invokes == (name in ("on_plan_task", "on_apply_task", "on_job_step")), name
        assert ("iam:PassRole" in actions) == (name == "http"), name
        if "dead_letter" in name or name in ("purge_backing_data", "poll_consul", "fire_task_schedules"):
            assert not {"secretsmanager:GetSecretValue", "kms:Decrypt", "kms:GenerateDataKey"} & actions


def test_the_dev_stack_identity_holds_exactly_the_union_of_the_functions_grants():
    """The emulator enforces .chalice/policy.json on the dev stack's one identity (every
    function of it runs there): it is the union, so a grant missing from a function's list
    fails the end-to-end tests too."""
    policy = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "policy.json").read_text())
    dev = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    union = set().union(*(permissions.actions(name) for name in permissions.FUNCTIONS))
    assert dev == union
