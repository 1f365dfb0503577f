"""The three rtbench servers: one Starlette app, one subscribe transport each."""

from servers.app import create_app
from servers.registry import TRANSPORT_CLASSES, get_transport

__all__ = ["TRANSPORT_CLASSES", "create_app", "get_transport"]
