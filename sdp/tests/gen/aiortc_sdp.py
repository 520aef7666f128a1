"""Regenerates sdp/tests/corpus/aiortc-*.sdp: offers and answers of aiortc (PyPI), the Python WebRTC stack.
Run through ../gen-corpus.sh."""
import asyncio
import os
import sys

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


async def pair(out, name, setup):
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    setup(a, b)
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    for kind, pc in (("offer", a), ("answer", b)):
        path = os.path.join(out, f"aiortc-{name}-{kind}.sdp")
        with open(path, "w") as f:
            f.write(pc.localDescription.sdp)
        print(path)
    await a.close()
    await b.close()


def data(a, b):
    a.createDataChannel("chat")


def av(a, b):
    a.addTrack(AudioStreamTrack())
    a.addTrack(VideoStreamTrack())
    a.createDataChannel("chat")
    b.addTrack(AudioStreamTrack())
    b.addTrack(VideoStreamTrack())


def recvonly(a, b):
    a.addTransceiver("audio", direction="recvonly")
    a.addTransceiver("video", direction="recvonly")


async def main(out):
    for name, setup in (("data", data), ("av", av), ("recvonly", recvonly)):
        await pair(out, name, setup)


asyncio.run(main(sys.argv[1]))
