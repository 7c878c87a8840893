#!/usr/bin/env python3
"""Connection limits: a login that never completes is timed out; sessions beyond max_sessions are refused."""
import sys
import time

from iscsi_raw import (Checks, Connection, ConnectionClosed, ProtocolError, build_bhs, expect_log,
                       log_mark, parse_target_args)

LOGIN_TIMEOUT = 1   # what test_limits.sh configures
MAX_SESSIONS = 2
INITIATOR = "iqn.2026-11.org.targe.test:limits"


def isid(n):
    return bytes([0x80, 0x00, 0x00, 0x00, 0x10, n])


def main():
    args = parse_target_args(with_daemon=True)
    checks = Checks("limits")

    # A connection that sends nothing, and one stuck halfway through a login PDU header.
    mark = log_mark(args.log)
    silent = Connection(args.host, args.port)
    partial = Connection(args.host, args.port)
    partial.send_raw(build_bhs(0x43, 0x87, 1)[:20])
    started = time.monotonic()
    for name, conn in (("silent", silent), ("half a header", partial)):
        closed, _ = conn.wait_closed(LOGIN_TIMEOUT + 4)
        waited = time.monotonic() - started
        if not closed:
            checks.fail("%s connection still open %.1f s after a %d s login timeout" %
                        (name, waited, LOGIN_TIMEOUT))
        elif waited < LOGIN_TIMEOUT - 0.2:
            checks.fail("%s connection closed after %.2f s, before the %d s login timeout" %
                        (name, waited, LOGIN_TIMEOUT))
        conn.close()
    expect_log(checks, args.log, mark, r"no login within %d s" % LOGIN_TIMEOUT, "login timeout")

    # A session that has logged in is past the timeout for good.
    sessions = []
    for n in range(MAX_SESSIONS):
        conn = Connection(args.host, args.port)
        try:
            conn.login(INITIATOR, args.target, isid=isid(n))
        except (ProtocolError, ConnectionClosed) as e:
            checks.fail("session %d of %d refused: %s" % (n + 1, MAX_SESSIONS, e))
        sessions.append(conn)
    time.sleep(LOGIN_TIMEOUT + 1.0)
    for n, conn in enumerate(sessions):
        try:
            conn.nop(b"still here")
        except (ProtocolError, ConnectionClosed, OSError) as e:
            checks.fail("logged-in session %d was closed after the login timeout: %s" % (n, e))

    # One more than max_sessions: refused with "out of resources" (0x0302), the others unharmed.
    mark = log_mark(args.log)
    extra = Connection(args.host, args.port)
    try:
        extra.login(INITIATOR, args.target, isid=isid(9))
        checks.fail("session %d logged in beyond max_sessions = %d" % (MAX_SESSIONS + 1, MAX_SESSIONS))
    except ProtocolError as e:
        if "status class 3 detail 2" not in str(e):
            checks.fail("session beyond the limit refused with the wrong status: %s" % e)
    except ConnectionClosed as e:
        checks.fail("session beyond the limit: connection closed without a login response: %s" % e)
    extra.close()
    expect_log(checks, args.log, mark, r"session limit reached \(max_sessions = %d\)" % MAX_SESSIONS,
               "session limit")
    for n, conn in enumerate(sessions):
        try:
            conn.nop(b"unharmed")
        except (ProtocolError, ConnectionClosed, OSError) as e:
            checks.fail("session %d hurt by the refused login: %s" % (n, e))

    # A session that ends gives its place back.
    sessions[0].logout()
    deadline = time.monotonic() + 5
    while True:
        again = Connection(args.host, args.port)
        try:
            again.login(INITIATOR, args.target, isid=isid(7))
            break
        except ProtocolError as e:
            again.close()
            if time.monotonic() > deadline:
                checks.fail("no session possible after one of %d logged out: %s" % (MAX_SESSIONS, e))
                break
            time.sleep(0.2)
    for conn in sessions[1:] + [again]:
        conn.close()
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
