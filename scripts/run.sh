#!/bin/sh
# `make run`: the chat server, and how to join it -- printed only once it
# listens, with the address it really bound (a bind that fails prints its
# error and no invitation).
#
#   sh scripts/run.sh SOCKIT ADDRESS
#
# sockit runs in the foreground (exec), so its exit status is make's and
# Ctrl-C reaches it as usual; a reader in the background copies its stderr
# through and adds the "join with" line after the first "listening on".
set -eu
sockit=$1
addr=$2
fifo=$(mktemp -u "${TMPDIR:-/tmp}/sockit-run.XXXXXX")
mkfifo -m 600 "$fifo"

# Opens the fifo (waiting for sockit to open its end), removes its name,
# and copies the lines.  It ends at sockit's end of stderr.
{
  rm -f "$fifo"
  joined=
  while IFS= read -r line; do
    printf '%s\n' "$line" >&2
    [ -z "$joined" ] || continue
    case $line in
    "listening on tcp://"*)
      where=${line#listening on tcp://}
      host=$(printf '%s' "${where%:*}" | tr -d '[]')
      printf 'sockit chat on %s -- join with: %s connect -f line %s  (or: nc %s %s)\n' \
        "$where" "$sockit" "$where" "$host" "${where##*:}"
      joined=yes
      ;;
    esac
  done
} <"$fifo" &

exec "$sockit" listen -v -s chat "$addr" 2>"$fifo"
