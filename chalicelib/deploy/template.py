"""The deployable template: `chalice package --merge-template infra/resources.yaml`, then the
settings Chalice cannot express.

- One prefix everywhere: Chalice writes the names the app computed at packaging time, so the
  app is packaged under a sentinel prefix and every string carrying it becomes `${Prefix}`
  (event source ARNs, environment); functions are named `${Prefix}-<function>`.
- One role per function with only that function's grants (deploy/permissions.py), replacing the
  policy Chalice copies to every role.
- The API is a function URL at the host root (api/function_url.py); Chalice's REST API, its
  handler and their role are dropped.
- The runner function: the logs-only RunnerRole, no retries of an asynchronous invocation (a
  phase runs once; a lost one errors by its lease), ephemeral storage for real providers.
- Partial batch responses on every SQS event source.
`invariants()` states what AWS would refuse or what would break, and `build_template` refuses
to write a template that breaks one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..executor import staging
from . import permissions

ROOT = Path(__file__).resolve().parents[2]
RUNNER_HANDLER = "app.run_phase"
URL_HANDLER = "app.serve_function_url"
# the prefix the app is packaged under; every name Chalice derives from it becomes ${Prefix}
SENTINEL = "tlxpackagingprefix"
# AWS: a queue's visibility timeout should be at least six times its function's timeout
VISIBILITY_FACTOR = 6
RUNNER_EPHEMERAL_MB = 4096      # the AWS provider alone unpacks to ~450 MB; plans and state too
_REST_API_PARTS = ("RestAPI", "APIHandler", "APIHandlerInvokePermission", "ApiHandlerRole")


def function_name(body: dict) -> str:
    """The Chalice function name of a function resource (its handler, the two named ones)."""
    handler = body["Properties"]["Handler"]
    return {RUNNER_HANDLER: "runner", URL_HANDLER: "http", "app.app": "api_handler"}.get(
        handler, handler.split(".", 1)[1])


def _with_prefix(value: Any) -> Any:
    """Every occurrence of the sentinel as ${Prefix}, inside Fn::Sub or wrapped in one."""
    if isinstance(value, list):
        return [_with_prefix(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            arg = value["Fn::Sub"]
            if isinstance(arg, str):
                return {"Fn::Sub": arg.replace(SENTINEL, "${Prefix}")}
            return {"Fn::Sub": [arg[0].replace(SENTINEL, "${Prefix}"), _with_prefix(arg[1])]}
        return {k: _with_prefix(v) for k, v in value.items()}
    if isinstance(value, str) and SENTINEL in value:
        return {"Fn::Sub": value.replace(SENTINEL, "${Prefix}")}
    return value


def _functions(resources: dict) -> dict[str, dict]:
    return {name: body for name, body in resources.items()
            if body.get("Type") == "AWS::Serverless::Function"}


def _overlay(template: dict) -> dict:
    template = _with_prefix(template)
    resources = template["Resources"]
    for part in _REST_API_PARTS:
        resources.pop(part, None)
    template["Outputs"] = {k: v for k, v in template.get("Outputs", {}).items()
                           if k in ("BlobsBucketName",)}
    queues = sorted(name for name, body in resources.items() if body.get("Type") == "AWS::SQS::Queue")
    functions = _functions(resources)
    runner = next(name for name, body in functions.items() if function_name(body) == "runner")
    http = next(name for name, body in functions.items() if function_name(body) == "http")
    template.setdefault("Parameters", {})["PublicUrl"] = {
        "Type": "String", "Default": "",
        "Description": "The API's public base URL (terraless deploy sets the function URL's)"}
    for logical, body in functions.items():
        props = body["Properties"]
        name = function_name(body)
        props["FunctionName"] = {"Fn::Sub": "${Prefix}-" + name}
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS":
                # on_sqs_message cannot ask for ReportBatchItemFailures; the workers return
                # batchItemFailures, which Lambda ignores without this
                event.setdefault("Properties", {})["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
                body["DependsOn"] = sorted(set(body.get("DependsOn", [])) | set(queues))
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        variables["TERRALESS_PREFIX"] = {"Ref": "Prefix"}
        # the layer's terraform, named without running it (only the runner mounts the layer)
        variables["TERRALESS_TERRAFORM_VERSION"] = staging.binary_version()
        role = body.get("Properties", {}).get("Role", {}).get("Fn::GetAtt", [None])[0]
        if name == "runner":
            # tenant code: the logs-only role, no pointer to any key or resource
            if role != "RunnerRole":     # Chalice's own role of that name is the merged one
                resources.pop(role, None)
            props["Role"] = {"Fn::GetAtt": ["RunnerRole", "Arn"]}
            props.pop("Policies", None)
            variables["TERRALESS_ROLE"] = "runner"      # it holds no key: none is required
            props["EphemeralStorage"] = {"Size": RUNNER_EPHEMERAL_MB}
            # terraform and the null provider's mirror, executable, at /opt (deploy/package.py)
            props["Layers"] = [{"Ref": "TerraformLayer"}]
            variables["RUNNER_TERRAFORM"] = "/opt/bin/terraform"
            variables["RUNNER_PROVIDER_MIRROR"] = "/opt/terraform/plugins"
            variables["RUNNER_TERRAFORM_VERSION"] = staging.binary_version()
            props["EventInvokeConfig"] = {"MaximumRetryAttempts": 0}
            continue
        resources[role]["Properties"]["Policies"] = [{
            "PolicyName": f"{name}-grants",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": permissions.statements(name)}}]
        variables["TERRALESS_SIGNING_SECRET_ARN"] = {"Ref": "SigningSecret"}
        variables["TERRALESS_VARIABLES_KEY"] = {"Ref": "VariablesKeyAlias"}
        variables["TERRALESS_BLOBS_BUCKET"] = {"Ref": "BlobsBucket"}
        variables["TERRALESS_PUBLIC_URL"] = {"Ref": "PublicUrl"}
        # on AWS phases go to the runner function (executor/aws_lambda.py)
        variables["TERRALESS_EXECUTOR"] = "lambda"
        variables["TERRALESS_RUNNER_FUNCTION"] = {"Ref": runner}
    resources["TerraformLayer"] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {"LayerName": {"Fn::Sub": "${Prefix}-terraform"},
                       "Description": "terraform and the providers Terraless ships",
                       "ContentUri": "./terraform-layer.zip", "CompatibleRuntimes": ["python3.11"],
                       "RetentionPolicy": "Delete"}}
    resources[http]["Properties"]["FunctionUrlConfig"] = {"AuthType": "NONE"}
    # no output of the URL: `terraless deploy` reads it from Lambda (an emulator's
    # CloudFormation that cannot create function URLs refuses a template whose outputs name one)
    template["Outputs"]["RunnerFunction"] = {"Value": {"Ref": runner}}
    for body in resources.values():
        if body["Type"] == "AWS::StepFunctions::StateMachine":
            _definition_as_string(body["Properties"])
    return template


def _definition_as_string(props: dict) -> None:
    """`Definition` + `DefinitionSubstitutions` as the equivalent `DefinitionString`: the same
    state machine on CloudFormation, and the form an emulator's CloudFormation reads (moto 5.2
    ignores `Definition` and creates no state machine at all). Joined, not `Fn::Sub`: moto's
    `Fn::Sub` turns the definition's `$$.Task.Token` into `$.Task.Token`."""
    if "Definition" not in props:
        return
    text = json.dumps(props.pop("Definition"), separators=(",", ":"))
    values = props.pop("DefinitionSubstitutions", {})
    parts: list = []
    for piece in re.split(r"(\$\{[A-Za-z0-9_]+\})", text):
        name = piece[2:-1] if piece.startswith("${") and piece.endswith("}") else None
        parts.append(values[name] if name in values else piece)
    props["DefinitionString"] = {"Fn::Join": ["", [p for p in parts if p != ""]]}


def _queue_for(arn: Any, resources: dict) -> str | None:
    """The logical queue an event source's ARN names (arn:...:${Prefix}-<queue name>)."""
    text = arn.get("Fn::Sub") if isinstance(arn, dict) else None
    if not isinstance(text, str):
        return None
    physical = text.rsplit(":", 1)[-1]
    for logical, body in resources.items():
        if body.get("Type") == "AWS::SQS::Queue" and \
                body["Properties"]["QueueName"] == {"Fn::Sub": physical}:
            return logical
    return None


def invariants(template: dict) -> list[str]:
    """What would stop the stack from creating or working, one line each (empty: none)."""
    problems: list[str] = []
    resources = template["Resources"]
    for logical, body in _functions(resources).items():
        props = body["Properties"]
        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") != "SQS":
                continue
            queue = _queue_for(event["Properties"]["Queue"], resources)
            if queue is None:
                problems.append(f"{logical}.{event_name}: its queue is not a queue of this stack")
                continue
            visibility = resources[queue]["Properties"].get("VisibilityTimeout", 30)
            if visibility < VISIBILITY_FACTOR * props["Timeout"]:
                problems.append(f"{queue}: visibility timeout {visibility} s < {VISIBILITY_FACTOR} x "
                                f"{logical}'s timeout {props['Timeout']} s")
    text = json.dumps(template)
    for word in ('"terraless-', ":terraless-", SENTINEL):
        if word in text:
            problems.append(f"a name does not carry the prefix: {word!r} in the template")
    return problems


def build_template(out: str) -> str:
    """Runs chalice package on a copy of the app (the template only: the function code is built
    by deploy/package.py), overlays it and checks the invariants."""
    out_path = Path(out).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "app"
        work.mkdir()
        shutil.copy(ROOT / "app.py", work / "app.py")
        shutil.copytree(ROOT / "chalicelib", work / "chalicelib",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / ".chalice", work / ".chalice",
                        ignore=shutil.ignore_patterns("deployments", "venv"))
        shutil.copytree(ROOT / "infra", work / "infra")
        config = json.loads((work / ".chalice" / "config.json").read_text())
        config["environment_variables"]["TERRALESS_PREFIX"] = SENTINEL
        (work / ".chalice" / "config.json").write_text(json.dumps(config))
        env = dict(os.environ, AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                   TERRALESS_PREFIX=SENTINEL)
        env.pop("AWS_ENDPOINT_URL", None)
        # packaging imports the app to read its routes; the deployed functions get the key's ARN
        env.setdefault("TERRALESS_SIGNING_SECRET", "packaging-only")
        chalice = Path(sys.executable).with_name("chalice")
        subprocess.run([str(chalice), "package", "--pkg-format", "cloudformation",
                        "--template-format", "json", "--merge-template",
                        str(work / "infra" / "resources.yaml"), str(work / "out")],
                       cwd=work, env=env, check=True, capture_output=True, text=True)
        produced = work / "out" / "sam.json"
        if produced.exists():
            template = json.loads(produced.read_text())
        else:  # chalice writes YAML when the merged template is YAML
            import yaml  # lazy: only packaging reads YAML here
            template = yaml.safe_load((work / "out" / "sam.yaml").read_text())
    template = _overlay(template)
    problems = invariants(template)
    if problems:
        raise ValueError("the template would not create or work:\n" + "\n".join(problems))
    out_path.write_text(json.dumps(template, indent=2) + "\n")
    return str(out_path)
