#!/usr/bin/env bash
# Run one fuzz target for SECONDS on the stable toolchain.
#   fuzz/run.sh TARGET [SECONDS] [--asan]
# --asan builds with AddressSanitizer (RUSTC_BOOTSTRAP=1), for long runs.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: fuzz/run.sh TARGET [SECONDS] [--asan]}"
seconds="${2:-60}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p "corpus/$target"
dict=()
[ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
if [ "${3:-}" = "--asan" ]; then
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" "${dict[@]}"
else
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- -max_total_time="$seconds" "${dict[@]}"
fi
