"""A local ThingSpace API simulator (OAuth, M2M sessions, FOTA v3 device list)."""
from .faults import Faults
from .sim import Simulator
from .truth import Truth

__all__ = ["Faults", "Simulator", "Truth"]
