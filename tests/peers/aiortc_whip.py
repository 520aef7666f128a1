"""A WHIP client made of aiortc (PyPI), a DTLS 1.2-only WebRTC stack, for tests/aiortc.rs.

Usage: aiortc_whip.py WHIP_URL MESSAGES

Offers a data channel and a video track (generated frames) to WHIP_URL, whose answer must loop
both back (our echo server). Sends MESSAGES data channel messages of growing sizes, counts the
echoes that come back byte for byte and the video frames received back, and prints one JSON line
with what it saw. Gathers 127.0.0.1 only (aioice skips loopback addresses on its own) and uses no
STUN server: nothing leaves the machine.
"""

import asyncio
import json
import sys
import time
import urllib.request

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame


def loopback_only(use_ipv4=True, use_ipv6=True):
    return ["127.0.0.1"]


aioice.ice.get_host_addresses = loopback_only


class Frames(VideoStreamTrack):
    """A moving grey picture, 320x240 at the track's pace."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(self.n * 7) % 256]) * plane.buffer_size)
        self.n += 1
        frame.pts = pts
        frame.time_base = time_base
        return frame


def post(url, offer):
    request = urllib.request.Request(
        url, data=offer.encode(), method="POST", headers={"Content-Type": "application/sdp"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read().decode()


async def main(url, messages):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("chat")
    pc.addTrack(Frames())
    result = {"messages": 0, "mismatches": 0, "frames": 0, "width": 0}
    opened = asyncio.Event()
    all_echoed = asyncio.Event()
    sent = []

    @channel.on("open")
    def on_open():
        opened.set()

    @channel.on("message")
    def on_message(message):
        if isinstance(message, str):
            message = message.encode()
        expected = sent[result["messages"] + result["mismatches"]] if sent else None
        if message == expected:
            result["messages"] += 1
        else:
            result["mismatches"] += 1
        if result["messages"] + result["mismatches"] >= messages:
            all_echoed.set()

    async def count_frames(track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return  # the track ended (the connection closed)
            result["frames"] += 1
            result["width"] = frame.width

    @pc.on("track")
    def on_track(track):
        if track.kind == "video":
            asyncio.ensure_future(count_frames(track))

    await pc.setLocalDescription(await pc.createOffer())
    status, answer = post(url, pc.localDescription.sdp)
    result["status"] = status
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(opened.wait(), 20)
    for i in range(messages):
        size = 1 + (i * 997) % 60000
        message = bytes((i + j) % 256 for j in range(size))
        sent.append(message)
        channel.send(message)
    await asyncio.wait_for(all_echoed.wait(), 30)
    deadline = time.monotonic() + 30
    while result["frames"] < 40 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    dtls = pc.getTransceivers()[0].sender.transport
    result["dtls_state"] = dtls.state
    result["dtls_role"] = dtls._role
    result["connection_state"] = pc.connectionState
    print(json.dumps(result), flush=True)
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
