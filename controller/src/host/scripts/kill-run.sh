#!/bin/sh
# Stops the run of the state directory __S and proves it stopped (killRunCommand). Prints one line:
#   none       no run was ever started; the gate is taken now (with `exit __CODE __KILLED_STEP`),
#              so no late start can run after this
#   finished   the run had ended by itself (its `exit` stands)
#   killed <n> the run's session had n processes; all got TERM, KILL after __GRACE s (frozen
#              first, so none forks past the signal), and none is left; `exit __CODE
#              __KILLED_STEP` is recorded unless the run wrote its own first
#   alive <n>  n processes would not die (exit status 1)
# The run is found by its record (`run`: session id, start time, boot id), never by a pattern: a
# process counts when its session is the run's. A PID stays reserved while a session carries its
# number, so the members of that session are the run's own as long as its leader is (its start time
# matches) or is gone. This command runs in a session of its own and so never signals itself.
# shellcheck disable=SC2086,SC2015 # stat fields and the PID list split on purpose; `continue` is the else
[ -d __S ] || { echo none; exit 0; }
set -C
if { true > __S/started; } 2>/dev/null; then set +C; echo "__CODE __KILLED_STEP" > __S/exit; echo none; exit 0; fi
set +C
# The run writes its record right after the gate: wait a moment for it.
i=0; while [ ! -s __S/run ] && [ ! -s __S/exit ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -s __S/exit ] || { echo finished; exit 0; }
sid=; st=; boot=; now=
{ read -r sid st boot < __S/run; read -r now < /proc/sys/kernel/random/boot_id; } 2>/dev/null
[ -n "$sid" ] || { echo "alive 0"; exit 1; }
gone() { [ -s __S/exit ] || { echo "__CODE __KILLED_STEP" > __S/exit.new && mv -f __S/exit.new __S/exit; }; }
# Rebooted since the run began: nothing of it is left.
[ "$boot" = "$now" ] || { gone; echo "killed 0"; exit 0; }
# The live processes of the run's session (cr_m) and their number (cr_k); zombies do not count.
# With `freeze`, each is stopped the moment it is found and the walk repeats until it finds none
# it has not stopped: a stopped process cannot fork, so the list then holds the whole session (a
# list walked once misses a child forked behind the walk, and signals sent to it leave that child).
members() {
  cr_fz=${1-}; cr_m=" "; cr_k=0; cr_new=1
  if { read -r cr_l < "/proc/$sid/stat"; } 2>/dev/null; then
    set -- ${cr_l##*) }
    [ "${20}" = "$st" ] || return 0
  fi
  while [ "$cr_new" = 1 ]; do cr_new=0
    for cr_s in /proc/[0-9]*/stat; do
      { read -r cr_l < "$cr_s"; } 2>/dev/null || continue
      set -- ${cr_l##*) }
      [ "$4" = "$sid" ] && [ "$1" != Z ] || continue
      cr_q=${cr_s#/proc/}; cr_q=${cr_q%/stat}
      case "$cr_m" in *" $cr_q "*) continue ;; esac
      cr_m="$cr_m$cr_q "; cr_k=$((cr_k + 1))
      [ "$cr_fz" = freeze ] || continue
      kill -STOP "$cr_q" 2>/dev/null; cr_new=1
    done
  done
}
members freeze
total=$cr_k
if [ "$cr_k" -gt 0 ]; then
  kill -TERM $cr_m 2>/dev/null; kill -CONT $cr_m 2>/dev/null
  i=0; while members; [ "$cr_k" -gt 0 ] && [ $i -lt $((__GRACE * 5)) ]; do sleep 0.2; i=$((i + 1)); done
  [ "$cr_k" = 0 ] || { members freeze; kill -KILL $cr_m 2>/dev/null; }
  i=0; while members; [ "$cr_k" -gt 0 ] && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
fi
[ "$cr_k" = 0 ] || { echo "alive $cr_k"; exit 1; }
gone
echo "killed $total"
