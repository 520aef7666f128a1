"""libnice (Debian, through PyGObject) as a third-party ICE agent on 127.0.0.1, with the same
stdin/stdout protocol as aioice_agent.py.

Usage: libnice_agent.py controlling|controlled
Prints: "ufrag U", "pwd P", "cand <sdp>"..., "end"; reads the same from stdin; when the component
is ready prints "connected" and sends "ping from libnice"; prints "received <hex>" for the first
datagram, then "done".
"""
import sys
import threading

import gi

gi.require_version("Nice", "0.1")
from gi.repository import GLib, Nice  # noqa: E402

controlling = sys.argv[1] == "controlling"
ctx = GLib.MainContext.default()
loop = GLib.MainLoop.new(ctx, False)
agent = Nice.Agent.new(ctx, Nice.Compatibility.RFC5245)
agent.set_property("upnp", False)
agent.set_property("ice-tcp", False)
agent.set_property("controlling-mode", controlling)
addr = Nice.Address()
addr.set_from_string("127.0.0.1")
agent.add_local_address(addr)
stream = agent.add_stream(1)
state = {"sent": False, "received": False}


def out(line):
    print(line, flush=True)


def receiver():
    # attach_recv() is not introspectable: a thread blocks in recv(), which also makes libnice
    # read its socket (and so process connectivity checks).
    while True:
        try:
            r = agent.recv(stream, 1)
        except GLib.Error:
            return
        # PyGObject returns only the length here (the buffer is not handed back).
        n, buf = r if isinstance(r, tuple) else (r, None)
        if n > 0 and not state["received"]:
            state["received"] = True
            GLib.idle_add(report, n, buf)


def report(n, buf):
    if buf:
        data = bytes(buf[:n]) if not isinstance(buf, str) else buf[:n].encode("latin-1")
        out(f"received {data.hex()}")
    else:
        out(f"received-len {n}")
    GLib.timeout_add(200, finish)
    return False


def finish():
    out("done")
    loop.quit()
    return False


def on_gathering_done(agent, stream_id):
    ok, ufrag, pwd = agent.get_local_credentials(stream_id)
    out(f"ufrag {ufrag}")
    out(f"pwd {pwd}")
    for c in agent.get_local_candidates(stream_id, 1):
        sdp = agent.generate_local_candidate_sdp(c)
        out(f"cand {sdp[len('a=candidate:'):] if sdp.startswith('a=candidate:') else sdp}")
    out("end")
    remote = []
    ruf = rpwd = None
    while True:
        line = sys.stdin.readline().strip()
        if line.startswith("ufrag "):
            ruf = line[6:]
        elif line.startswith("pwd "):
            rpwd = line[4:]
        elif line.startswith("cand "):
            c = agent.parse_remote_candidate_sdp(stream_id, "a=candidate:" + line[5:])
            if c is not None:
                remote.append(c)
        elif line == "end" or not line:
            break
    agent.set_remote_credentials(stream_id, ruf, rpwd)
    agent.set_remote_candidates(stream_id, 1, remote)
    agent.peer_candidate_gathering_done(stream_id)


def on_state(agent, stream_id, component_id, new_state):
    if new_state == Nice.ComponentState.READY and not state["sent"]:
        state["sent"] = True
        out("connected")
        msg = b"ping from libnice"
        agent.send(stream_id, component_id, len(msg), msg.decode("latin-1"))
    elif new_state == Nice.ComponentState.FAILED:
        out("failed")
        loop.quit()


agent.connect("candidate-gathering-done", on_gathering_done)
agent.connect("component-state-changed", on_state)
threading.Thread(target=receiver, daemon=True).start()
agent.gather_candidates(stream)
GLib.timeout_add_seconds(30, lambda: (out("timeout"), loop.quit()))
loop.run()
