"""Enumerations fixed by the outer contract (CONTRACT.md): other teams match on these values."""

from enum import StrEnum


class Channel(StrEnum):
    HOTLINE = "hotline"
    EMAIL = "email"
    ONLINE = "online"
    BRANCH = "branch"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Tier(StrEnum):
    """Highest first, as the policy lists them."""

    DIAMOND = "diamond"
    PLATINUM = "platinum"
    GOLD = "gold"
    REGULAR = "regular"


class ClientKind(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"
    INSTITUTION = "institution"


class RiskProfile(StrEnum):
    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"
    UNASSESSED = "unassessed"


class RiskLevel(StrEnum):
    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"


class ComplaintStage(StrEnum):
    """The stage names what the complaint is waiting for."""

    INTAKE = "intake"
    ASSESSMENT = "assessment"
    INVESTIGATION = "investigation"
    RESOLUTION = "resolution"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"
