#!/usr/bin/python3
# pyspf (Debian's python3-spf), the independent SPF implementation the tests compare with,
# asking only the test's dnsmasq: python3 pyspf-check.py PORT < cases, one "ip sender helo" a line;
# prints one result a line.
import sys
import dns.resolver
import spf

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ['127.0.0.1']
resolver.port = int(sys.argv[1])
resolver.lifetime = 2
dns.resolver.default_resolver = resolver

for line in sys.stdin:
    ip, sender, helo = (line.rstrip('\n').split('\t') + ['', '', ''])[:3]
    try:
        result, _ = spf.check2(i=ip, s=sender, h=helo, timeout=5)
    except Exception as error:
        result = 'exception:' + type(error).__name__
    print(result, flush=True)
