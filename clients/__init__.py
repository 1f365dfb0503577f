"""Clients of the rtbench servers: `clients.aio` (asyncio) and, later, Locust users."""
