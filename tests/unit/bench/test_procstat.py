"""bench/procstat.py finds the ports a process listens on (how the benches find a consumer's
status port when it could not take the one it was given)."""

from __future__ import annotations

import os
import socket

from bench.procstat import listening_ports


def test_a_listening_socket_of_this_process_is_found_and_a_closed_one_is_not() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        assert port in listening_ports(os.getpid())
    finally:
        server.close()
    assert port not in listening_ports(os.getpid())


def test_a_connected_socket_is_not_a_listening_one() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            found = listening_ports(os.getpid())  # this test process may listen elsewhere too
            assert server.getsockname()[1] in found
            assert client.getsockname()[1] not in found
        finally:
            client.close()
            accepted.close()


def test_a_process_that_is_gone_listens_on_nothing() -> None:
    assert listening_ports(2**22 + 1) == []  # above the kernel's largest pid
