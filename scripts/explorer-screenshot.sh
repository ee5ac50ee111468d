#!/usr/bin/env bash
# The README's screenshot of the latent explorer: the explorer section of
# output/report.html (from a default run) alone on a page, taken by headless
# Chromium into docs/images/explorer.png.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 - "$tmp/explorer.html" <<'PY'
import sys
s = open("output/report.html").read()
i = s.rindex("<style>", 0, s.index('<section id="explorer"'))
j = s.index("<h2>Configuration</h2>")
head = s[: s.index("</head>")]
open(sys.argv[1], "w").write(head + '</head>\n<body style="margin:12px">\n' + s[i:j] + "</body></html>")
PY
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/profile" --hide-scrollbars --window-size=1000,900 \
  --virtual-time-budget=3000 --screenshot=docs/images/explorer.png "file://$tmp/explorer.html"
rm -rf "$tmp"
