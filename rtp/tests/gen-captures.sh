#!/bin/sh
# Regenerates rtp/tests/captures/: real RTP packets sent by headless Chromium (Debian `chromium`,
# driven by playwright-core from npm) between two peer connections over loopback, captured with tshark
# inside a private network namespace. SRTP leaves the RTP header and its extensions in clear, so the
# headers are real Chromium headers; tshark's own reading of each header is stored beside it for
# rtp/tests/captures.rs to compare with ours. Run as root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/captures"
work=${RTP_CAPTURE_DIR:-/tmp/sansrtc-rtp-capture}
command -v chromium >/dev/null && command -v tshark >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium tshark
}
mkdir -p "$work"
[ -d "$work/node_modules/playwright-core" ] || (cd "$work" && npm init -y >/dev/null && npm install -q playwright-core)
cp "$here/gen/capture.js" "$work/"
rm -f "$work/cap.pcap"
unshare --net sh -c "
  ip link set lo up
  tshark -q -i lo -f udp -w '$work/cap.pcap' 2>/dev/null &
  pid=\$!
  sleep 2
  cd '$work' && node capture.js 4 > extmap.txt
  sleep 1
  kill \$pid; wait \$pid || true
"
# tshark's heuristic RTP dissector reads every RTP header; keep up to 20 unpadded packets of each
# payload type (SRTP encrypts the padding count, so padded packets cannot be parsed in clear)
tshark -r "$work/cap.pcap" --enable-heuristic rtp_udp -Y 'rtp && !rtcp' -T fields -E separator=' ' \
  -e udp.payload -e rtp.ssrc -e rtp.seq -e rtp.timestamp -e rtp.p_type -e rtp.marker -e rtp.ext.rfc5285.id \
  2>/dev/null > "$work/rtp.txt"
python3 - "$work/rtp.txt" "$work/extmap.txt" "$out/chromium-rtp.txt" <<'PYEOF'
import sys
rows, extmap, out = sys.argv[1:4]
kept, per_pt = [], {}
for line in open(rows):
    f = line.split()
    if len(f) < 6 or int(f[0][:2], 16) & 0x20:
        continue
    pt = int(f[4])
    if per_pt.get(pt, 0) < 20:
        per_pt[pt] = per_pt.get(pt, 0) + 1
        kept.append(' '.join(f + ['-'] * (7 - len(f))))
with open(out, 'w') as o:
    o.write('# RTP packets sent by headless Chromium over loopback (SRTP: headers in clear), one per line:\n')
    o.write('# hex, then tshark\'s ssrc seq timestamp payload-type marker extension-ids\n')
    for line in open(extmap):
        o.write('# ' + line)
    for k in kept:
        o.write(k + '\n')
print(out, len(kept), 'packets', per_pt)
PYEOF
