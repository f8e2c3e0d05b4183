#!/bin/sh
# An alias program for the system test (installed as /etc/mailstack/smrsh/smrsh-probe): says who
# it runs as, how many lines it read on stdin and its SENDER, then exits with the status asked.
echo "$(id -un) $(id -u) $(wc -l) $SENDER"
exit "$1"
