#!/usr/bin/env bash
# Regenerates Shared/IPC/ipc.pb.swift from Shared/IPC/ipc.proto.
# Needs protoc (Debian: protobuf-compiler) and builds protoc-gen-swift from the swift-protobuf
# package this project already depends on, so the generator matches the runtime's version.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v protoc >/dev/null || apt-get install -y -qq protobuf-compiler
swift build -c release --product protoc-gen-swift >/dev/null
plugin="$(swift build -c release --show-bin-path)/protoc-gen-swift"
protoc --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public --swift_out=Shared/IPC \
    --proto_path=Shared/IPC Shared/IPC/ipc.proto
echo "generated Shared/IPC/ipc.pb.swift"
