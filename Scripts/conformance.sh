#!/bin/sh
# The QEMU conformance suite in one command: installs QEMU if it is missing
# (Scripts/install-qemu.sh), builds the bare-metal guests and runs every
# configuration (`pgtable conformance`). Extra arguments go to the command, e.g.
#   Scripts/conformance.sh --seeds 3 --filter ARM64
set -eu
cd "$(dirname "$0")/.."
Scripts/install-qemu.sh
swift run --scratch-path "${SCRATCH_PATH:-.build}" pgtable conformance "$@"
