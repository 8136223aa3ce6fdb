"""Helpers for the demo and the tests: local servers and demo data. Not imported by the gateway."""
