# A minimal iSCSI initiator on plain sockets, for tests that must shape PDUs byte by byte (bad PDUs, digests).
"""Just enough of RFC 7143 to log in, run SCSI commands with Data-Out/Data-In, and send raw bytes.

Only ErrorRecoveryLevel=0, one connection per session, single-step login (operational stage
straight to full feature phase, no CHAP).
"""

import argparse
import os
import re
import socket
import struct
import time

BHS_LEN = 48

OP_NOP_OUT = 0x00
OP_SCSI_CMD = 0x01
OP_LOGIN_REQ = 0x03
OP_DATA_OUT = 0x05
OP_LOGOUT_REQ = 0x06
OP_NOP_IN = 0x20
OP_SCSI_RSP = 0x21
OP_LOGIN_RSP = 0x23
OP_DATA_IN = 0x25
OP_LOGOUT_RSP = 0x26
OP_R2T = 0x31
OP_ASYNC = 0x32
OP_REJECT = 0x3F

IMMEDIATE = 0x40
FINAL = 0x80
NO_TAG = 0xFFFFFFFF

STATUS_GOOD = 0x00
STATUS_CHECK_CONDITION = 0x02


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """CRC32C (Castagnoli) as iSCSI digests use it; returned as the integer sent little-endian."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def pad4(n):
    return (4 - n % 4) % 4


class ProtocolError(Exception):
    pass


class ConnectionClosed(Exception):
    pass


class Pdu:
    def __init__(self, bhs, ahs=b"", data=b""):
        self.bhs = bytes(bhs)
        self.ahs = ahs
        self.data = data

    @property
    def opcode(self):
        return self.bhs[0] & 0x3F

    @property
    def flags(self):
        return self.bhs[1]

    @property
    def itt(self):
        return struct.unpack_from(">I", self.bhs, 16)[0]

    def u32(self, offset):
        return struct.unpack_from(">I", self.bhs, offset)[0]

    def __repr__(self):
        return "Pdu(opcode=0x%02x flags=0x%02x itt=0x%08x dlen=%d)" % (
            self.opcode, self.flags, self.itt, len(self.data))


def encode_lun(lun):
    """Single-level LUN in the peripheral (< 256) or flat (< 16384) addressing method."""
    if lun < 256:
        return struct.pack(">BB6x", 0, lun)
    return struct.pack(">H6x", 0x4000 | lun)


def text_strings(items):
    """A text data segment of "key=value" strings, each ended by a NUL."""
    return b"".join(item.encode() + b"\0" for item in items)


def text_keys(pairs):
    return text_strings("%s=%s" % (k, v) for k, v in pairs)


def padded(data):
    """data followed by the zero bytes that end it on a 4-byte boundary."""
    return data + b"\0" * pad4(len(data))


def build_bhs(opcode, flags, itt, dsl=0, ahs_words=0, lun=bytes(8), rest=b""):
    """A 48-byte BHS from the fields every PDU has; `rest` fills bytes 20..47."""
    hdr = bytes([opcode, flags, 0, 0, ahs_words]) + dsl.to_bytes(3, "big") + lun
    hdr += struct.pack(">I", itt) + rest.ljust(28, b"\0")
    assert len(hdr) == BHS_LEN
    return hdr


def parse_keys(data):
    keys = {}
    for item in data.split(b"\0"):
        if item:
            k, _, v = item.decode(errors="replace").partition("=")
            keys[k] = v
    return keys


class Connection:
    """One TCP connection; after login(), one session in full feature phase."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.header_digest = False
        self.data_digest = False
        self.itt = 0x1000
        self.cmdsn = 1
        self.exp_statsn = 0
        self.negotiated = {}
        self.max_send_dsl = 8192
        self.first_burst = 65536
        self.immediate_data = False
        self.initial_r2t = True
        self.received = []  # PDUs that arrived while waiting for something else

    # -- raw byte level -----------------------------------------------------------------------

    def send_raw(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed("peer closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_pdu_within(self, seconds):
        """Next PDU, or None if nothing complete arrives in time; ConnectionClosed if the peer hangs up."""
        self.sock.settimeout(max(seconds, 0.001))
        try:
            return self.recv_pdu()
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(self.timeout)

    def wait_closed(self, seconds):
        """True if the target closes the connection within `seconds`; PDUs before that are returned too."""
        deadline = time.monotonic() + seconds
        pdus = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, pdus
            self.sock.settimeout(left)
            try:
                pdus.append(self.recv_pdu())
            except ConnectionClosed:
                return True, pdus
            except socket.timeout:
                return False, pdus
            except (ProtocolError, OSError):
                return True, pdus
            finally:
                self.sock.settimeout(self.timeout)

    # -- PDU level -------------------------------------------------------------------------------

    def encode_pdu(self, bhs, data=b"", bad_header_digest=False, bad_data_digest=False):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytearray(bhs)
        if self.header_digest:
            crc = crc32c(bytes(bhs)) ^ (0xFFFFFFFF if bad_header_digest else 0)
            out += struct.pack("<I", crc)
        if data:
            padded = data + b"\0" * pad4(len(data))
            out += padded
            if self.data_digest:
                crc = crc32c(padded) ^ (0xFFFFFFFF if bad_data_digest else 0)
                out += struct.pack("<I", crc)
        return bytes(out)

    def send_pdu(self, bhs, data=b"", **kw):
        self.sock.sendall(self.encode_pdu(bhs, data, **kw))

    def recv_pdu(self):
        bhs = self._recv_exact(BHS_LEN)
        ahs_len = bhs[4] * 4
        dlen = int.from_bytes(bhs[5:8], "big")
        ahs = self._recv_exact(ahs_len) if ahs_len else b""
        if self.header_digest:
            got = struct.unpack("<I", self._recv_exact(4))[0]
            want = crc32c(bhs + ahs)
            if got != want:
                raise ProtocolError("header digest 0x%08x from target, expected 0x%08x" % (got, want))
        data = b""
        if dlen:
            padded = self._recv_exact(dlen + pad4(dlen))
            data = padded[:dlen]
            if self.data_digest:
                got = struct.unpack("<I", self._recv_exact(4))[0]
                want = crc32c(padded)
                if got != want:
                    raise ProtocolError("data digest 0x%08x from target, expected 0x%08x" % (got, want))
        pdu = Pdu(bhs, ahs, data)
        if pdu.opcode in (OP_SCSI_RSP, OP_NOP_IN, OP_LOGOUT_RSP, OP_REJECT, OP_ASYNC, OP_R2T) or (
                pdu.opcode == OP_DATA_IN and pdu.flags & 0x01):
            # R2Ts and target-initiated NOP-Ins carry the next StatSN without using it up.
            if pdu.opcode != OP_R2T and not (pdu.opcode == OP_NOP_IN and pdu.itt == NO_TAG):
                self.exp_statsn = (pdu.u32(24) + 1) & 0xFFFFFFFF
        return pdu

    def next_itt(self):
        self.itt = (self.itt + 1) & 0xFFFFFFFF
        if self.itt == NO_TAG:
            self.itt = 1
        return self.itt

    def recv_for(self, itt):
        """Next PDU for this task; answers target NOPs and records anything else."""
        while True:
            pdu = self.recv_pdu()
            if pdu.opcode == OP_NOP_IN and pdu.itt == NO_TAG and pdu.u32(20) != NO_TAG:
                self.nop_reply(pdu)
                continue
            if pdu.opcode == OP_REJECT or pdu.itt == itt:
                return pdu
            self.received.append(pdu)

    # -- login -----------------------------------------------------------------------------------

    def login(self, initiator, target=None, session_type="Normal", header_digest=False,
              data_digest=False, extra=(), isid=None):
        """Operational negotiation then full feature phase. Returns the target's keys."""
        offer = [("InitiatorName", initiator), ("SessionType", session_type)]
        if target:
            offer.append(("TargetName", target))
        offer += [
            ("HeaderDigest", "CRC32C" if header_digest else "None"),
            ("DataDigest", "CRC32C" if data_digest else "None"),
        ]
        if session_type == "Normal":
            offer += [
                ("InitialR2T", "No"),
                ("ImmediateData", "Yes"),
                ("MaxBurstLength", "262144"),
                ("FirstBurstLength", "65536"),
                ("MaxConnections", "1"),
                ("DefaultTime2Wait", "2"),
                ("DefaultTime2Retain", "0"),
                ("MaxOutstandingR2T", "1"),
                ("DataPDUInOrder", "Yes"),
                ("DataSequenceInOrder", "Yes"),
            ]
        offer += [("ErrorRecoveryLevel", "0"), ("MaxRecvDataSegmentLength", "65536")]
        offer += list(extra)
        isid = isid or bytes([0x80, 0x12, 0x34, 0x56, 0x78, 0x9A])
        keys = {}
        data = text_keys(offer)
        itt = self.next_itt()
        for _ in range(6):
            # CSG=1 (operational), NSG=3 (full feature), Transit.
            bhs = bytearray(BHS_LEN)
            bhs[0] = IMMEDIATE | OP_LOGIN_REQ
            bhs[1] = 0x80 | (1 << 2) | 3
            bhs[8:14] = isid
            struct.pack_into(">I", bhs, 16, itt)
            struct.pack_into(">I", bhs, 24, self.cmdsn)
            struct.pack_into(">I", bhs, 28, self.exp_statsn)
            self.send_pdu(bhs, data)
            rsp = self.recv_pdu()
            if rsp.opcode != OP_LOGIN_RSP:
                raise ProtocolError("expected a Login Response, got %r" % rsp)
            status_class, status_detail = rsp.bhs[36], rsp.bhs[37]
            if status_class != 0:
                raise ProtocolError("login refused: status class %d detail %d (keys %s)" % (
                    status_class, status_detail, parse_keys(rsp.data)))
            self.exp_statsn = (rsp.u32(24) + 1) & 0xFFFFFFFF
            keys.update(parse_keys(rsp.data))
            if rsp.flags & 0x80 and rsp.flags & 0x03 == 3:
                break
            data = b""  # target wants another round; our offer stands
        else:
            raise ProtocolError("login did not reach full feature phase")
        self.negotiated = keys
        self.header_digest = keys.get("HeaderDigest") == "CRC32C"
        self.data_digest = keys.get("DataDigest") == "CRC32C"
        self.max_send_dsl = int(keys.get("MaxRecvDataSegmentLength", "8192"))
        self.first_burst = int(keys.get("FirstBurstLength", "65536"))
        self.immediate_data = keys.get("ImmediateData", "Yes") == "Yes"
        self.initial_r2t = keys.get("InitialR2T", "Yes") == "Yes"
        return keys

    # -- full feature phase ------------------------------------------------------------------------

    def nop_reply(self, nop_in):
        bhs = bytearray(BHS_LEN)
        bhs[0] = IMMEDIATE | OP_NOP_OUT
        bhs[1] = FINAL
        bhs[8:16] = nop_in.bhs[8:16]
        struct.pack_into(">I", bhs, 16, NO_TAG)
        struct.pack_into(">I", bhs, 20, nop_in.u32(20))
        struct.pack_into(">I", bhs, 24, self.cmdsn)
        struct.pack_into(">I", bhs, 28, self.exp_statsn)
        self.send_pdu(bhs)

    def nop(self, payload=b"ping"):
        """NOP-Out ping; the NOP-In must echo the payload."""
        itt = self.next_itt()
        bhs = bytearray(BHS_LEN)
        bhs[0] = IMMEDIATE | OP_NOP_OUT
        bhs[1] = FINAL
        struct.pack_into(">I", bhs, 16, itt)
        struct.pack_into(">I", bhs, 20, NO_TAG)
        struct.pack_into(">I", bhs, 24, self.cmdsn)
        struct.pack_into(">I", bhs, 28, self.exp_statsn)
        self.send_pdu(bhs, payload)
        rsp = self.recv_for(itt)
        if rsp.opcode != OP_NOP_IN:
            raise ProtocolError("NOP-Out answered by %r" % rsp)
        if rsp.data != payload:
            raise ProtocolError("NOP-In echoed %r, sent %r" % (rsp.data, payload))
        return rsp

    def scsi_bhs(self, cdb, lun, read_len=0, write_len=0, itt=None):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_SCSI_CMD
        bhs[1] = FINAL | (0x40 if read_len else 0) | (0x20 if write_len else 0) | 0x01
        bhs[8:16] = encode_lun(lun)
        struct.pack_into(">I", bhs, 16, self.next_itt() if itt is None else itt)
        struct.pack_into(">I", bhs, 20, read_len or write_len)
        struct.pack_into(">I", bhs, 24, self.cmdsn)
        struct.pack_into(">I", bhs, 28, self.exp_statsn)
        bhs[32:32 + len(cdb)] = cdb
        return bhs

    def scsi(self, cdb, lun=0, data_out=b"", read_len=0):
        """Runs one command. Returns (status, sense bytes, data-in bytes)."""
        bhs = self.scsi_bhs(cdb, lun, read_len=read_len, write_len=len(data_out))
        itt = struct.unpack_from(">I", bhs, 16)[0]
        immediate = b""
        if data_out and self.immediate_data:
            immediate = data_out[:min(self.first_burst, self.max_send_dsl)]
        sent = len(immediate)
        self.send_pdu(bhs, immediate)
        self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        # Unsolicited Data-Out fills the rest of the first burst when InitialR2T=No.
        if data_out and not self.initial_r2t and sent < min(self.first_burst, len(data_out)):
            self._send_data_out(itt, lun, NO_TAG, data_out, sent, min(self.first_burst, len(data_out)) - sent)
        data_in = bytearray(read_len)
        got_in = 0
        while True:
            pdu = self.recv_for(itt)
            if pdu.opcode == OP_REJECT:
                raise ProtocolError("command rejected, reason 0x%02x" % pdu.bhs[2])
            if pdu.opcode == OP_R2T:
                ttt, offset, length = pdu.u32(20), pdu.u32(40), pdu.u32(44)
                self._send_data_out(itt, lun, ttt, data_out, offset, length)
            elif pdu.opcode == OP_DATA_IN:
                offset = pdu.u32(40)
                data_in[offset:offset + len(pdu.data)] = pdu.data
                got_in += len(pdu.data)
                if pdu.flags & 0x01:
                    return pdu.bhs[3], b"", bytes(data_in[:got_in])
            elif pdu.opcode == OP_SCSI_RSP:
                sense = b""
                if len(pdu.data) >= 2:
                    sense_len = struct.unpack_from(">H", pdu.data, 0)[0]
                    sense = pdu.data[2:2 + sense_len]
                return pdu.bhs[3], sense, bytes(data_in[:got_in])
            else:
                raise ProtocolError("unexpected %r during a SCSI command" % pdu)

    def _send_data_out(self, itt, lun, ttt, data_out, offset, length):
        datasn = 0
        end = offset + length
        while offset < end:
            n = min(self.max_send_dsl, end - offset)
            bhs = bytearray(BHS_LEN)
            bhs[0] = OP_DATA_OUT
            bhs[1] = FINAL if offset + n >= end else 0
            bhs[8:16] = encode_lun(lun)
            struct.pack_into(">I", bhs, 16, itt)
            struct.pack_into(">I", bhs, 20, ttt)
            struct.pack_into(">I", bhs, 28, self.exp_statsn)
            struct.pack_into(">I", bhs, 36, datasn)
            struct.pack_into(">I", bhs, 40, offset)
            self.send_pdu(bhs, data_out[offset:offset + n])
            offset += n
            datasn += 1

    def logout(self):
        itt = self.next_itt()
        bhs = bytearray(BHS_LEN)
        bhs[0] = IMMEDIATE | OP_LOGOUT_REQ
        bhs[1] = FINAL  # reason 0: close the session
        struct.pack_into(">I", bhs, 16, itt)
        struct.pack_into(">I", bhs, 24, self.cmdsn)
        struct.pack_into(">I", bhs, 28, self.exp_statsn)
        self.send_pdu(bhs)
        rsp = self.recv_for(itt)
        if rsp.opcode != OP_LOGOUT_RSP or rsp.bhs[2] != 0:
            raise ProtocolError("logout answered by %r" % rsp)
        self.close()


# -- SCSI helpers -------------------------------------------------------------------------------------

def cdb_test_unit_ready():
    return bytes(6)


def cdb_read16(lba, blocks):
    return struct.pack(">BBQIBB", 0x88, 0, lba, blocks, 0, 0)


def cdb_write16(lba, blocks):
    return struct.pack(">BBQIBB", 0x8A, 0, lba, blocks, 0, 0)


def cdb_read_capacity16():
    return struct.pack(">BBQIBB", 0x9E, 0x10, 0, 32, 0, 0)


def sense_key_asc(sense):
    """(key, asc, ascq) from fixed or descriptor format sense data."""
    if len(sense) < 3:
        return None
    if sense[0] & 0x7F in (0x72, 0x73):
        return sense[1] & 0x0F, sense[2], sense[3] if len(sense) > 3 else 0
    if len(sense) < 14:
        return sense[2] & 0x0F, None, None
    return sense[2] & 0x0F, sense[12], sense[13]


def clear_unit_attentions(conn, lun=0, tries=5):
    """A new I_T nexus may first see UNIT ATTENTION (power on, reset): consume those with TUR."""
    for _ in range(tries):
        status, sense, _ = conn.scsi(cdb_test_unit_ready(), lun)
        if status == STATUS_GOOD:
            return
        kaq = sense_key_asc(sense)
        if status != STATUS_CHECK_CONDITION or not kaq or kaq[0] != 0x6:
            raise ProtocolError("TEST UNIT READY: status 0x%02x sense %s" % (status, sense.hex()))
    raise ProtocolError("TEST UNIT READY still reports UNIT ATTENTION after %d tries" % tries)


def read_capacity(conn, lun=0):
    status, sense, data = conn.scsi(cdb_read_capacity16(), lun, read_len=32)
    if status != STATUS_GOOD:
        raise ProtocolError("READ CAPACITY(16) status 0x%02x sense %s" % (status, sense.hex()))
    last_lba, block_size = struct.unpack_from(">QI", data, 0)
    return last_lba + 1, block_size


# -- what the check scripts share -----------------------------------------------------------------


class Checks:
    """The failed checks of one script: each printed as it happens, all counted at the end."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def fail(self, msg):
        self.failures.append(msg)
        print("%s: FAIL: %s" % (self.name, msg), flush=True)

    def note(self, msg):
        print("%s: %s" % (self.name, msg), flush=True)

    def finish(self):
        """The script's exit status."""
        if self.failures:
            print("%s: %d check(s) FAILED" % (self.name, len(self.failures)), flush=True)
            return 1
        print("%s: all checks passed" % self.name, flush=True)
        return 0


def parse_target_args(with_daemon=False):
    """HOST PORT TARGET LUN; with_daemon adds --pid PID (required) and --log FILE."""
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("target")
    ap.add_argument("lun", type=int)
    if with_daemon:
        ap.add_argument("--pid", type=int, required=True)
        ap.add_argument("--log")
    return ap.parse_args()


def log_mark(log_path):
    """Where the daemon log ends now (0 without a log): expect_log looks only past it."""
    return os.path.getsize(log_path) if log_path else 0


def expect_log(checks, log_path, mark, pattern, case, timeout=2.0):
    """Fails `case` unless the daemon writes a line matching pattern past mark within timeout.

    The daemon logs as it goes, so the line may come a little after the PDU was refused.
    Without a log there is nothing to check."""
    if not log_path:
        return
    regex = re.compile(pattern, re.IGNORECASE)
    deadline = time.monotonic() + timeout
    while True:
        with open(log_path, "rb") as f:
            f.seek(mark)
            new = f.read().decode(errors="replace")
        if any(regex.search(line) for line in new.splitlines()):
            return
        if time.monotonic() > deadline:
            checks.fail("%s: no daemon log line matching /%s/ (new log lines: %r)" %
                        (case, pattern, new[-600:]))
            return
        time.sleep(0.05)
