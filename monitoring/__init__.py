"""Monitoring you can run: a real Prometheus and Alertmanager (`monitoring.services`) with the
alert and recording rules of `monitoring/rules/`, started by `make monitor`
(`python -m monitoring`) and by the tests that fire each alert."""
