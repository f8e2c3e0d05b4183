#!/usr/bin/env bash
# Regenerates Shared/IPC/ipc.pb.swift from Shared/IPC/ipc.proto (or, with --check, fails if the
# committed file differs from what the schema generates).
# Needs protoc (Debian: protobuf-compiler) and builds protoc-gen-swift from the swift-protobuf
# package this project already depends on, so the generator matches the runtime's version.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v protoc >/dev/null || { apt-get install -y -qq protobuf-compiler >/dev/null; }
swift build -c release --product protoc-gen-swift 2>&1 | grep -E "error|warning: unable" || true
plugin="$(swift build -c release --show-bin-path)/protoc-gen-swift"
out=Shared/IPC
if [ "${1:-}" = --check ]; then out=$(mktemp -d); fi
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out="$out" \
    --proto_path=Shared/IPC Shared/IPC/ipc.proto
if [ "${1:-}" = --check ]; then
    diff -u Shared/IPC/ipc.pb.swift "$out/ipc.pb.swift" || { echo "ipc.pb.swift is stale: run Shared/IPC/generate.sh"; exit 1; }
    rm -rf "$out"
    echo "Shared/IPC/ipc.pb.swift matches ipc.proto"
else
    echo "generated Shared/IPC/ipc.pb.swift"
fi
