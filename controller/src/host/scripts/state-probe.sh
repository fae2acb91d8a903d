#!/bin/sh
# Prints "finished <identity>", "running <identity>" or "none": the state of the run in the state
# directory __S and who it ran for (the gate's content; empty when an older version took it).
cr_id=; [ ! -f __S/started ] || { read -r cr_id < __S/started; } 2>/dev/null
if [ -s __S/exit ]; then printf 'finished %s\n' "$cr_id"; elif [ -e __S/started ]; then printf 'running %s\n' "$cr_id"; else echo none; fi
