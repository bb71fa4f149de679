"""SAM to plain CloudFormation, here rather than by CloudFormation's transform: the same
template then creates on AWS and on an emulator's CloudFormation (moto's has no SAM transform),
and what CloudFormation will create is known before anything is created."""
from __future__ import annotations

import copy

from ..aws.clients import client


def translate(template: dict, code_bucket: str, code_key: str, parameters: dict[str, str],
              layer_key: str = "layers/terraform.zip") -> dict:
    """`template` (AWS::Serverless resources) as CloudFormation, every function's code at
    s3://code_bucket/code_key, the terraform layer's at s3://code_bucket/layer_key."""
    # lazy: only deploying translates (samtranslator is the deploy extra)
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform  # lazy: deploy only

    sam = copy.deepcopy(template)
    sam["Transform"] = "AWS::Serverless-2016-10-31"
    for body in sam["Resources"].values():
        if body.get("Type") == "AWS::Serverless::Function":
            body["Properties"]["CodeUri"] = {"Bucket": code_bucket, "Key": code_key}
        elif body.get("Type") == "AWS::Serverless::LayerVersion":
            body["Properties"]["ContentUri"] = {"Bucket": code_bucket, "Key": layer_key}
    # every function has its own Role: the loader (IAM's managed policies) is never asked
    return transform(sam, parameters, ManagedPolicyLoader(client("iam")))
