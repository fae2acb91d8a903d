#!/bin/sh
# Stops what a run of the state directory __S left and proves it stopped. __MODE says what:
#   run   the run itself, while it runs (killRunCommand): its setsid session
#   left  after the cleanup commands (leftoversCommand): every live process of the run's session
#         and every process carrying the run's mark in its environment (CAPI_REMOTE_RUN, exported
#         by the runner to its steps: it survives `setsid`, a double fork and reparenting to
#         init), whether the run finished or not
# Prints one line:
#   none       no run was ever started; in mode run the gate is taken now (with `exit __CODE
#              __KILLED_STEP`), so no late start can run after this
#   finished   (mode run) the run had ended by itself (its `exit` stands)
#   killed <n> n processes were found; all got TERM, KILL after __GRACE s (frozen first, so none
#              forks past the signal), and none is left; in mode run `exit __CODE __KILLED_STEP`
#              is recorded unless the run wrote its own first
#   alive <n>  n processes would not die (exit status 1)
# The run is found by its record (`run`: session id, start time, boot id), never by a pattern: a
# process counts when its session is the run's, or (mode left) when its environment holds
# CAPI_REMOTE_RUN=<session id>.<start time>. A PID stays reserved while a session carries its
# number, so the members of that session are the run's own as long as its leader is (its start
# time matches) or is gone. This command runs in a session of its own, without the mark, and so
# never signals itself.
# shellcheck disable=SC2086,SC2015,SC2013 # stat fields and the PID lists split on purpose (paths under /proc have no blanks); `continue` is the else
[ -d __S ] || { echo none; exit 0; }
mode=__MODE
if [ "$mode" = run ]; then
  set -C
  if { true > __S/started; } 2>/dev/null; then set +C; echo "__CODE __KILLED_STEP" > __S/exit; echo none; exit 0; fi
  set +C
  # The run writes its record right after the gate: wait a moment for it.
  i=0; while [ ! -s __S/run ] && [ ! -s __S/exit ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
  [ ! -s __S/exit ] || { echo finished; exit 0; }
fi
sid=; st=; boot=; now=
{ read -r sid st boot < __S/run; read -r now < /proc/sys/kernel/random/boot_id; } 2>/dev/null
# Mode left: a run that never wrote its record never ran a step (the first kill waited for it).
[ -n "$sid" ] || [ "$mode" = run ] || { echo none; exit 0; }
[ -n "$sid" ] || { echo "alive 0"; exit 1; }
gone() { [ "$mode" = left ] || [ -s __S/exit ] || { echo "__CODE __KILLED_STEP" > __S/exit.new && mv -f __S/exit.new __S/exit; }; }
# Rebooted since the run began: nothing of it is left.
[ "$boot" = "$now" ] || { gone; echo "killed 0"; exit 0; }
# The live processes of the run (cr_m) and their number (cr_k); zombies do not count. With
# `freeze`, each is stopped the moment it is found and the walk repeats until it finds none it has
# not stopped: a stopped process cannot fork, so the list then holds them all (a list walked once
# misses a child forked behind the walk, and signals sent to it leave that child). The marks are
# read by one grep per walk (-z: one environment entry per record, -x: the whole entry).
members() {
  cr_fz=${1-}; cr_m=" "; cr_k=0; cr_new=1; cr_sid=$sid
  if { read -r cr_l < "/proc/$sid/stat"; } 2>/dev/null; then
    set -- ${cr_l##*) }
    # The leader's PID was reused: the session is gone (its members would have kept the number).
    [ "${20}" = "$st" ] || cr_sid=none
  fi
  [ "$cr_sid" != none ] || [ "$mode" = left ] || return 0
  while [ "$cr_new" = 1 ]; do cr_new=0
    cr_e=" "
    if [ "$mode" = left ]; then
      for cr_p in $(grep -lzxF "CAPI_REMOTE_RUN=$sid.$st" /proc/[0-9]*/environ 2>/dev/null); do
        cr_p=${cr_p#/proc/}; cr_e="$cr_e${cr_p%/environ} "
      done
    fi
    for cr_s in /proc/[0-9]*/stat; do
      { read -r cr_l < "$cr_s"; } 2>/dev/null || continue
      set -- ${cr_l##*) }
      cr_q=${cr_s#/proc/}; cr_q=${cr_q%/stat}
      [ "$4" = "$cr_sid" ] || case "$cr_e" in *" $cr_q "*) ;; *) continue ;; esac
      [ "$1" != Z ] || continue
      case "$cr_m" in *" $cr_q "*) continue ;; esac
      cr_m="$cr_m$cr_q "; cr_k=$((cr_k + 1))
      [ "$cr_fz" = freeze ] || continue
      kill -STOP "$cr_q" 2>/dev/null; cr_new=1
    done
  done
}
# How many of the processes found (cr_m) still live (cr_k): cheap, where a walk of /proc takes a
# good part of a second on a loaded machine with many processes.
living() { cr_k=0; for cr_q in $cr_m; do { read -r cr_l < "/proc/$cr_q/stat"; } 2>/dev/null || continue; set -- ${cr_l##*) }; [ "$1" = Z ] || cr_k=$((cr_k + 1)); done; }
# Whole seconds since boot (/proc/uptime, a builtin read): waits are bounded in time, not in walks.
clock() { read -r cr_up _ < /proc/uptime; cr_up=${cr_up%.*}; }
members freeze
total=$cr_k
if [ "$cr_k" -gt 0 ]; then
  kill -TERM $cr_m 2>/dev/null; kill -CONT $cr_m 2>/dev/null
  clock; cr_end=$((cr_up + __GRACE))
  while living; [ "$cr_k" -gt 0 ] && clock && [ "$cr_up" -lt "$cr_end" ]; do sleep 0.2; done
  # Whatever lives now, children forked during the grace included, is frozen and killed.
  members freeze
  [ "$cr_k" = 0 ] || kill -KILL $cr_m 2>/dev/null
  clock; cr_end=$((cr_up + 5))
  while members; [ "$cr_k" -gt 0 ] && clock && [ "$cr_up" -lt "$cr_end" ]; do sleep 0.2; done
fi
[ "$cr_k" = 0 ] || { echo "alive $cr_k"; exit 1; }
gone
echo "killed $total"
