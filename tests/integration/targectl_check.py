#!/usr/bin/env python3
"""targectl against a live targed: targets, devices, sessions and stats as the daemon really has
them (two logged-in sessions, counters rising by the I/O done), and junk on the control socket
(binary bytes, a 1 MiB line, silent and surplus clients) leaving the daemon serving."""
import argparse
import json
import os
import socket
import stat
import subprocess
import sys
import time

import iscsi_raw as raw

ap = argparse.ArgumentParser()
ap.add_argument("--targectl", required=True)
ap.add_argument("--socket", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--target", required=True)
ap.add_argument("--db1", required=True)
ap.add_argument("--other", required=True)
args = ap.parse_args()
checks = raw.Checks("targectl")


def targectl(*words, via_config=False, expect=0):
    where = ["-c", args.config] if via_config else ["-s", args.socket]
    p = subprocess.run([args.targectl, *where, *words], capture_output=True, text=True, timeout=20)
    if p.returncode != expect:
        checks.fail("targectl %s: exit %d, expected %d (stderr %r)" % (" ".join(words), p.returncode,
                                                                      expect, p.stderr))
    return p.stdout


def query(verb, via_config=False):
    out = targectl(verb, "--json", via_config=via_config)
    try:
        doc = json.loads(out)
    except ValueError as e:
        checks.fail("targectl %s --json: not JSON (%s): %r" % (verb, e, out[:300]))
        return {}
    if doc.get("ok") is not True or doc.get("request") != verb:
        checks.fail("targectl %s --json: %r" % (verb, doc))
    return doc


def expect(cond, what):
    if not cond:
        checks.fail(what)


def luns_of(entries):
    return sorted((e["lun"], e["device"], e["read_only"]) for e in entries)


def dev_counts(stats, name):
    for d in stats.get("devices", []):
        if d["name"] == name:
            return d
    checks.fail("stats: no device %s in %r" % (name, stats))
    return {"read_commands": 0, "read_bytes": 0, "write_commands": 0, "write_bytes": 0}


# ---- the socket itself ----
mode = os.stat(args.socket).st_mode
expect(stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600,
       "control socket mode %o, expected a socket with 0600" % mode)

# ---- targets: the config's LUN maps per access rule ----
doc = query("targets", via_config=True)
targets = {t["name"]: t for t in doc.get("targets", [])}
expect(sorted(targets) == sorted([args.target, args.target + "-b"]), "targets: %r" % sorted(targets))
t = targets.get(args.target, {})
expect(t.get("transports") == ["iscsi"], "transports %r" % t.get("transports"))
expect(luns_of(t.get("luns", [])) == [(0, "d0", False)], "default LUNs %r" % t.get("luns"))
rules = t.get("access", [])
expect(len(rules) == 1 and rules[0]["group"] == "db" and
       rules[0]["initiators"] == [args.db1.lower(), "iqn.2026-11.org.test:db2"],
       "access rules %r" % rules)
expect(rules and luns_of(rules[0]["luns"]) == [(0, "d0", False), (1, "d1", True), (2, "d2", False)],
       "rule LUNs %r" % rules)
b = targets.get(args.target + "-b", {})
expect(luns_of(b.get("luns", [])) == [(4, "d1", True)] and b.get("access") == [],
       "second target %r" % b)
human = targectl("targets")
for part in (args.target, "group db", "0:d0 1:d1(ro) 2:d2", "4:d1(ro)"):
    expect(part in human, "targets table lacks %r:\n%s" % (part, human))

# ---- devices: what the backends opened ----
doc = query("devices")
devs = {d["name"]: d for d in doc.get("devices", [])}
want = {
    "d0": ("file", 16 << 20, 512, 0, False),
    "d1": ("file", 8 << 20, 512, 0, True),
    "d2": ("file", 4 << 20, 512, 1, False),
}
for name, (backend, size, bs, prot, removable) in want.items():
    d = devs.get(name)
    if not d:
        checks.fail("devices: %s missing from %r" % (name, sorted(devs)))
        continue
    got = (d["backend"], d["size"], d["block_size"], d["protection"], d["removable"])
    expect(got == (backend, size, bs, prot, removable), "device %s: %r, expected %r" % (
        name, got, (backend, size, bs, prot, removable)))
    expect(d["path"] == os.path.join(args.dir, name + ".img"), "device %s path %r" % (name, d["path"]))
    expect(d["blocks"] * d["block_size"] == d["size"], "device %s blocks %r" % (name, d))
human = targectl("devices")
for part in ("d2", "type 1", "removable", "16.0 MiB", os.path.join(args.dir, "d0.img")):
    expect(part in human, "devices table lacks %r:\n%s" % (part, human))

# ---- sessions: none, then the two logged in, then one ----
expect(query("sessions").get("sessions") == [], "sessions before any login")
expect("0 session(s)" in targectl("sessions"), "sessions table before any login")

isid_a, isid_b = bytes([0x80, 0, 0, 0, 0, 0xa1]), bytes([0x80, 0, 0, 0, 0, 0xb2])
a = raw.Connection(args.host, args.port)
a.login(args.db1, args.target, isid=isid_a)
for lun in (0, 1, 2):  # every LUN has its own power-on unit attention
    raw.clear_unit_attentions(a, lun)
other = raw.Connection(args.host, args.port)
other.login(args.other, args.target, isid=isid_b)
raw.clear_unit_attentions(other, 0)

sessions = query("sessions").get("sessions", [])
by_name = {s["initiator"]: s for s in sessions}
# Names are listed as the initiator sent them (access rules match them case-insensitively).
expect(len(sessions) == 2 and sorted(by_name) == sorted([args.db1, args.other]),
       "sessions: %r" % sessions)
s = by_name.get(args.db1, {})
expect(s.get("transport") == "iscsi" and s.get("target") == args.target and
       s.get("initiator_port") == args.db1 + ",i,0x" + isid_a.hex() and
       luns_of(s.get("luns", [])) == [(0, "d0", False), (1, "d1", True), (2, "d2", False)],
       "db1's session %r" % s)
s = by_name.get(args.other, {})
expect(s.get("initiator_port") == args.other + ",i,0x" + isid_b.hex() and
       luns_of(s.get("luns", [])) == [(0, "d0", False)], "the other session %r" % s)
human = targectl("sessions")
for part in (args.db1, args.other, "2 session(s)", "0:d0 1:d1(ro) 2:d2"):
    expect(part in human, "sessions table lacks %r:\n%s" % (part, human))

# ---- stats: counters rise by exactly the I/O done ----
before = query("stats")
expect(before.get("sessions") == 2, "stats sessions %r" % before.get("sessions"))
expect(before.get("io_threads") == 2, "stats io_threads %r" % before.get("io_threads"))
cpu = min(os.sched_getaffinity(0))  # test_targectl.sh pins both I/O threads to it
expect(before.get("io_thread_cpus") == [cpu, cpu], "stats io_thread_cpus %r" % before.get("io_thread_cpus"))
expect(before.get("buffers", {}).get("budget_bytes") == 32 << 20, "stats buffers %r" % before.get("buffers"))
payload = bytes(range(256)) * 32  # 8 KiB
status, sense, _ = a.scsi(raw.cdb_write16(0, 16), 0, data_out=payload)
expect(status == raw.STATUS_GOOD, "WRITE(16) status %#x" % status)
status, sense, _ = a.scsi(raw.cdb_write16(100, 16), 0, data_out=payload)
expect(status == raw.STATUS_GOOD, "WRITE(16) status %#x" % status)
status, sense, data = other.scsi(raw.cdb_read16(0, 16), 0, read_len=len(payload))
expect(status == raw.STATUS_GOOD and data == payload, "READ(16) through the other session")
status, sense, _ = a.scsi(raw.cdb_read16(0, 8), 2, read_len=4096)
expect(status == raw.STATUS_GOOD, "READ(16) of d2 status %#x" % status)
# Refused writes (read-only LUN) are not counted as writes.
status, sense, _ = a.scsi(raw.cdb_write16(0, 1), 1, data_out=bytes(512))
expect(status == raw.STATUS_CHECK_CONDITION, "WRITE to the read-only LUN: status %#x" % status)
after = query("stats")
d0b, d0a = dev_counts(before, "d0"), dev_counts(after, "d0")
delta = {k: d0a[k] - d0b[k] for k in ("read_commands", "read_bytes", "write_commands", "write_bytes")}
expect(delta == {"read_commands": 1, "read_bytes": 8192, "write_commands": 2, "write_bytes": 16384},
       "d0 counters rose by %r" % delta)
d2b, d2a = dev_counts(before, "d2"), dev_counts(after, "d2")
expect(d2a["read_commands"] - d2b["read_commands"] == 1 and d2a["read_bytes"] - d2b["read_bytes"] == 4096
       and d2a["write_commands"] == d2b["write_commands"], "d2 counters %r -> %r" % (d2b, d2a))
d1b, d1a = dev_counts(before, "d1"), dev_counts(after, "d1")
expect(d1a == d1b, "d1 (read-only) counters changed: %r -> %r" % (d1b, d1a))
expect(after.get("uptime_seconds", -1) >= before.get("uptime_seconds", 0), "uptime went back")
human = targectl("stats")
expect("sessions            2" in human and
       "io threads          2, pinned to CPUs %d, %d\n" % (cpu, cpu) in human,
       "stats table:\n%s" % human)
row = [line.split() for line in human.splitlines() if line.startswith("d0 ")]
expect(row and row[0][1:] == [str(d0a["read_commands"]), str(d0a["read_bytes"]),
                              str(d0a["write_commands"]), str(d0a["write_bytes"])],
       "stats table row for d0: %r" % row)


# ---- junk on the socket ----
def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(args.socket)  # blocking: waits for room in the listen backlog
    c.settimeout(10)
    return c


def read_all(c):
    """What the daemon sent before closing (a reset after the reply counts as closing: the
    daemon closed with our unread request bytes in its buffer)."""
    chunks = []
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    except socket.timeout:
        checks.fail("the daemon neither answered nor closed within 10 s")
    return b"".join(chunks)


def error_reply(data, what):
    try:
        doc = json.loads(data)
    except ValueError:
        checks.fail("%s: reply is not JSON: %r" % (what, data[:200]))
        return ""
    expect(doc.get("ok") is False and doc.get("error"), "%s: %r" % (what, doc))
    return doc.get("error", "")


def still_serving(what):
    expect(query("stats").get("sessions") == 2, "after %s: stats no longer right" % what)


c = connect()
c.sendall(bytes(range(256)) * 4 + b"\n")
error_reply(read_all(c), "binary junk")
c.close()
still_serving("binary junk")

c = connect()
c.sendall(b"frobnicate\n")
expect("unknown request" in error_reply(read_all(c), "unknown verb"), "unknown verb error")
c.close()

# A 1 MiB line: the daemon answers once it has read past the limit and closes; our writing
# may then fail, which is the point.
c = connect()
big = b"t" * (1 << 20) + b"\n"
sent = 0
try:
    while sent < len(big):
        sent += c.send(big[sent:sent + 65536])
except (BrokenPipeError, ConnectionResetError):
    pass
data = read_all(c)
c.close()
expect("too long" in error_reply(data, "1 MiB line"), "1 MiB line: %r" % data[:200])
expect(sent < len(big), "the daemon read a whole 1 MiB request line")
still_serving("a 1 MiB line")

# Silent clients: others are served meanwhile, and the daemon drops them after its timeout.
silent = [connect() for _ in range(8)]
t0 = time.monotonic()
still_serving("8 silent clients")
for s in silent:
    s.settimeout(15)
    expect(read_all(s) == b"", "a silent client got data")
waited = time.monotonic() - t0
expect(3 <= waited <= 12, "silent clients were closed after %.1f s (expected about 5)" % waited)
for s in silent:
    s.close()

# More clients than the daemon serves at once: the surplus is told so, not queued forever.
hold = [connect() for _ in range(32)]
time.sleep(0.3)
extra = connect()
expect("too many" in error_reply(read_all(extra), "surplus client"), "surplus client")
extra.close()
for s in hold:
    s.close()
time.sleep(0.3)
still_serving("a full client table")

# The data path still works after all that.
status, _, data = other.scsi(raw.cdb_read16(100, 16), 0, read_len=len(payload))
expect(status == raw.STATUS_GOOD and data == payload, "READ(16) after the junk")

a.logout()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    names = [s["initiator"] for s in query("sessions").get("sessions", [])]
    if names == [args.other]:
        break
    time.sleep(0.1)
expect(names == [args.other], "after db1's logout sessions are %r" % names)
other.logout()

sys.exit(checks.finish())
