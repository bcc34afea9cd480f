#!/usr/bin/env bash
# Installs the SDK alone, builds sdk/examples/hello_provider against it as a third party would,
# and checks the plugin's symbol hygiene. Leaves the plugin at <out_dir>/libhello_provider.so
# for the integration test that loads it into a running gateway.
#
# usage: sdk_out_of_tree_test.sh <repo_root> <out_dir> [cmake] [c_compiler] [cxx_compiler]
set -euo pipefail

repo=$1
out_dir=$2
cmake=${3:-cmake}
cc=${4:-}
cxx=${5:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sy-sdk-oot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

compilers=()
[[ -n $cc ]] && compilers+=("-DCMAKE_C_COMPILER=$cc")
[[ -n $cxx ]] && compilers+=("-DCMAKE_CXX_COMPILER=$cxx")

rm -f "$out_dir/libhello_provider.so"  # never leave a stale plugin behind a failed run

echo "== configure + install the SDK alone"
"$cmake" -S "$repo/sdk" -B "$tmp/sdk-build" "${compilers[@]}" >"$tmp/sdk.log" 2>&1 ||
  { cat "$tmp/sdk.log"; exit 1; }
"$cmake" --install "$tmp/sdk-build" --prefix "$tmp/prefix" >>"$tmp/sdk.log" 2>&1 ||
  { cat "$tmp/sdk.log"; exit 1; }
test -f "$tmp/prefix/include/switchyard/abi.h"
test -f "$tmp/prefix/include/switchyard/sdk.hpp"

echo "== build the example out of tree (source copied outside the repo)"
cp -r "$repo/sdk/examples/hello_provider" "$tmp/src"
"$cmake" -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${compilers[@]}" >"$tmp/example.log" 2>&1 ||
  { cat "$tmp/example.log"; exit 1; }
"$cmake" --build "$tmp/build" -j 2 >>"$tmp/example.log" 2>&1 ||
  { cat "$tmp/example.log"; exit 1; }
so="$tmp/build/libhello_provider.so"
test -f "$so"

echo "== exported symbols"
exported=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort)
echo "$exported"
if [[ $exported != "sy_plugin_entry" ]]; then
  echo "FAIL: the plugin must export exactly sy_plugin_entry" >&2
  exit 1
fi

echo "== STB_GNU_UNIQUE symbols (must be none)"
if readelf -sW "$so" | grep -w UNIQUE; then
  echo "FAIL: UNIQUE symbols pin the library in memory and break hot unload" >&2
  exit 1
fi

mkdir -p "$out_dir"
cp "$so" "$out_dir/libhello_provider.so.tmp"
mv -f "$out_dir/libhello_provider.so.tmp" "$out_dir/libhello_provider.so"
echo "OK: $out_dir/libhello_provider.so"
