#!/usr/bin/env bash
# Copies this worktree (without build outputs and .git) to /work/main/.carry/gpu for a device run.
set -e
SRC=$(cd "$(dirname "$0")/.." && pwd)
DST=/work/main/.carry/gpu
rm -rf "$DST"; mkdir -p "$DST"
tar -C "$SRC" --exclude=./.git --exclude='*/bin' --exclude='*/obj' --exclude=./native/build --exclude=./out -cf - . | tar -C "$DST" -xf -
[ -d /work/main/.carry/bundle ] || true
du -sh "$DST"
