#!/usr/bin/env bash
# Renders a report.html to a PNG with headless Chromium, to look at the report as a person
# sees it (Debian: apt-get install chromium).
#   scripts/render-report.sh report/report.html report/report.png [width] [height]
set -euo pipefail
html="$(realpath "$1")"
png="$2"
width="${3:-1300}"
height="${4:-2400}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "error: no Chromium found; apt-get install chromium" >&2
  exit 2
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --screenshot="$png" --window-size="${width},${height}" "file://$html" 2>/dev/null
test -s "$png"
echo "$png"
