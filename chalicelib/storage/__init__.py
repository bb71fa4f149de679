"""DynamoDB through pynamodb: the models (models.py) and one module per aggregate, the only
code that knows pynamodb; base.py holds the one conditional save and the failed-condition map."""
