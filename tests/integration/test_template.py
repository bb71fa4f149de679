"""The deployable template is produced from infra/resources.yaml by chalice package, and
cfn-lint (offline) accepts it."""
import json
import subprocess
import sys
from pathlib import Path


def test_chalice_package_merges_infra_and_cfn_lint_accepts_it(tmp_path):
    from chalicelib.local.package import build_template

    out = Path(build_template(str(tmp_path / "deploy.json")))
    template = json.loads(out.read_text())
    resources = template["Resources"]
    types = {body["Type"] for body in resources.values()}
    assert {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue",
            "AWS::Serverless::Function"} <= types
    # every SQS-triggered function reports partial batch failures and waits for its queue
    sqs_functions = [b for b in resources.values() if b["Type"] == "AWS::Serverless::Function"
                     and any(e.get("Type") == "SQS" for e in b["Properties"].get("Events", {}).values())]
    assert sqs_functions
    for body in sqs_functions:
        events = [e for e in body["Properties"]["Events"].values() if e["Type"] == "SQS"]
        assert all(e["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for e in events)
        assert "UploadsQueue" in body["DependsOn"]
    # the runner function (tenant code) has the logs-only role and no secret in its environment;
    # the privileged functions may invoke it
    runner = [b for b in resources.values() if b["Type"] == "AWS::Serverless::Function"
              and b["Properties"]["Handler"] == "app.run_phase"]
    assert len(runner) == 1
    assert runner[0]["Properties"]["Role"] == {"Fn::GetAtt": ["RunnerRole", "Arn"]}
    assert "Policies" not in runner[0]["Properties"]
    variables = runner[0]["Properties"].get("Environment", {}).get("Variables", {})
    assert not [k for k in variables if "SECRET" in k or "TOKEN" in k]
    assert resources["RunnerRole"]["Type"] == "AWS::IAM::Role"
    assert "TERRALESS_SIGNING_SECRET_ARN" not in variables
    assert variables.get("TERRALESS_ROLE") == "runner"     # it starts without a signing key
    # every privileged function finds the signing key in the secret store, not in its environment
    privileged = [b for b in resources.values() if b["Type"] == "AWS::Serverless::Function"
                  and b is not runner[0]]
    for body in privileged:
        env = body["Properties"]["Environment"]["Variables"]
        assert env["TERRALESS_SIGNING_SECRET_ARN"] == {"Ref": "SigningSecret"}
        # and hands every phase to the runner function, never running it itself
        assert env["TERRALESS_EXECUTOR"] == "lambda"
        runner_name = next(n for n, b in resources.items() if b is runner[0])
        assert env["TERRALESS_RUNNER_FUNCTION"] == {"Ref": runner_name}
        assert "TERRALESS_SIGNING_SECRET" not in env
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out)],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
