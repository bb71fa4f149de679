"""`terraless deploy` / `destroy` against an emulator's CloudFormation (moto_server by endpoint):
the template, translated from SAM here, creates; two prefixes coexist; the created resources
keep the invariants AWS would otherwise refuse or break on; destroy removes what deploy and the
service made and keeps the data unless told."""
import ast
import hashlib
import json
import os
import subprocess
import sys

import boto3
import pytest

from chalicelib.deploy import permissions, stack, template

# AWS types moto 5.2's CloudFormation accepts without creating; each has its check in
# test_template.py (and the README names them)
EMULATOR_GAPS = ["AWS::Lambda::EventInvokeConfig", "AWS::Lambda::Url", "AWS::SQS::QueuePolicy",
                 "AWS::SecretsManager::Secret"]


@pytest.fixture(scope="module")
def deployed(emulator):
    return {prefix: stack.deploy(prefix) for prefix in ("alpha", "beta")}


def _resources(prefix):
    cfn = boto3.client("cloudformation")
    return cfn.get_paginator("list_stack_resources").paginate(StackName=prefix).build_full_result()[
        "StackResourceSummaries"]


def test_both_stacks_create_every_resource_the_emulator_can(deployed):
    for prefix, done in deployed.items():
        assert done.status == "CREATE_COMPLETE"
        resources = [r for r in _resources(prefix) if r["LogicalResourceId"]]
        assert {r["ResourceStatus"] for r in resources} == {"CREATE_COMPLETE"}
        assert done.resources == len(resources) > 90
        assert done.not_created == EMULATOR_GAPS
        translated_types = {r["ResourceType"] for r in resources}
        assert not translated_types & set(EMULATOR_GAPS)


def test_names_carry_their_stack_prefix_and_the_stacks_share_none(deployed):
    names = {}
    for prefix in deployed:
        physical = {r["PhysicalResourceId"] for r in _resources(prefix)
                    if r["ResourceType"] in ("AWS::DynamoDB::Table", "AWS::Lambda::Function",
                                             "AWS::StepFunctions::StateMachine", "AWS::S3::Bucket")}
        queues = {r["PhysicalResourceId"].rsplit("/", 1)[-1] for r in _resources(prefix)
                  if r["ResourceType"] == "AWS::SQS::Queue"}
        names[prefix] = {n.rsplit(":", 1)[-1] for n in physical} | queues
        assert len(names[prefix]) > 50
        assert all(n.startswith(f"{prefix}-") for n in names[prefix]), sorted(names[prefix])
    assert not names["alpha"] & names["beta"]
    functions = boto3.client("lambda").list_functions()["Functions"]
    for prefix in deployed:
        mine = [f for f in functions if f["FunctionName"].startswith(f"{prefix}-")]
        assert len(mine) == 17
        # every function's environment names its own stack's resources
        for function in mine:
            env = function["Environment"]["Variables"]
            assert env["TERRALESS_PREFIX"] == prefix
            if function["FunctionName"] != f"{prefix}-runner":
                assert env["TERRALESS_BLOBS_BUCKET"] == f"{prefix}-123456789012-us-east-1-blobs"
                assert env["TERRALESS_RUNNER_FUNCTION"] == f"{prefix}-runner"


def test_each_stack_has_its_run_state_machine_wired_to_its_own_queues(deployed):
    sfn, sqs = boto3.client("stepfunctions"), boto3.client("sqs")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for prefix in deployed:
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=machines[f"{prefix}-runs"])["definition"])
        # a queue URL's host is the endpoint's; its path (account/name) names the queue
        sent_to = {state["Parameters"]["QueueUrl"].split("/", 3)[-1] for state in definition["States"].values()
                   if state.get("Resource", "").startswith("arn:aws:states:::sqs:sendMessage")}
        assert sent_to == {sqs.get_queue_url(QueueName=f"{prefix}-{name}")["QueueUrl"].split("/", 3)[-1]
                           for name in ("plans", "applies", "run-events")}, sent_to


def test_every_queue_a_function_consumes_outlasts_six_function_timeouts(deployed):
    """Measured on the created resources: Lambda refuses a mapping whose queue's visibility
    timeout is shorter than the function's timeout (AWS advises six times)."""
    lam, sqs = boto3.client("lambda"), boto3.client("sqs")
    for prefix in deployed:
        mappings = [m for m in lam.list_event_source_mappings()["EventSourceMappings"]
                    if f":{prefix}-" in m["EventSourceArn"]]
        assert len(mappings) == 11
        for mapping in mappings:
            function = lam.get_function_configuration(FunctionName=mapping["FunctionArn"])
            queue = sqs.get_queue_url(QueueName=mapping["EventSourceArn"].rsplit(":", 1)[-1])["QueueUrl"]
            visibility = int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])[
                "Attributes"]["VisibilityTimeout"])
            assert visibility >= 6 * function["Timeout"], (mapping["EventSourceArn"], function["Timeout"])
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_each_function_has_a_role_of_its_own_with_its_grants(deployed):
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    roles = {}
    for function in lam.list_functions()["Functions"]:
        if function["FunctionName"].startswith("alpha-"):
            roles[function["FunctionName"][len("alpha-"):]] = function["Role"].rsplit("/", 1)[-1]
    assert set(roles) == set(permissions.FUNCTIONS)
    assert len(set(roles.values())) == len(roles)       # not one role shared
    for name, role in roles.items():
        documents = [iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"]
                     for p in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        # moto's CloudFormation stores an inline policy as the Python text of its dict
        documents = [ast.literal_eval(d) if isinstance(d, str) else d for d in documents]
        granted = {a for d in documents for s in d["Statement"] for a in
                   ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert granted == permissions.actions(name), name
        text = json.dumps(documents)
        assert "beta" not in text       # nothing of the other stack


def test_the_first_site_admin_token_is_printed_once_and_belongs_to_its_stack(deployed):
    ddb = boto3.client("dynamodb")
    for prefix, done in deployed.items():
        other = "beta" if prefix == "alpha" else "alpha"
        key = {"token_hash": {"S": hashlib.sha256(done.admin_token.encode()).hexdigest()}}
        assert "Item" in ddb.get_item(TableName=f"{prefix}-tokens", Key=key)
        assert "Item" not in ddb.get_item(TableName=f"{other}-tokens", Key=key)
    again = stack.deploy("alpha")
    assert again.status in ("UPDATE_COMPLETE", "CREATE_COMPLETE") and again.admin_token is None


def test_a_bad_prefix_is_refused_before_anything_is_made(emulator):
    for prefix in ("UPPER", "a", "x" * 25, "-lead", "a_b", "../x"):
        done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "deploy", "--prefix", prefix],
                              capture_output=True, text=True, env=os.environ)
        assert done.returncode == 2, (prefix, done.stderr)
    assert not [s for s in boto3.client("cloudformation").list_stacks()["StackSummaries"]
                if s["StackName"] not in ("alpha", "beta")]


def test_destroy_removes_what_deploy_and_the_service_made_and_keeps_data(deployed):
    sfn, logs, ddb = boto3.client("stepfunctions"), boto3.client("logs"), boto3.client("dynamodb")
    role = boto3.client("iam").list_roles()["Roles"][0]["Arn"]
    # what the service makes at run time: a job flow's state machine, its functions' log groups
    sfn.create_state_machine(name="alpha-job-flow-0123abcd", roleArn=role, definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))
    logs.create_log_group(logGroupName="/aws/lambda/alpha-http")
    logs.create_log_group(logGroupName="/aws/lambda/beta-http")
    done = stack.destroy("alpha")
    assert "state machine alpha-job-flow-0123abcd" in done["removed"]
    assert "log group /aws/lambda/alpha-http" in done["removed"]
    assert stack._stack_status(boto3.client("cloudformation"), "alpha") is None
    assert not [m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith("alpha-")]
    # the data stays (and says so): tables, the blobs bucket, the key
    assert "AWS::DynamoDB::Table alpha-tokens" in done["retained"]
    assert ddb.describe_table(TableName="alpha-tokens")["Table"]["TableStatus"] == "ACTIVE"
    # the other stack is untouched
    assert stack._stack_status(boto3.client("cloudformation"), "beta") == "CREATE_COMPLETE"
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/beta-")["logGroups"]
    gone = stack.destroy("beta", delete_data=True)
    assert not gone["retained"]
    assert not [t for t in ddb.list_tables()["TableNames"] if t.startswith("beta-")]
    assert "alpha-tokens" in ddb.list_tables()["TableNames"]


def test_the_checker_finds_a_queue_shorter_than_its_function(tmp_path):
    built = json.loads(open(template.build_template(str(tmp_path / "t.json"))).read())
    assert template.invariants(built) == []
    built["Resources"]["PlansQueue"]["Properties"]["VisibilityTimeout"] = 300
    built["Resources"]["Http"]["Properties"]["Environment"]["Variables"]["X"] = "terraless-blobs"
    problems = template.invariants(built)
    assert any(p.startswith("PlansQueue: visibility timeout 300 s < 6 x") for p in problems)
    assert any("does not carry the prefix" in p for p in problems)
