"""Pod network choices: bridge names, free subnets, CNI config."""

import ipaddress

import pytest

from cri_conformance.fixtures.local import network
from cri_conformance.fixtures.local.errors import LocalRuntimeError

HOST_ROUTES = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "192.0.2.0/24", "dev": "eth0", "prefsrc": "192.0.2.2"},
    {"type": "local", "dst": "192.0.2.2", "dev": "eth0", "table": "local"},
    {"type": "broadcast", "dst": "192.0.2.255", "dev": "eth0", "table": "local"},
]


def test_first_candidate_when_nothing_overlaps():
    assert network.pick_subnet(HOST_ROUTES) == ipaddress.ip_network("10.234.0.0/16")


def test_default_route_does_not_count_as_overlap():
    assert network.pick_subnet([{"dst": "default", "dev": "eth0"}]) == ipaddress.ip_network("10.234.0.0/16")


def test_subnets_used_by_other_bridges_are_skipped():
    routes = HOST_ROUTES + [
        {"dst": "10.234.0.0/16", "dev": "crc-aaaaaaaaaa"},
        {"dst": "10.235.7.0/24", "dev": "docker0"},  # partial overlap also blocks 10.235/16
    ]
    assert network.pick_subnet(routes) == ipaddress.ip_network("10.236.0.0/16")


def test_a_wide_route_blocks_every_candidate_inside_it():
    routes = [{"dst": "10.0.0.0/8", "dev": "vpn0"}]
    assert network.pick_subnet(routes) == ipaddress.ip_network("172.29.0.0/16")


def test_a_single_address_route_blocks_its_subnet():
    routes = [{"dst": "10.234.1.1", "dev": "tun0"}]
    assert network.pick_subnet(routes) == ipaddress.ip_network("10.235.0.0/16")


def test_ipv6_and_junk_routes_are_ignored():
    routes = [{"dst": "fe80::/64"}, {"dst": "not-an-address"}, {}]
    assert network.pick_subnet(routes) == ipaddress.ip_network("10.234.0.0/16")


def test_no_free_candidate_is_an_error():
    with pytest.raises(LocalRuntimeError):
        network.pick_subnet([{"dst": "10.0.0.0/8"}], candidates=["10.1.0.0/16", "10.2.0.0/16"])


def test_bridge_names_fit_the_kernel_limit_and_differ_per_instance(tmp_path):
    one = network.bridge_name("local", tmp_path / "one")
    assert len(one) <= 15 and one.startswith("crc-")
    assert one == network.bridge_name("local", tmp_path / "one")
    assert one != network.bridge_name("local", tmp_path / "two")
    assert one != network.bridge_name("other", tmp_path / "one")


def test_cni_config_keeps_everything_in_the_instance(tmp_path):
    subnet = ipaddress.ip_network("10.240.0.0/16")
    config = network.render_cni_config("net-x", "crc-0123456789", subnet, tmp_path / "ipam")
    assert config["name"] == "net-x"
    bridge, portmap = config["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "crc-0123456789"
    # We own the gateway address: the plugin must not touch ip_forward or NAT.
    assert bridge["isGateway"] is False and bridge["ipMasq"] is False
    ipam = bridge["ipam"]
    assert ipam["type"] == "host-local"
    assert ipam["dataDir"] == str(tmp_path / "ipam")
    assert ipam["ranges"] == [[{"subnet": "10.240.0.0/16", "gateway": "10.240.0.1"}]]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.240.0.1"}]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_cni_config_file_is_written_as_json(tmp_path):
    import json

    config = network.render_cni_config("n", "crc-1", ipaddress.ip_network("10.250.0.0/16"), tmp_path)
    path = network.write_cni_config(tmp_path / "net.d", config)
    assert path.suffix == ".conflist"
    assert json.loads(path.read_text()) == config


def test_candidates_are_private_ranges():
    for candidate in network.CANDIDATE_SUBNETS:
        assert ipaddress.ip_network(candidate).is_private


def test_cni_cache_cleanup_only_touches_this_instance(tmp_path, monkeypatch):
    cache = tmp_path / "results"
    cache.mkdir()
    ours = ["net-a-123-eth0", "cni-loopback-123-lo"]
    theirs = ["net-b-456-eth0", "cni-loopback-456-lo"]
    for name in ours + theirs:
        (cache / name).write_text("{}")
    monkeypatch.setattr(network, "CNI_CACHE_RESULTS", cache)
    removed = network.remove_cni_cache("net-a", ["123"])
    assert sorted(path.name for path in removed) == sorted(ours)
    assert sorted(path.name for path in cache.iterdir()) == sorted(theirs)


NAT_TABLE = r"""*nat
:CNI-DN-c948c09b1e8e8da6bb4ed - [0:0]
:CNI-DN-0000other0000000000000 - [0:0]
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A CNI-DN-c948c09b1e8e8da6bb4ed -d 127.0.0.1/32 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.237.0.2:8080
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"net-ours\" id: \"3938\"" -m multiport --dports 18080 -j CNI-DN-c948c09b1e8e8da6bb4ed
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"net-ours-too-long\" id: \"1\"" -m multiport --dports 1 -j CNI-DN-0000other0000000000000
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"net-theirs\" id: \"77\"" -m multiport --dports 9090 -j CNI-DN-0000other0000000000000
COMMIT
"""


def test_stale_portmap_rules_are_only_those_of_this_network():
    rules, chains = network.stale_portmap_rules(NAT_TABLE, "net-ours")
    assert chains == ["CNI-DN-c948c09b1e8e8da6bb4ed"]
    assert rules == [
        [
            "CNI-HOSTPORT-DNAT", "-p", "tcp", "-m", "comment", "--comment", 'dnat name: "net-ours" id: "3938"',
            "-m", "multiport", "--dports", "18080", "-j", "CNI-DN-c948c09b1e8e8da6bb4ed",
        ]
    ]
    assert network.stale_portmap_rules(NAT_TABLE, "net-absent") == ([], [])
