"""Prometheus exporter for Verizon ThingSpace IoT fleets."""

__version__ = "0.1.0"
