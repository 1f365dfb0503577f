"""Scenarios: drive real servers under controlled load and record what happened."""
