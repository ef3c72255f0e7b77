"""bench/procstat.py finds the ports a process listens on (how the benches find a consumer's
status port when it could not take the one it was given) and reads a process's CPU time."""

from __future__ import annotations

import os
import socket

from bench.procstat import TICKS, cpu_seconds, listening_ports, stat_cpu_seconds


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


def test_cpu_seconds_are_utime_plus_stime_even_with_spaces_in_the_name() -> None:
    rest = " ".join(["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", "250", "50"])
    assert stat_cpu_seconds(f"42 (a (b) c) {rest} 0 0 20 0") == 300 / TICKS


def test_cpu_seconds_of_this_process_grow_as_it_works() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    deadline = os.times().user + 0.05
    while os.times().user < deadline:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None
    assert after > before
