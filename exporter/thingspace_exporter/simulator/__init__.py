"""A local ThingSpace API simulator (OAuth, M2M sessions, FOTA v3 device list, firmware,
subscriptions and campaign reports)."""

from .campaigns import CampaignFacts, CampaignTruth
from .faults import Faults
from .sim import Simulator
from .truth import Truth

__all__ = ["CampaignFacts", "CampaignTruth", "Faults", "Simulator", "Truth"]
