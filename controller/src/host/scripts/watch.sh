#!/bin/sh
# Reports a run until it ends (watchCommand): prints each new progress line of the state directory
# __S as it appears ("progress <line>") and finally "exit <code> <step>", or "exit none" when no
# run was ever started. Exits at once when the run is already over.
#
# It runs for the whole bootstrap on the machine, so it is cheap: the progress file is read through
# a descriptor kept open (shell builtins only; each line is one small append by the runner), and
# the only process it starts is `sleep`: every __POLL seconds for the first __FAST polls (ten
# seconds; __RATE polls a second), then every second.
n=0; open=0; last=0
# New progress lines, from where the last read stopped. A line found in part (its rest not yet
# written) is kept and printed whole once its end is read, or as it is when the run has ended.
part=
drain() { if [ $open = 0 ] && [ -f __S/progress ]; then exec 3<__S/progress; open=1; fi; if [ $open = 1 ]; then line=; while IFS= read -r line <&3; do printf 'progress %s\n' "$part$line"; part=; done; part=$part$line; fi; }
while :; do
  n=$((n + 1))
  # Every ~2 s a "tick" line: when the session is gone (controller killed, link cut) the write
  # fails and the loop dies with it, instead of polling forever on the machine.
  now=$(( n <= __FAST ? n * 10 / __RATE : 10 + n - __FAST ))
  if [ $((now - last)) -ge 2 ]; then last=$now; echo tick || exit 0; fi
  # Look for the end first, then print progress: lines written just before the end are not lost.
  # Non-empty: the run writes it in one write, so an empty file is one being written.
  done=0; [ -s __S/exit ] && done=1
  drain
  if [ "$done" = 1 ]; then [ -z "$part" ] || printf 'progress %s\n' "$part"; read -r code step < __S/exit; echo "exit $code $step"; exit 0; fi
  [ -e __S/started ] || { echo "exit none"; exit 0; }
  # shellcheck disable=SC2170 # __FAST is filled in with a number
  if [ $n -le __FAST ]; then sleep __POLL; else sleep 1; fi
done
