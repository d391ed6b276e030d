"""Roles and the acting user, as plain values the other packages' domains can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"  # 话务员
    DISPATCHER = "dispatcher"  # 派单员
    UNIT = "unit"  # 承办人员
    LEADER = "leader"  # 单位领导: sees the unit's orders, hears of their overdue/escalation
    SUPERVISOR = "supervisor"  # 督办/审核员
    INSPECTOR = "inspector"  # 网格员
    ADMIN = "admin"
    SYSTEM = "system"  # the service itself (scanner, integrations); never a login
    CITIZEN = "citizen"  # 市民 on the public pages (web/screens/citizen.py); never a login


ROLE_LABELS = {
    Role.AGENT: "话务员",
    Role.DISPATCHER: "派单员",
    Role.UNIT: "承办人员",
    Role.LEADER: "单位领导",
    Role.SUPERVISOR: "督办/审核员",
    Role.INSPECTOR: "网格员",
    Role.ADMIN: "系统管理员",
    Role.SYSTEM: "系统",
    Role.CITIZEN: "市民",
}

# Roles bound to a unit: they see the orders of the unit and its sub-units only.
UNIT_ROLES = frozenset({Role.UNIT, Role.LEADER})

# Roles that may see the caller's full phone number; others get it masked.
PHONE_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class UnitRef:
    """A unit as the domain needs it: its code and its place in the hierarchy."""

    id: int
    code: str
    name: str
    path: str  # "/1/5/12/": ids from the root, so a subtree is a path prefix


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    unit: UnitRef | None = None
    # Non-empty for sub-platform managers: they see and act on these hotlines only.
    hotlines: frozenset[str] = field(default_factory=frozenset)
    # An admin set the password: only the password change is allowed until it is made.
    must_change_password: bool = False
    # Set when a partner system acts through an API key (X-API-Key), not a person.
    api_key_id: int | None = None


SYSTEM_ACTOR = Actor(username="system", role=Role.SYSTEM)
# The anonymous citizen who submits, tracks and rates through the public pages.
CITIZEN_ACTOR = Actor(username="citizen", role=Role.CITIZEN)


def mask_phone(phone: str | None) -> str | None:
    """138****5678: keep the first three and last four digits."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
