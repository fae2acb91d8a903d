#!/bin/sh
# Prints "finished", "running" or "none": the state of the run in the state directory __S.
if [ -s __S/exit ]; then echo finished; elif [ -e __S/started ]; then echo running; else echo none; fi
