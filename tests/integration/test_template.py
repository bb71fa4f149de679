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
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out)],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
