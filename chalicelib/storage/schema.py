"""What every pynamodb model module shares: a model's table and an index's name (the tables of
infra/resources.yaml, named by config.py)."""
from __future__ import annotations

from pynamodb.indexes import AllProjection

from ..config import settings


def meta(logical: str) -> type:
    # Meta.host stays unset: AWS_ENDPOINT_URL(_DYNAMODB) picks the emulator when set.
    return type("Meta", (), {"table_name": settings().table(logical), "region": settings().region})


def index_meta(name: str) -> type:
    return type("Meta", (), {"index_name": name, "projection": AllProjection()})
