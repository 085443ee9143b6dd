#!/usr/bin/env bash
# The format check of `make test`: every C++ and CUDA source as clang-format (.clang-format, Debian's
# clang-format, which `make test` installs) would write it. Run `clang-format -i FILE` to fix a file.
set -uo pipefail
cd "${1:?usage: check_format.sh SOURCE_DIR}"
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (make test installs it)" >&2; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
else
  mapfile -t files < <(find cli engine tests fuzz bench -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh')
fi
if ! clang-format --dry-run --Werror --style=file "${files[@]}" 2>"${TMPDIR:-/tmp}/check_format.$$"; then
  sed -nE 's/^([^ :]+):[0-9]+:[0-9]+: (error|warning): .*/not formatted: \1/p' "${TMPDIR:-/tmp}/check_format.$$" |
    sort -u >&2
  rm -f "${TMPDIR:-/tmp}/check_format.$$"
  echo "check_format: run clang-format -i on the files above" >&2
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/check_format.$$"
echo "check_format: ${#files[@]} files formatted"
