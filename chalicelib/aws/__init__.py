"""Cached boto3 clients and thin wrappers over S3 / SQS / Step Functions."""
