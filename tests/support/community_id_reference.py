"""Community IDs by the spec's reference implementation (PyPI `communityid`), for the tests.

Reads a JSON list of [source, destination, protocol, source_port, destination_port] (ports may
be null) from stdin; prints the JSON list of their ids (seed 0).
"""
import json
import sys

import communityid

cid = communityid.CommunityID(seed=0)
ids = []
for source, destination, protocol, source_port, destination_port in json.load(sys.stdin):
    if source_port is None:
        flow = communityid.FlowTuple(protocol, source, destination)
    else:
        flow = communityid.FlowTuple(protocol, source, destination, source_port, destination_port)
    ids.append(cid.calc(flow))
print(json.dumps(ids))
