"""The administrator's web app and REST API (``crmsync serve``; extra ``web``).

The pages and the API are faces of :mod:`crmsync.operations`, like the CLI: they parse,
call an operation and render, and implement no rule of their own.
"""

from __future__ import annotations

from crmsync.web._app import create_app
from crmsync.web._backend import Backend
from crmsync.web._secrets import hash_password, hash_token, new_token
from crmsync.web._settings import WebSettings

__all__ = [
    "Backend",
    "WebSettings",
    "create_app",
    "hash_password",
    "hash_token",
    "new_token",
]
