"""Agents and their pools' waiting phases in DynamoDB. Agents: GetItem by id, a pool's by
by_pool. Offers: a pool's oldest (Query on its partition, Limit), taken by a delete
conditional on the offer still being there (one agent wins)."""
from __future__ import annotations

from ..domain.agents import Agent, Offer
from ..domain.errors import Conflict
from . import base
from .agent_models import AgentModel, AgentOfferModel


def _agent(item: AgentModel) -> Agent:
    return Agent(**{name: getattr(item, name) for name in Agent.__dataclass_fields__})


def find(agent_id: str) -> Agent | None:
    return base.find(AgentModel, _agent, agent_id)


def of_pool(pool_id: str, limit: int = 500) -> list[Agent]:
    return [_agent(item) for item in AgentModel.by_pool.query(pool_id, limit=limit)]


def insert(agent: Agent) -> None:
    with base.conditional("agent id collision"):
        AgentModel(**vars(agent)).save(condition=AgentModel.id.does_not_exist())


def report(agent_id: str, status: str, pinged_at: str, ip_address: str | None) -> None:
    """The agent's own word on itself; an agent that is gone stays gone."""
    actions = [AgentModel.status.set(status), AgentModel.last_ping_at.set(pinged_at)]
    if ip_address:
        actions.append(AgentModel.ip_address.set(ip_address))
    with base.conditional(f"agent {agent_id} has exited"):
        AgentModel(id=agent_id).update(actions=actions, condition=AgentModel.id.exists()
                                       & (AgentModel.status != "exited"))


def delete_of_pool(pool_id: str) -> None:
    for item in AgentModel.by_pool.query(pool_id):
        AgentModel(id=item.id).delete()
    for item in AgentOfferModel.query(pool_id):
        item.delete()


def _offer(item: AgentOfferModel) -> Offer:
    return Offer(**{name: getattr(item, name) for name in Offer.__dataclass_fields__})


def put_offer(offer: Offer) -> None:
    """Idempotent: a redelivered task message writes the same key."""
    AgentOfferModel(**vars(offer)).save()


def oldest_offers(pool_id: str, limit: int = 5) -> list[Offer]:
    return [_offer(item) for item in AgentOfferModel.query(pool_id, limit=limit, scan_index_forward=True)]


def take_offer(offer: Offer) -> bool:
    """True for the one caller whose delete removed it."""
    try:
        with base.conditional("taken"):
            AgentOfferModel(pool_id=offer.pool_id, key=offer.key).delete(
                condition=AgentOfferModel.key.exists())
    except Conflict:
        return False
    return True
