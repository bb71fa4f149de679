"""The deployable template: `chalice package --merge-template infra/resources.yaml`, plus the
few settings Chalice cannot express (partial batch responses on SQS event sources)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER_HANDLER = "app.run_phase"


def _overlay(template: dict) -> dict:
    queues = sorted(name for name, body in template.get("Resources", {}).items()
                    if body.get("Type") == "AWS::SQS::Queue")
    runner = next((name for name, body in template.get("Resources", {}).items()
                   if body.get("Properties", {}).get("Handler") == RUNNER_HANDLER), None)
    for body in template.get("Resources", {}).values():
        props = body.get("Properties", {})
        # on_sqs_message cannot ask for ReportBatchItemFailures; the workers return
        # batchItemFailures (Powertools), which Lambda ignores without this.
        if body.get("Type") == "AWS::Lambda::EventSourceMapping":
            props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        if body.get("Type") == "AWS::Serverless::Function":
            for event in props.get("Events", {}).values():
                if event.get("Type") == "SQS":
                    # Chalice names the queue by ARN; it is created in this same stack.
                    body["DependsOn"] = sorted(set(body.get("DependsOn", [])) | set(queues))
                    event.setdefault("Properties", {})["FunctionResponseTypes"] = [
                        "ReportBatchItemFailures"]
        if body.get("Type") != "AWS::Serverless::Function":
            continue
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        if props.get("Handler") == RUNNER_HANDLER:
            # the runner function runs tenant code: its own role (logs only), not the app's,
            # and no pointer to the signing key
            props["Role"] = {"Fn::GetAtt": ["RunnerRole", "Arn"]}
            props.pop("Policies", None)
            variables["TERRALESS_ROLE"] = "runner"      # it holds no key: none is required
        else:
            variables["TERRALESS_SIGNING_SECRET_ARN"] = {"Ref": "SigningSecret"}
            variables["TERRALESS_VARIABLES_KEY"] = {"Ref": "VariablesKeyAlias"}
            if runner:      # on AWS phases go to the runner function (executor/aws_lambda.py)
                variables["TERRALESS_EXECUTOR"] = "lambda"
                variables["TERRALESS_RUNNER_FUNCTION"] = {"Ref": runner}
    return template


def build_template(out: str) -> str:
    """Runs chalice package on a copy of the app (no requirements: the template is the point;
    add a requirements.txt to the copy's root to bundle dependencies for a real deploy)."""
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
        env = dict(os.environ, AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
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
            import yaml  # lazy: only `terraless template` reads YAML here
            template = yaml.safe_load((work / "out" / "sam.yaml").read_text())
    out_path.write_text(json.dumps(_overlay(template), indent=2) + "\n")
    return str(out_path)
