#!/usr/bin/env bash
# The end of scripts/test.sh: from the output of `cargo test` (OUTPUT) and the skips the
# tests recorded (SKIPS: one `TEST<TAB>WHY` line each, written by tests/it/harness/skip.rs
# through NETTOOL_SKIPS), one line per skipped test with why, then one line counting the
# passed, failed, skipped and ignored tests, naming the skipped ones. A skipped test
# returned early, so libtest counted it as passed: it is counted as skipped instead.
#
#   scripts/test-summary.sh OUTPUT SKIPS
set -euo pipefail
output=$1
skips=$2
[ -f "$skips" ] || skips=/dev/null

read -r passed failed ignored results < <(
    awk '/^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed;/) p += $i
            if ($(i+1) ~ /^failed;/) f += $i
            if ($(i+1) ~ /^ignored;/) g += $i
        }
        n++
    } END { print p+0, f+0, g+0, n+0 }' "$output"
)
skipped=$(cut -f1 "$skips" | sort -u | grep -c . || true)
names=$(cut -f1 "$skips" | sort -u | paste -sd, - | sed 's/,/, /g')
sort -u "$skips" | while IFS=$'\t' read -r test why; do
    echo "skipped: $test: $why"
done
if [ "$results" -eq 0 ]; then
    echo "scripts/test.sh: no test ran (see the errors above)"
    exit 0
fi
line="scripts/test.sh: $((passed - skipped)) passed, $failed failed, $skipped skipped"
[ "$skipped" -gt 0 ] && line+=" ($names)"
echo "$line, $ignored ignored"
