#!/usr/bin/env bash
# Builds and runs Examples/Adopter, a package that depends on PageTables the way an
# adopter does: by git URL and version. The URL is a local bare repository made
# here from this checkout's HEAD (committed work only) and tagged with the version
# in Sources/PageTablesTools/PackageVersion.swift; SwiftPM resolves the version
# from that tag, clones, builds, and the example (the README's) runs. It must exit
# 0 and print nothing on standard error (no leak report).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
version="$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/PageTablesTools/PackageVersion.swift)"
repository=.build-adopter/PageTables.git
rm -rf "$repository" .build-adopter/cache Examples/Adopter/Package.resolved
git init --quiet --bare "$repository"
# --update-shallow: CI may hand us a shallow clone.
git -C "$repository" fetch --quiet --update-shallow "$root" HEAD
git -C "$repository" update-ref refs/heads/main FETCH_HEAD
git -C "$repository" symbolic-ref HEAD refs/heads/main
git -C "$repository" tag "$version" main
echo "adopter: PageTables $version at $(git -C "$repository" rev-parse --short main)"

swift build --package-path Examples/Adopter --scratch-path .build-adopter/build \
  --cache-path .build-adopter/cache 2>&1 | tail -n 3
binary="$(swift build --package-path Examples/Adopter --scratch-path .build-adopter/build \
  --cache-path .build-adopter/cache --show-bin-path)/Adopter"
"$binary" >.build-adopter/stdout 2>.build-adopter/stderr || {
  cat .build-adopter/stdout .build-adopter/stderr >&2
  echo "error: the adopter example failed" >&2
  exit 1
}
cat .build-adopter/stdout
if [ -s .build-adopter/stderr ]; then
  cat .build-adopter/stderr >&2
  echo "error: the adopter example wrote to standard error (a leak report?)" >&2
  exit 1
fi
grep -q '^0x8020_1234 (2 MiB leaf at level 2, rw-)$' .build-adopter/stdout
echo "adopter: the README example built against PageTables $version and ran cleanly"
