#!/bin/sh
# Builds the bare-metal guest for one architecture: the page-table engine
# (Sources/PageTables) compiled with Embedded Swift, the guest program
# (Program/*.swift and <arch>/Machine.swift), the start stub and a small C runtime,
# linked with ld.lld into .build-guest/<arch>/guest.elf (x86_64: guest.bin too).
#
#   Examples/BareMetal/build.sh aarch64|riscv64|x86_64 [output-directory]
#
# Rebuilds only when a source changed (a hash of every input is kept next to the
# output). Needs only the Swift toolchain (swiftc, clang, ld.lld, llvm-objcopy).
set -eu

arch=${1:?usage: build.sh aarch64|riscv64|x86_64 [output-directory]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${2:-$root/.build-guest/$arch}
mkdir -p "$out"
# One build per output directory at a time (tests and the tool may race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.lock"
  flock 9
fi

tooldir=$(dirname "$(command -v swiftc)")
clang="$tooldir/clang"
lld="$tooldir/ld.lld"
objcopy="$tooldir/llvm-objcopy"
resource=$(dirname "$tooldir")/lib/swift/embedded

case "$arch" in
  aarch64)
    target=aarch64-none-none-elf
    cflags="--target=aarch64-none-elf -mgeneral-regs-only"
    swiftflags=""
    ;;
  riscv64)
    target=riscv64-none-none-eabi
    cflags="--target=riscv64-none-elf -march=rv64imac -mabi=lp64 -mcmodel=medany"
    swiftflags="-Xcc -mcmodel=medany"
    ;;
  x86_64)
    target=x86_64-unknown-none-elf
    cflags="--target=x86_64-none-elf -mno-red-zone -mgeneral-regs-only"
    swiftflags=""
    ;;
  *) echo "build.sh: unknown architecture $arch" >&2; exit 2 ;;
esac

engine="$root/Sources/PageTables/Engine/*.swift $root/Sources/PageTables/Formats/*.swift
  $root/Sources/PageTables/Schemes/*.swift"
program="$here/Program/*.swift $here/$arch/Machine.swift"
inputs="$engine $program $here/$arch/start.S $here/$arch/link.ld $here/runtime.c $0"
# shellcheck disable=SC2086
hash=$( (swiftc --version 2>&1; cat $inputs) | sha256sum | cut -d' ' -f1)
if [ -f "$out/guest.elf" ] && [ "$(cat "$out/hash" 2>/dev/null)" = "$hash" ]; then
  echo "$out/guest.elf is up to date"
  exit 0
fi

embedded="-target $target -enable-experimental-feature Embedded -wmo -parse-as-library -Osize
  -Xfrontend -disable-stack-protector -strict-memory-safety $swiftflags"

# The engine, as a module of its own: what an OS links.
# shellcheck disable=SC2086
swiftc $embedded -module-name PageTables -emit-module -emit-module-path "$out/PageTables.swiftmodule" \
  -c $engine -o "$out/PageTables.o"
# The guest program, importing it.
# shellcheck disable=SC2086
swiftc $embedded -enable-experimental-feature Extern -module-name Guest -I "$out" \
  -c $program -o "$out/Guest.o"
# shellcheck disable=SC2086
"$clang" $cflags -c "$here/$arch/start.S" -o "$out/start.o"
# shellcheck disable=SC2086
"$clang" $cflags -ffreestanding -fno-builtin -O2 -c "$here/runtime.c" -o "$out/runtime.o"
"$lld" -T "$here/$arch/link.ld" -o "$out/guest.elf" "$out/start.o" "$out/runtime.o" \
  "$out/Guest.o" "$out/PageTables.o" "$resource/$target/libswiftUnicodeDataTables.a"
if [ "$arch" = x86_64 ]; then
  "$objcopy" -O binary "$out/guest.elf" "$out/guest.bin"
fi
echo "$hash" > "$out/hash"
echo "built $out/guest.elf"
