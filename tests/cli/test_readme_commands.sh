# README.md's command table comes from the binary's command table: this fails when they drift.
source "$(dirname "$0")/lib.sh"
expect_rc 0 "$DLCTL" --help
# CLI11 lists subcommands as "  NAME   SUMMARY" after a "Subcommands:" header.
awk '/^Subcommands:/{on=1; next} on && NF {name=$1; $1=""; sub(/^ +/, ""); print name "\t" $0}' "$T/out" >"$T/commands"
[ "$(wc -l <"$T/commands")" -ge 6 ] || fail "could not read the commands from --help"
while IFS=$'\t' read -r name summary; do
  grep -qF "| \`dlctl $name\` | $summary |" "$SRC/README.md" || fail "README.md lacks the row for '$name': | \`dlctl $name\` | $summary |"
done <"$T/commands"
echo "README command table matches: $(wc -l <"$T/commands") commands"
