"""The test SeaweedFS's ports: drawn where no process binding port 0 can be handed them, and a start
that still finds one taken is retried on new ports (a full run once lost every Ray test to `bind:
address already in use` on the S3 gRPC port, drawn from the ephemeral range Ray's workers use)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage import seaweed as sw_mod


def test_ports_are_drawn_below_the_ephemeral_range_and_distinct() -> None:
    low = sw_mod._ephemeral_low()
    for _ in range(20):
        ports = sw_mod.free_ports(10)
        assert len(set(ports)) == 10 and all(1024 <= p < low for p in ports)


def test_a_start_that_finds_a_port_taken_is_retried_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weed = sw_mod.weed_binary()
    if weed is None:
        pytest.skip("no weed binary")
    real, calls = sw_mod._start_seaweed, []

    def first_fails(data_dir: Path, weed: str, timeout: float) -> sw_mod.Seaweed:
        calls.append(data_dir)
        if len(calls) == 1:  # what _wait_ready raises when weed's log says the port was taken
            raise sw_mod.PortTaken("weed mini exited with 255: bind: address already in use")
        return real(data_dir, weed, timeout)

    monkeypatch.setattr(sw_mod, "_start_seaweed", first_fails)
    sw = sw_mod.start_seaweed(tmp_path / "sw", weed)
    try:
        assert len(calls) == 2 and calls[1] != calls[0]  # a fresh data folder for the new ports
        sw.client().list_buckets()
    finally:
        sw_mod.stop_seaweed(sw)
