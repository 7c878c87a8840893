#!/usr/bin/env python3
# TCP relay between an initiator and the target that checks every iSCSI header/data digest in both directions.
"""usage: digest_proxy.py TARGET_HOST TARGET_PORT --port-file FILE --report FILE

Listens on 127.0.0.1 (port written to --port-file), relays each connection to the target, follows
the PDU stream, learns the digests from the login exchange and, once in full feature phase,
checks the CRC32C of every header (and data segment) it relays. On SIGTERM it writes one line
per connection to --report:

  conn=N header_digest=CRC32C data_digest=None pdus_to_target=.. pdus_to_initiator=..
  checked_headers=.. checked_data=.. bad=.. error=...
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402


class Stream:
    """Incremental PDU parser over the bytes of one direction."""

    def __init__(self, conn, name):
        self.conn = conn
        self.name = name
        self.buf = bytearray()
        self.pdus = 0

    def feed(self, data):
        self.buf += data
        while True:
            need = self.pdu_length()
            if need is None or len(self.buf) < need:
                return
            pdu = bytes(self.buf[:need])
            del self.buf[:need]
            self.conn.inspect(self, pdu)

    def pdu_length(self):
        if len(self.buf) < raw.BHS_LEN:
            return None
        ahs = self.buf[4] * 4
        dlen = int.from_bytes(self.buf[5:8], "big")
        n = raw.BHS_LEN + ahs
        hd, dd = self.conn.digests_for_next_pdu()
        if hd:
            n += 4
        if dlen:
            n += dlen + raw.pad4(dlen)
            if dd:
                n += 4
        return n


class Relay:
    def __init__(self, number, client, target):
        self.number = number
        self.client = client
        self.target = target
        self.lock = threading.Lock()
        self.offer = {}
        self.answer = {}
        self.full_feature = False
        self.header_digest = False
        self.data_digest = False
        self.checked_headers = 0
        self.checked_data = 0
        self.bad = 0
        self.error = ""
        self.to_target = Stream(self, "to_target")
        self.to_initiator = Stream(self, "to_initiator")

    def digests_for_next_pdu(self):
        with self.lock:
            return (self.header_digest, self.data_digest) if self.full_feature else (False, False)

    def inspect(self, stream, pdu):
        stream.pdus += 1
        hd, dd = self.digests_for_next_pdu()
        opcode = pdu[0] & 0x3F
        ahs = pdu[4] * 4
        dlen = int.from_bytes(pdu[5:8], "big")
        header = pdu[:raw.BHS_LEN + ahs]
        pos = len(header)
        if hd:
            got = struct.unpack_from("<I", pdu, pos)[0]
            pos += 4
            self.checked_headers += 1
            if got != raw.crc32c(header):
                self.bad += 1
                self.error = self.error or "%s: bad header digest on opcode 0x%02x" % (stream.name, opcode)
        padded = pdu[pos:pos + dlen + raw.pad4(dlen)]
        pos += len(padded)
        if dlen and dd:
            got = struct.unpack_from("<I", pdu, pos)[0]
            self.checked_data += 1
            if got != raw.crc32c(padded):
                self.bad += 1
                self.error = self.error or "%s: bad data digest on opcode 0x%02x" % (stream.name, opcode)
        data = padded[:dlen]
        if opcode == raw.OP_LOGIN_REQ:
            self.offer.update(raw.parse_keys(data))
        elif opcode == raw.OP_LOGIN_RSP:
            self.answer.update(raw.parse_keys(data))
            transit, nsg, status_class = pdu[1] & 0x80, pdu[1] & 0x03, pdu[36]
            if transit and nsg == 3 and status_class == 0:
                # Digests apply from the first PDU after the final Login Response.
                with self.lock:
                    self.full_feature = True
                    self.header_digest = self.answer.get("HeaderDigest") == "CRC32C"
                    self.data_digest = self.answer.get("DataDigest") == "CRC32C"

    def pump(self, src, dst, stream):
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                # Parse before forwarding so the digest state is known before the peer answers.
                stream.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def report(self):
        return ("conn=%d header_digest=%s data_digest=%s offered_header_digest=%s pdus_to_target=%d "
                "pdus_to_initiator=%d checked_headers=%d checked_data=%d bad=%d error=%s" % (
                    self.number, self.answer.get("HeaderDigest", "-"), self.answer.get("DataDigest", "-"),
                    self.offer.get("HeaderDigest", "-"), self.to_target.pdus, self.to_initiator.pdus,
                    self.checked_headers, self.checked_data, self.bad,
                    (self.error or "none").replace(" ", "_")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target_host")
    ap.add_argument("target_port", type=int)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--report", required=True)
    args = ap.parse_args()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    relays = []

    def stop(signum, frame):
        with open(args.report, "w") as f:
            for r in relays:
                f.write(r.report() + "\n")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(tmp, args.port_file)

    while True:
        client, _ = listener.accept()
        target = socket.create_connection((args.target_host, args.target_port))
        for s in (client, target):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        relay = Relay(len(relays) + 1, client, target)
        relays.append(relay)
        threading.Thread(target=relay.pump, args=(client, target, relay.to_target), daemon=True).start()
        threading.Thread(target=relay.pump, args=(target, client, relay.to_initiator), daemon=True).start()


if __name__ == "__main__":
    main()
