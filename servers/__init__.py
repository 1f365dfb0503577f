"""The three rtbench servers: one Starlette app, one subscribe transport each."""

from servers.app import create_app
from servers.registry import TRANSPORTS, get_transport

__all__ = ["TRANSPORTS", "create_app", "get_transport"]
