#!/bin/sh
# Prints "finished <identity>", "running <identity>" or "none": the state of the run in the state
# directory __S and who it ran for (the gate's content; empty when an older version took it). For a
# run, a second line "age <seconds>": how long ago the gate was taken, by the machine's own clock
# (the gate file's time against the machine's now), so the controller counts a found run's
# deadline from its real start whatever its own clock or the object's annotations say.
cr_id=; [ ! -f __S/started ] || { read -r cr_id < __S/started; } 2>/dev/null
if [ -s __S/exit ]; then printf 'finished %s\n' "$cr_id"; elif [ -e __S/started ]; then printf 'running %s\n' "$cr_id"; else echo none; exit 0; fi
cr_at=$(stat -c %Y __S/started 2>/dev/null) && cr_now=$(date +%s) && echo "age $((cr_now - cr_at))"; true
