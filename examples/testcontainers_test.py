"""lifecycle-sim as a container in a pytest suite, with testcontainers-python.

    pip install testcontainers pytest requests
    docker build -t lifecycle-sim:0.1.0 .      # in this repository
    pytest examples/testcontainers_test.py
"""
import requests
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs

import pytest


@pytest.fixture(scope="session")
def simulator():
    container = (
        DockerContainer("lifecycle-sim:0.1.0")
        .with_exposed_ports(4747)
        .with_env("LIFECYCLE_SIM_PAUSED", "true")
        .with_env("LIFECYCLE_SIM_SEED", "7")
    )
    with container:
        # The first log line is the ready line: "lifecycle-sim listening on http://0.0.0.0:4747".
        wait_for_logs(container, "listening on", timeout=30)
        host = container.get_container_host_ip()
        port = container.get_exposed_port(4747)
        yield f"http://{host}:{port}"


def test_the_clock_jumps_ninety_minutes(simulator):
    before = requests.get(f"{simulator}/_sim/clock").json()
    after = requests.post(f"{simulator}/_sim/clock/advance", json={"by": "90m"}).json()
    assert before["paused"] is True
    assert after["now"] > before["now"]
