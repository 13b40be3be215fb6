#!/usr/bin/env bash
# p11_crypto encrypt+decrypt throughput next to SoftHSM2's own AES-GCM (the ceiling), measured
# in the same run on a fresh SoftHSM2 token in a temporary directory, as a ratio.
#
# Usage: bench/p11.sh [--seconds N] [--threads N] [--payload BYTES]   (defaults 5, 2, 32)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo build --release --quiet -p p11_bench
eval "$(scripts/softhsm init coffer-bench)"
trap 'scripts/softhsm remove "$SOFTHSM_DIR"' EXIT
export SOFTHSM2_CONF PKCS11_MODULE HSM_TOKEN HSM_PIN
"${CARGO_TARGET_DIR:-$root/target}/release/p11_bench" "$@"
