"""Agents: registration, the long poll that hands an agent one phase of its pool, status pings,
and the end of a phase an agent ran. Agents authenticate with their pool's agent token, read
on every call (a revoked token stops an agent at its next call, not after a cache's life);
the phase itself talks to the runner API with its own credential, as on a worker.

An agent token can do nothing else: it names no user and no organization the rest of the API
knows (identity.authenticate refuses it everywhere), and here it reaches its own pool only."""
from __future__ import annotations

import logging
import time

from ..domain import agents as rules
from ..domain import clock
from ..domain.access import Principal
from ..domain.agent_pools import KIND_AGENT
from ..domain.agents import Agent, Offer
from ..domain.clock import now_iso
from ..domain.errors import NotFound, Unauthorized
from ..domain.identity import Token
from ..domain.ids import new_id
from ..storage import agent_pools as pool_store
from ..storage import agents as store
from ..storage import identity as token_store
from . import agent_pools, identity, phase_claims, phase_leases, runner_api

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 20           # a long poll, well inside the API function's time limit
POLL_INTERVAL_SECONDS = 1.0     # how often a waiting poll reads its pool's queue


def _token(secret: str | None) -> Token:
    if not secret:
        raise Unauthorized("an agent token is required (Authorization: Bearer <token>)")
    token = token_store.find_token(identity.hash_token(secret))
    if token is None or token.kind != KIND_AGENT:
        raise Unauthorized("the agent token is invalid or has been revoked")
    left = token.seconds_left(clock.now())
    if left is not None and left <= 0:
        raise Unauthorized("the agent token has expired")
    return token


def _pool_id(token: Token) -> str:
    return token.owner.removeprefix("agent-pool:")


def _agent(secret: str | None, agent_id: str) -> Agent:
    """The token's own agent (another pool's agents do not exist for it)."""
    token = _token(secret)
    agent = store.find(agent_id) if agent_id.startswith("agent-") else None
    if agent is None or agent.pool_id != _pool_id(token):
        raise NotFound(f"agent {agent_id} not found")
    return agent


def register(secret: str | None, name: object, ip_address: str | None) -> Agent:
    token = _token(secret)
    pool = pool_store.find(_pool_id(token))
    if pool is None:
        raise Unauthorized("the agent token's pool no longer exists")
    stamp = now_iso()
    agent = Agent(id=new_id("agent"), pool_id=pool.id, org=pool.org, name=rules.validate_name(name),
                  created_at=stamp, status="idle", last_ping_at=stamp, ip_address=ip_address)
    store.insert(agent)
    return agent


def report(secret: str | None, agent_id: str, status: object, ip_address: str | None) -> Agent:
    agent = _agent(secret, agent_id)
    agent.status = rules.validate_status(status)
    agent.last_ping_at = now_iso()
    store.report(agent.id, agent.status, agent.last_ping_at, ip_address)
    return agent


def next_phase(secret: str | None, agent_id: str, wait_seconds: float, ip_address: str | None) -> dict | None:
    """Waits up to `wait_seconds` for a phase of the agent's pool; the phase, claimed for this
    agent, with the work its runner is given (no time limit but the phase's own: an agent is
    not a Lambda function), or None."""
    agent = report(secret, agent_id, "idle", ip_address)
    deadline = time.monotonic() + max(0.0, min(float(wait_seconds), MAX_WAIT_SECONDS))
    while True:
        for offer in store.oldest_offers(agent.pool_id):
            if not store.take_offer(offer):
                continue            # another agent took it
            claimed = _claim(offer, agent)
            if claimed is not None:
                store.report(agent.id, "busy", now_iso(), ip_address)
                return {"kind": claimed.kind, "workdir": list(claimed.workdir),
                        "work": {**claimed.work, "time_limit_seconds": 0}}
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL_SECONDS)


def _claim(offer: Offer, agent: Agent) -> phase_claims.Claimed | None:
    try:
        if offer.kind == "run":
            return phase_claims.claim_run_phase(offer.subject_id, offer.phase, offer.task_token,
                                                agent.worker_label())
        return phase_claims.claim_job_step(offer.subject_id, int(offer.phase), offer.task_token,
                                           agent.worker_label())
    except Exception:
        store.put_offer(offer)      # not lost: the next poll takes it again
        raise


def phase_done(credential: str | None, phase_id: str) -> None:
    """The agent's runner has exited: a phase it never reported on errors now (not when its
    heartbeat runs out), and its credential is good for nothing after."""
    claim = phase_leases.verify(credential, phase_id)
    kind = runner_api.KINDS.get(claim.kind)
    if kind is None:
        raise Unauthorized("invalid runner credential")
    kind.runner_gone(claim.subject_id, claim.phase_id, claim.lease_id)


def offer(pool_id: str, kind: str, subject_id: str, phase: str, token: str) -> None:
    """A phase of an agent-mode workspace waits for an agent of its pool."""
    store.put_offer(Offer(pool_id=pool_id, key=rules.offer_key(int(time.time() * 1000), subject_id, phase),
                          kind=kind, subject_id=subject_id, phase=phase, task_token=token))
    log.info("%s %s %s waits for an agent of %s", kind, subject_id, phase, pool_id)


# -- HCP Terraform's agents routes (users and organization tokens) -------------------------------

def of_pool(principal: Principal, pool_id: str) -> list[Agent]:
    return store.of_pool(agent_pools.get(principal, pool_id).id)


def get(principal: Principal, agent_id: str) -> Agent:
    agent = store.find(agent_id) if agent_id.startswith("agent-") else None
    if agent is None or not principal.can_see_org(agent.org):
        raise NotFound(f"agent {agent_id} not found")
    return agent
