#!/usr/bin/env bash
# The README's screenshots of the latent explorer: the explorer section of
# output/report.html (from a default run) alone on a page, taken by headless
# Chromium into docs/images/explorer.png (a 1000 px wide window) and
# docs/images/explorer-phone.png (a phone's 390 CSS pixels wide, 1180 tall to
# reach the decoded digit, at 2 device pixels each).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 - "$tmp/explorer.html" <<'PY'
import sys
s = open("output/report.html").read()
i = s.rindex("<style>", 0, s.index('<section id="explorer"'))
j = s.index('<h2 id="configuration">')
head = s[: s.index("</head>")]
open(sys.argv[1], "w").write(head + '</head>\n<body style="margin:12px">\n' + s[i:j] + "</body></html>")
PY
shoot() {  # shoot WIDTH,HEIGHT SCALE FILE
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --hide-scrollbars --window-size="$1" \
    --force-device-scale-factor="$2" --virtual-time-budget=3000 --screenshot="$3" \
    "file://$tmp/explorer.html"
}
shoot 1000,900 1 docs/images/explorer.png
shoot 390,1180 2 docs/images/explorer-phone.png
rm -rf "$tmp"
