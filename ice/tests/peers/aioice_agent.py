"""aioice as a third-party ICE agent on 127.0.0.1, exchanging candidates over stdin/stdout.

Usage: aioice_agent.py controlling|controlled [TURN_HOST TURN_PORT]
With a TURN server (user "u", password "p") aioice gathers and uses only relayed candidates.
Prints: "ufrag U", "pwd P", "cand <sdp>"..., "end"; reads the same from stdin; connects; sends
"ping from aioice"; waits for one datagram and prints "received <hex>", then "done".
"""
import asyncio
import sys

import aioice
import aioice.ice
from aioice import Candidate, Connection, TransportPolicy

# aioice leaves 127.0.0.1 out when gathering host candidates: use loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def main() -> None:
    controlling = sys.argv[1] == "controlling"
    turn = {}
    if len(sys.argv) > 3:
        turn = dict(
            turn_server=(sys.argv[2], int(sys.argv[3])),
            turn_username="u",
            turn_password="p",
            transport_policy=TransportPolicy.RELAY,
        )
    conn = Connection(
        ice_controlling=controlling, components=1, use_ipv4=True, use_ipv6=False, **turn
    )
    await conn.gather_candidates()
    print(f"ufrag {conn.local_username}")
    print(f"pwd {conn.local_password}")
    for c in conn.local_candidates:
        print(f"cand {c.to_sdp()}")
    print("end", flush=True)

    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line.startswith("ufrag "):
            conn.remote_username = line[6:]
        elif line.startswith("pwd "):
            conn.remote_password = line[4:]
        elif line.startswith("cand "):
            await conn.add_remote_candidate(Candidate.from_sdp(line[5:]))
        elif line == "end" or not line:
            await conn.add_remote_candidate(None)
            break

    await asyncio.wait_for(conn.connect(), 20)
    print("connected", flush=True)
    await conn.send(b"ping from aioice")
    data = await asyncio.wait_for(conn.recv(), 10)
    print(f"received {data.hex()}", flush=True)
    await conn.close()
    print("done", flush=True)


asyncio.run(main())
