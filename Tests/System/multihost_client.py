#!/usr/bin/env python3
"""The client of Tests/System/multihost-test.sh, run inside the client's namespace.

  rcpt HOST RCPT            prints the RCPT reply code (or "error ..." when the session fails first)
  pop3 HOST USER PASS       prints the answer to the login (+OK ... / -ERR ...)
  hold HOST USER PASS FILE  logs in, prints +OK, keeps the session until FILE exists, then QUITs
"""
import os, poplib, smtplib, sys, time

def rcpt(host, address):
    try:
        with smtplib.SMTP(host, 25, timeout=20) as s:
            code, _ = s.ehlo("client.test")
            if code != 250:
                print(f"error ehlo {code}")
                return
            code, text = s.mail("sender@client.test")
            if code != 250:
                print(code)
                return
            code, text = s.rcpt(address)
            print(code)
    except (OSError, smtplib.SMTPException) as e:
        print(f"error {e}")

def login(host, user, password):
    p = poplib.POP3(host, 110, timeout=20)
    try:
        p.user(user)
        answer = p.pass_(password).decode()
    except poplib.error_proto as e:
        answer = e.args[0].decode()
    return p, answer

def main():
    command, host = sys.argv[1], sys.argv[2]
    if command == "rcpt":
        rcpt(host, sys.argv[3])
    elif command == "pop3":
        p, answer = login(host, sys.argv[3], sys.argv[4])
        print(answer.split(" ", 1)[0] if answer.startswith("+OK") else answer)
        try:
            p.quit()
        except Exception:
            pass
    elif command == "hold":
        p, answer = login(host, sys.argv[3], sys.argv[4])
        print(answer, flush=True)
        deadline = time.monotonic() + 300  # bounds a broken test only
        while not os.path.exists(sys.argv[5]) and time.monotonic() < deadline:
            time.sleep(0.05)
        p.quit()

main()
