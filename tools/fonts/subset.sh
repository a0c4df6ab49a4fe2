#!/usr/bin/env bash
# Regenerates crates/leakhound-report/assets/DejaVuSans-subset.ttf from Debian's fonts-dejavu-core.
# Needs: apt-get install fonts-dejavu-core; pip install fonttools
set -euo pipefail
cd "$(dirname "$0")/../.."
pyftsubset /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
  --unicodes="U+0020-007E,U+00B0,U+00B1,U+00B5,U+00D7,U+2013,U+2014,U+2212,U+2026" \
  --output-file=crates/leakhound-report/assets/DejaVuSans-subset.ttf
