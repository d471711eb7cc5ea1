#!/usr/bin/env bash
# Runs every test: brings the local stack up (installing what it needs), runs the unit and
# integration tests, and ends with one line "N passed, N failed". Exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stack/stack.sh up
log=$(mktemp)
set +e
scripts/deno test --allow-all tests/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
rm -f "$log"
passed=$(sed -n 's/.*| \([0-9]*\) passed.*/\1/p' <<<"$summary")
failed=$(sed -n 's/.*| \([0-9]*\) failed.*/\1/p' <<<"$summary")
ignored=$(sed -n 's/.*| \([0-9]*\) ignored.*/\1/p' <<<"$summary")
if [ -z "$passed" ]; then
  echo "0 passed, 1 failed"
  echo "deno test printed no summary (exit status $status)" >&2
  exit 1
fi
[ -n "$ignored" ] && echo "$ignored skipped (ignored by deno test; each says why above)"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
