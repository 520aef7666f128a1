"""aioice's TURN client (aioice.turn.create_turn_endpoint, PyPI) against a TURN server under test.

Usage: aioice_turn_client.py SERVER_HOST SERVER_PORT USERNAME PASSWORD udp|tcp PEER_HOST PEER_PORT COUNT
Allocates (printing "relayed HOST PORT" and "mapped HOST PORT"), then sends COUNT datagrams of
distinct sizes and contents to the peer through the relay, one at a time, each waiting (at most
5 s) for its echo; prints "echo SIZE HOST PORT" for each datagram that came back byte-exact from
the peer, "mismatch ..." for one that did not, then deletes the allocation and, once its socket
is closed, prints "done".
"""
import asyncio
import sys

from aioice.turn import create_turn_endpoint


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        print(f"error {exc!r}", flush=True)

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


async def main() -> None:
    host, port, user, password, transport = sys.argv[1:6]
    peer = (sys.argv[6], int(sys.argv[7]))
    count = int(sys.argv[8])
    turn, receiver = await asyncio.wait_for(
        create_turn_endpoint(
            Receiver, (host, int(port)), user, password, transport=transport
        ),
        10,
    )
    relayed = turn.get_extra_info("sockname")
    mapped = turn.get_extra_info("related_address")
    print(f"relayed {relayed[0]} {relayed[1]}", flush=True)
    print(f"mapped {mapped[0]} {mapped[1]}", flush=True)
    for i in range(count):
        size = 1 + (i * 97) % 1200
        payload = bytes((i * 31 + k * 7) & 255 for k in range(size))
        turn.sendto(payload, peer)
        data, addr = await asyncio.wait_for(receiver.queue.get(), 5)
        if data == payload:
            print(f"echo {size} {addr[0]} {addr[1]}", flush=True)
        else:
            print(f"mismatch {size} {len(data)} {addr[0]} {addr[1]}", flush=True)
    # close() deletes the allocation (a Refresh with LIFETIME 0), then closes the socket.
    turn.close()
    await asyncio.wait_for(receiver.closed, 10)
    print("done", flush=True)


asyncio.run(main())
