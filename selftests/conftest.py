"""Fixtures for the project's own tests."""
