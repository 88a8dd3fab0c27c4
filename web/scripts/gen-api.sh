#!/usr/bin/env bash
# Generates src/api/schema.d.ts from the server's OpenAPI spec.
#
#   npm run gen:api     obtain the spec, write openapi.json and src/api/schema.d.ts
#   npm run check:api   obtain the spec, generate into a temp file, fail if the
#                       committed src/api/schema.d.ts differs
#
# The spec comes from `cargo run -q --bin flowtrack -- openapi` (run from the repo
# root) when that subcommand exists; otherwise from a running server at
# $FLOWTRACK_OPENAPI_URL (default http://127.0.0.1:8100/openapi.json).
# FLOWTRACK_OPENAPI_FILE=path uses a spec file as it is (e.g. the committed openapi.json).
set -euo pipefail

WEB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT_DIR="$(cd "$WEB_DIR/.." && pwd)"
URL="${FLOWTRACK_OPENAPI_URL:-http://127.0.0.1:8100/openapi.json}"
CHECK=0
[[ "${1:-}" == "--check" ]] && CHECK=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
spec="$tmp/openapi.json"

is_spec() { node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!s.openapi||!s.paths) process.exit(1)' "$1" 2>/dev/null; }

if [[ -n "${FLOWTRACK_OPENAPI_FILE:-}" ]]; then
  cp "$FLOWTRACK_OPENAPI_FILE" "$spec"
  echo "gen-api: spec from $FLOWTRACK_OPENAPI_FILE" >&2
elif command -v cargo >/dev/null 2>&1 && [[ -f "$ROOT_DIR/Cargo.toml" ]] \
  && (cd "$ROOT_DIR" && cargo run -q --bin flowtrack -- openapi >"$spec" 2>"$tmp/cargo.err") \
  && is_spec "$spec"; then
  echo "gen-api: spec from 'flowtrack openapi'" >&2
elif curl -fsS "$URL" -o "$spec" && is_spec "$spec"; then
  echo "gen-api: spec from $URL" >&2
else
  echo "gen-api: could not obtain the OpenAPI spec (no 'flowtrack openapi' subcommand and no server at $URL)" >&2
  exit 1
fi

# Stable formatting so that diffs stay readable.
node -e 'const fs=require("fs");const p=process.argv[1];fs.writeFileSync(p, JSON.stringify(JSON.parse(fs.readFileSync(p,"utf8")),null,2)+"\n")' "$spec"

out="$tmp/schema.d.ts"
(cd "$WEB_DIR" && npx --no-install openapi-typescript "$spec" -o "$out" >/dev/null)

if [[ $CHECK == 1 ]]; then
  if ! diff -u "$WEB_DIR/src/api/schema.d.ts" "$out" >"$tmp/diff"; then
    head -n 80 "$tmp/diff" >&2
    echo "check:api: src/api/schema.d.ts is out of date with the server's OpenAPI spec; run 'npm run gen:api' and commit" >&2
    exit 1
  fi
  echo "check:api: src/api/schema.d.ts is up to date" >&2
else
  cp "$spec" "$WEB_DIR/openapi.json"
  cp "$out" "$WEB_DIR/src/api/schema.d.ts"
  echo "gen-api: wrote openapi.json and src/api/schema.d.ts" >&2
fi
