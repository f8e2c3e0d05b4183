#!/usr/bin/python3
"""Verifies every DKIM-Signature of the message on stdin with dkimpy (Debian's python3-dkim),
keys from the DNS of /etc/resolv.conf; prints each result, comma-separated, top to bottom:
`pass,fail` (an exception, such as a body hash mismatch, is a fail), or `none`. (dkimverify, its own command, checks only the first signature.)"""
import sys
import dkim

message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
results = []
for index in range(count):
    try:
        results.append("pass" if d.verify(idx=index) else "fail")
    except dkim.DKIMException as error:  # a body hash mismatch, a bad key: a failure, said on stderr
        print("dkimpy: signature %d: %s" % (index, error), file=sys.stderr)
        results.append("fail")
print(",".join(results) or "none")
