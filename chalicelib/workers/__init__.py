"""SQS-triggered handlers (Lambda in AWS; the dev stack's dispatcher locally)."""
