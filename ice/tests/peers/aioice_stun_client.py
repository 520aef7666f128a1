"""Drives sansrtc's STUN responder with aioice's STUN message code (a third-party implementation).

Usage: aioice_stun_client.py HOST PORT UFRAG PASSWORD
Prints one JSON object per scenario on stdout.
"""
import json
import socket
import struct
import sys

from aioice import stun

host, port, ufrag, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
sock = socket.socket(family, socket.SOCK_DGRAM)
sock.bind((host, 0))
sock.settimeout(5)
local = sock.getsockname()[:2]


def request(msg_bytes, key=None):
    sock.sendto(msg_bytes, (host, port))
    data, _ = sock.recvfrom(2048)
    resp = stun.parse_message(data)  # verifies FINGERPRINT when present
    out = {
        "class": int(resp.message_class),
        "method": int(resp.message_method),
        "transaction_id": resp.transaction_id.hex(),
        "has_fingerprint": "FINGERPRINT" in resp.attributes,
        "has_integrity": "MESSAGE-INTEGRITY" in resp.attributes,
    }
    if key is not None and out["has_integrity"]:
        out["integrity_ok"] = resp.check_message_integrity(key)
    if "XOR-MAPPED-ADDRESS" in resp.attributes:
        ip, p = resp.attributes["XOR-MAPPED-ADDRESS"]
        out["mapped_matches"] = (ip == local[0] and p == local[1])
    if "ERROR-CODE" in resp.attributes:
        out["error"] = resp.attributes["ERROR-CODE"][0]
    # aioice has no UNKNOWN-ATTRIBUTES codec: read that attribute from the raw bytes.
    pos = 20
    while pos + 4 <= len(data):
        attr_type, attr_len = struct.unpack("!HH", data[pos : pos + 4])
        if attr_type == 0x000A:
            v = data[pos + 4 : pos + 4 + attr_len]
            out["unknown"] = [struct.unpack("!H", v[i : i + 2])[0] for i in range(0, len(v), 2)]
        pos += 4 + attr_len + stun.padding_length(attr_len)
    return out


def binding(username=None, key=None, fingerprint=True):
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    if username is not None:
        m.attributes["USERNAME"] = username
    m.attributes["PRIORITY"] = 1853824767
    m.attributes["ICE-CONTROLLING"] = 0x0123456789ABCDEF
    m.attributes["USE-CANDIDATE"] = None
    if key is not None:
        m.add_message_integrity(key)  # also adds FINGERPRINT
    elif fingerprint:
        m.add_fingerprint()
    return m


key = password.encode()
results = {}

m = binding(f"{ufrag}:peer", key)
r = request(bytes(m), key)
r["tid_matches"] = r["transaction_id"] == m.transaction_id.hex()
results["ok"] = r

results["wrong_password"] = request(bytes(binding(f"{ufrag}:peer", b"not-the-password")))
results["wrong_user"] = request(bytes(binding("someoneelse:peer", key)))
results["no_integrity"] = request(bytes(binding(f"{ufrag}:peer")))

# Unknown comprehension-required attribute 0x7F01 before MESSAGE-INTEGRITY, authenticated.
m = binding(f"{ufrag}:peer", fingerprint=False)
raw = bytes(m) + struct.pack("!HH", 0x7F01, 4) + b"\x01\x02\x03\x04"
raw = stun.set_body_length(raw, len(raw) - 20)
raw = raw + struct.pack("!HH", 0x0008, 20) + stun.message_integrity(raw, key)
raw = stun.set_body_length(raw, len(raw) - 20)
raw = raw + struct.pack("!HH", 0x8028, 4) + struct.pack("!I", stun.message_fingerprint(raw))
raw = stun.set_body_length(raw, len(raw) - 20)
results["unknown_attribute"] = request(raw, key)

print(json.dumps(results))
