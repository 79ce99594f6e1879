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
# server_session runs a whole server (its stages, the journal's background
# threads) in the fuzzing process: libFuzzer's per-input leak check races
# with those threads (it saw a preallocation thread's live locals as
# leaked), so leaks are not checked for it; ASan's other checks stay on.
leaks=()
[ "$target" = server_session ] && leaks=(-detect_leaks=0)
if [ "${3:-}" = "--asan" ]; then
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" "${dict[@]}" "${leaks[@]}"
else
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- -max_total_time="$seconds" "${dict[@]}"
fi
