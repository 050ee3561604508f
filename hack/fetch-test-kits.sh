#!/usr/bin/env bash
# Fetch the test kits listed in hack/test-kits.lock (CloudEvents conformance data, the
# CESQL TCK) into DEST, laid out like ../shared, each file checked against its sha256.
# For machines without ../shared (the GitHub workflows); here the tests read ../shared.
# Usage: hack/fetch-test-kits.sh DEST   then run the tests with SHARED_DIR=DEST.
# Idempotent: a file already present with the right checksum is not fetched again.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dest=${1:?usage: hack/fetch-test-kits.sh DEST}
lock=$REPO_ROOT/hack/test-kits.lock

matches() { # file, sha256
  [[ -f $1 ]] && [[ $(sha256sum "$1" | awk '{print $1}') == "$2" ]]
}

fetched=0
while read -r sum path url; do
  [[ -z $sum || $sum == \#* ]] && continue
  target=$dest/$path
  matches "$target" "$sum" && continue
  mkdir -p "$(dirname "$target")"
  curl -fsSL --retry 3 -o "$target.part" "$url" || die "could not fetch $url"
  if ! matches "$target.part" "$sum"; then
    rm -f "$target.part"
    die "checksum mismatch for $path (from $url): expected $sum"
  fi
  mv "$target.part" "$target"
  fetched=$((fetched + 1))
done <"$lock"
log "test kits in $dest ($fetched fetched); run the tests with SHARED_DIR=$dest"
