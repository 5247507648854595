#!/usr/bin/env bash
# Proves the page-table engine (and every format) is Embedded-Swift clean: it
# compiles for bare-metal aarch64 and riscv64 with no Foundation, Glibc or
# existentials.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-embedded
mkdir -p "$out"
sources=(Sources/PageTables/Engine/*.swift Sources/PageTables/Schemes/*.swift)
if compgen -G "Sources/PageTables/Formats/*.swift" >/dev/null; then
  sources+=(Sources/PageTables/Formats/*.swift)
fi
if grep -lE '^import (Foundation|Glibc|Darwin)' "${sources[@]}"; then
  echo "error: the engine must not import Foundation or Glibc" >&2
  exit 1
fi
for target in aarch64-none-none-elf riscv64-none-none-eabi; do
  swiftc -target "$target" -enable-experimental-feature Embedded -wmo -parse-as-library \
    -Osize -Xfrontend -disable-stack-protector -strict-memory-safety \
    -Werror StrictMemorySafety -module-name PageTables \
    -c "${sources[@]}" -o "$out/PageTables-$target.o"
  echo "embedded: PageTables compiles for $target ($(wc -c <"$out/PageTables-$target.o") bytes)"
done
