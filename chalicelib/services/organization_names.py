"""Organization names and keys. Routes name an organization by its current name; everything
stored keys it by the name it was created with, which a rename keeps (domain/identity.py's
Organization). A request resolves the URL's name once (key_of) and renders stored keys back as
names (name_of).

Both directions are remembered in-process for TERRALESS_TOKEN_CACHE_SECONDS (caching.py), and
within one request: the first read of a request is one GetItem per few seconds, not one per
request, and a list of workspaces costs no read per workspace for its organization's name. A
rename or deletion here drops its entries at once; in another process an old name may still
lead to the renamed organization, or a page show the old name, for at most that TTL (the
caller's access is checked against the organization itself either way)."""
from __future__ import annotations

import contextvars
import re

from ..domain.errors import NotFound
from ..domain.identity import Organization
from ..storage import identity as store
from .caching import TtlCache

ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}\Z")

_key_by_name: TtlCache[str] = TtlCache()
_name_by_key: TtlCache[str] = TtlCache()
_request: contextvars.ContextVar[dict | None] = contextvars.ContextVar("org_names", default=None)


def begin_request() -> None:
    _request.set({})


def key_of(name: object) -> str:
    """The key of the organization named `name` now; NotFound for any other string."""
    if not isinstance(name, str) or not ORG_NAME.match(name):
        raise NotFound(f"organization {name} not found")
    key = _key_by_name.get(name)
    if key is None:
        key = store.find_org_key(name)
        if key is None:
            raise NotFound(f"organization {name} not found")
        _key_by_name.put(name, key)
    _memo(key, name)
    return key


def name_of(key: str) -> str:
    """The current name of the organization keyed `key` (the key itself once it is gone)."""
    memo = _request.get()
    name = (memo or {}).get(key) or _name_by_key.get(key)
    if name is None:
        org = store.find_org(key)
        if org is None:
            return key
        name = remember(org).name
    return name


def remember(org: Organization) -> Organization:
    """`org` as just read or written: its name is its name now."""
    _name_by_key.put(org.key, org.name)
    _memo(org.key, org.name)
    return org


def forget(org: Organization) -> None:
    """Its name changes or it goes: this process stops using what it remembered of it."""
    _key_by_name.drop(org.name)
    _name_by_key.drop(org.key)
    memo = _request.get()
    if memo is not None:
        memo.pop(org.key, None)


def clear() -> None:
    _key_by_name.clear()
    _name_by_key.clear()


def _memo(key: str, name: str) -> None:
    memo = _request.get()
    if memo is not None:
        memo[key] = name
