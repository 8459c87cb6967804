"""A state store URL where no PostgreSQL answers fails in time, never hangs."""

from __future__ import annotations

import socket

import pytest

from crmsync.errors import StateError
from crmsync.store import open_store
from crmsync.store._database import _connect_args


def test_a_port_where_something_else_listens_is_refused_with_the_way_out():
    # A listener that accepts and never says a word, as Redis does to a PostgreSQL
    # client's startup message.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        url = f"postgresql+psycopg://root@127.0.0.1:{port}/x?connect_timeout=1"
        with pytest.raises(StateError) as caught:
            open_store(url)
    message = str(caught.value)
    assert "no PostgreSQL server answered" in message
    assert "check the host and port" in message
    assert "\n" not in message


def test_postgresql_urls_get_a_connect_timeout_unless_they_set_one():
    assert _connect_args("postgresql+psycopg://h/db") == {"connect_timeout": 10}
    assert _connect_args("postgresql+psycopg://h/db?connect_timeout=3") == {}
    assert _connect_args("sqlite:///state.db") == {}
