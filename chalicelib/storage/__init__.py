"""DynamoDB through pynamodb: models (with their access patterns) and repositories."""
