#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_iscsi_conn: whole initiator byte streams that log in and use
the session (SCSI reads and writes with immediate, unsolicited and R2T-solicited data, NOP-Out,
SendTargets, task management, logout), each behind the harness's two control bytes."""
import struct

from seed_corpus import raw, write_corpus

TARGET = "iqn.2026-11.org.targe:fuzz"
CHAP_TARGET = "iqn.2026-11.org.targe:chap"
PRIVATE_TARGET = "iqn.2026-11.org.targe:private"
INITIATOR = "iqn.2026-11.example:host"
ISID = bytes([0x80, 0x12, 0x34, 0x56, 0x78, 0x9A])
NO_TAG = 0xFFFFFFFF

OP_NOP_OUT, OP_SCSI_CMD, OP_TMF, OP_LOGIN, OP_TEXT, OP_DATA_OUT, OP_LOGOUT = 0, 1, 2, 3, 4, 5, 6
OP_SNACK = 0x10
IMMEDIATE = 0x40
FINAL = 0x80

# Control byte 0 (how the harness cuts the stream): 0 all at once, 1 pieces of 1..7 bytes,
# 2 up to 200, 3 one PDU at a time (1 and 2 go PDU-wise after 1 KiB); bit 2 lets the commands
# of each piece finish before the next, as a patient initiator would.
CUT_WHOLE, CUT_BYTES, CUT_SMALL, CUT_PDU = 0, 1 | 4, 2 | 4, 3 | 4
# Bit 3: the stream is sent again on a second connection (bit 5: only its login request).
# Bit 4: the (last) initiator hangs up at the end instead of only ending its sending; bit 6:
# it hangs up before the target has read the last piece.
SECOND_CONNECTION, HANG_UP, SECOND_LOGIN_ONLY, AT_ONCE = 8, 0x10, 0x20, 0x40
# Control byte 1 (target limits): 0 = the defaults; 0x01 makes the target want InitialR2T.
LIMITS_DEFAULT, LIMITS_INITIAL_R2T = 0, 1


crc32c = raw.crc32c
lun_field = raw.encode_lun


def keys(*pairs):
    return raw.text_keys(pairs)


class Stream:
    """What one initiator sends on one connection, with its CmdSN and tag bookkeeping."""

    def __init__(self):
        self.out = bytearray()
        self.cmdsn = 1
        self.itt = 0x100
        self.header_digest = False
        self.data_digest = False

    def next_itt(self):
        self.itt += 1
        return self.itt

    def pdu(self, bhs, data=b"", ahs=b""):
        bhs = bytearray(bhs)
        assert len(bhs) == 48 and len(ahs) % 4 == 0
        bhs[4] = len(ahs) // 4
        bhs[5:8] = len(data).to_bytes(3, "big")
        self.out += bhs + ahs
        if self.header_digest:
            self.out += struct.pack("<I", crc32c(bytes(bhs) + ahs))
        if data:
            padded = data + b"\0" * (-len(data) % 4)
            self.out += padded
            if self.data_digest:
                self.out += struct.pack("<I", crc32c(padded))

    def bhs(self, opcode, flags, itt, lun=b"\0" * 8):
        b = bytearray(48)
        b[0] = opcode
        b[1] = flags
        b[8:16] = lun
        struct.pack_into(">I", b, 16, itt)
        return b

    # -- login -------------------------------------------------------------------------------

    def login(self, text, csg, nsg, transit=True, cont=False):
        b = self.bhs(IMMEDIATE | OP_LOGIN, (0x80 if transit else 0) | (0x40 if cont else 0)
                     | csg << 2 | (nsg if transit else 0), 0x10)
        b[8:14] = ISID
        struct.pack_into(">HHII", b, 20, 1, 0, self.cmdsn, 0)  # CID, -, CmdSN, ExpStatSN
        self.pdu(b, text)

    def login_normal(self, target=TARGET, digests=False, extra=()):
        """Operational stage straight to full feature phase, in one PDU."""
        self.login(keys(("InitiatorName", INITIATOR), ("SessionType", "Normal"),
                        ("TargetName", target),
                        ("HeaderDigest", "CRC32C" if digests else "None"),
                        ("DataDigest", "CRC32C" if digests else "None"),
                        ("MaxRecvDataSegmentLength", "65536"), ("ErrorRecoveryLevel", "0"),
                        *extra), 1, 3)
        self.header_digest = self.data_digest = digests
        # A new nexus reports a unit attention first; a real initiator takes it with TUR.
        self.scsi(TEST_UNIT_READY)

    def login_discovery(self, digests=False):
        self.login(keys(("InitiatorName", INITIATOR), ("SessionType", "Discovery"),
                        ("HeaderDigest", "CRC32C,None" if digests else "None"),
                        ("DataDigest", "CRC32C,None" if digests else "None"),
                        ("MaxRecvDataSegmentLength", "32768")), 1, 3)
        self.header_digest = self.data_digest = digests

    # -- full feature phase --------------------------------------------------------------------

    def scsi(self, cdb, lun=0, read=0, write=0, data=b"", final=True, immediate=False, itt=None,
             ahs=b""):
        itt = self.next_itt() if itt is None else itt
        flags = (FINAL if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 0x01
        b = self.bhs(OP_SCSI_CMD | (IMMEDIATE if immediate else 0), flags, itt, lun_field(lun))
        struct.pack_into(">III", b, 20, read or write, self.cmdsn, 0)
        b[32:32 + min(len(cdb), 16)] = cdb[:16]
        self.pdu(b, data, ahs)
        if not immediate:
            self.cmdsn += 1
        return itt

    def data_out(self, itt, ttt, datasn, offset, data, final, lun=0):
        b = self.bhs(OP_DATA_OUT, FINAL if final else 0, itt, lun_field(lun))
        struct.pack_into(">IIIIII", b, 20, ttt, 0, 0, 0, datasn, offset)
        self.pdu(b, data)

    def data_sequence(self, itt, ttt, offset, data, pdu_len):
        """One Data-Out sequence (an R2T's burst or the unsolicited burst)."""
        for datasn, at in enumerate(range(0, len(data), pdu_len)):
            piece = data[at:at + pdu_len]
            self.data_out(itt, ttt, datasn, offset + at, piece, at + pdu_len >= len(data))

    def nop(self, payload=b"", itt=None, ttt=NO_TAG, immediate=True):
        itt = self.next_itt() if itt is None else itt
        b = self.bhs(OP_NOP_OUT | (IMMEDIATE if immediate else 0), FINAL, itt)
        struct.pack_into(">III", b, 20, ttt, self.cmdsn, 0)
        self.pdu(b, payload)
        if not immediate:
            self.cmdsn += 1

    def text(self, text, immediate=True):
        b = self.bhs(OP_TEXT | (IMMEDIATE if immediate else 0), FINAL, self.next_itt())
        struct.pack_into(">III", b, 20, NO_TAG, self.cmdsn, 0)
        self.pdu(b, text)
        if not immediate:
            self.cmdsn += 1

    def tmf(self, function, ref_itt=NO_TAG, lun=0, refcmdsn=0):
        b = self.bhs(OP_TMF | IMMEDIATE, FINAL | function, self.next_itt(), lun_field(lun))
        struct.pack_into(">IIIII", b, 20, ref_itt, self.cmdsn, 0, refcmdsn, 0)
        self.pdu(b)

    def snack(self, itt, kind=0):
        b = self.bhs(OP_SNACK, FINAL | kind, itt)
        self.pdu(b)

    def logout(self, reason=0):
        b = self.bhs(OP_LOGOUT | IMMEDIATE, FINAL | reason, self.next_itt())
        struct.pack_into(">HHII", b, 20, 1, 0, self.cmdsn, 0)
        self.pdu(b)


def rw10(opcode, lba, blocks, flags=0):
    return struct.pack(">BBIBHB", opcode, flags, lba, 0, blocks, 0)


def rw16(opcode, lba, blocks):
    return struct.pack(">BBQIBB", opcode, 0, lba, blocks, 0, 0)


READ_10, WRITE_10, READ_16, WRITE_16 = 0x28, 0x2A, 0x88, 0x8A
INQUIRY = bytes([0x12, 0, 0, 0, 96, 0])
TEST_UNIT_READY = bytes(6)
REPORT_LUNS = struct.pack(">BBBBIBB", 0xA0, 0, 0, 0, 256, 0, 0) + bytes(4)
READ_CAPACITY_10 = bytes([0x25]) + bytes(9)
READ_CAPACITY_16 = bytes([0x9E, 0x10]) + bytes(8) + struct.pack(">I", 32) + bytes(2)
MODE_SENSE_6 = bytes([0x1A, 0, 0x3F, 0, 192, 0])
SYNC_CACHE_10 = bytes([0x35]) + bytes(9)
REQUEST_SENSE = bytes([0x03, 0, 0, 0, 252, 0])
WRITE_SAME_16 = bytes([0x93, 0]) + struct.pack(">QI", 64, 8) + bytes(2)
UNMAP = bytes([0x42]) + bytes(6) + struct.pack(">H", 24) + bytes(1)
UNMAP_LIST = struct.pack(">HH4xQI4x", 22, 16, 128, 8)
COMPARE_AND_WRITE = bytes([0x89, 0]) + struct.pack(">Q", 0) + bytes(3) + bytes([1, 0, 0])


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


def seed_basic():
    """ImmediateData, InitialR2T=No: the everyday commands and a logout."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "No"), ("ImmediateData", "Yes")))
    s.scsi(INQUIRY, read=96)
    s.scsi(TEST_UNIT_READY)
    s.scsi(REPORT_LUNS, read=256)
    s.scsi(READ_CAPACITY_10, read=8)
    s.scsi(rw10(WRITE_10, 8, 1), write=512, data=pattern(512, 1))
    s.scsi(rw10(READ_10, 8, 1), read=512)
    s.scsi(MODE_SENSE_6, read=192)
    s.scsi(rw10(READ_10, 0, 4096), read=2 << 20)      # 2 MiB: more than a socket buffer
    s.scsi(SYNC_CACHE_10)
    s.nop(b"ping")
    s.logout()
    return CUT_PDU, LIMITS_DEFAULT, s.out


def seed_logout_in_flight():
    """Everything at once: the logout is answered while commands are still in the backend."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "No"), ("ImmediateData", "Yes")))
    s.scsi(rw10(WRITE_10, 8, 1), write=512, data=pattern(512, 1))
    s.scsi(rw10(READ_10, 8, 1), read=512)
    s.scsi(SYNC_CACHE_10)
    s.logout()
    return CUT_WHOLE, LIMITS_DEFAULT, s.out


def seed_r2t():
    """InitialR2T=Yes: every write byte is solicited, over two bursts and several PDUs."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "Yes"), ("ImmediateData", "No"),
                          ("MaxBurstLength", "4096"), ("MaxOutstandingR2T", "1")))
    itt = s.scsi(rw10(WRITE_10, 0, 8), write=4096)
    s.data_sequence(itt, 1, 0, pattern(4096, 2), 4096)
    itt = s.scsi(rw10(WRITE_10, 64, 16), write=8192)
    data = pattern(8192, 3)
    s.data_sequence(itt, 2, 0, data[:4096], 2048)      # R2T 0: offset 0, 4 KiB
    s.data_sequence(itt, 2, 4096, data[4096:], 2048)   # R2T 1, after the first burst
    s.scsi(rw10(READ_10, 64, 16), read=8192)
    s.logout()
    return CUT_BYTES, LIMITS_DEFAULT, s.out


def seed_unsolicited():
    """Immediate data, then unsolicited Data-Out to FirstBurstLength, then an R2T's burst."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "No"), ("ImmediateData", "Yes"),
                          ("FirstBurstLength", "2048"), ("MaxBurstLength", "65536")))
    data = pattern(2048, 4)
    itt = s.scsi(rw10(WRITE_10, 16, 4), write=2048, data=data[:512], final=False)
    s.data_sequence(itt, NO_TAG, 512, data[512:], 1024)
    data = pattern(4096, 5)
    itt = s.scsi(rw16(WRITE_16, 32, 8), write=4096, data=data[:1024], final=False)
    s.data_sequence(itt, NO_TAG, 1024, data[1024:2048], 1024)
    # The first write was given TTT 1 although it needed no R2T; this one's R2T carries 2.
    s.data_sequence(itt, 2, 2048, data[2048:], 2048)
    s.scsi(rw16(READ_16, 16, 24), read=12288)
    s.logout()
    return CUT_BYTES, LIMITS_DEFAULT, s.out


def seed_digests():
    """Header and data digests from the first PDU after the login."""
    s = Stream()
    s.login_normal(digests=True, extra=(("InitialR2T", "No"), ("ImmediateData", "Yes")))
    s.nop(b"digest ping")
    s.scsi(rw10(WRITE_10, 100, 2), write=1024, data=pattern(1024, 6))
    s.scsi(rw10(READ_10, 100, 2), read=1024)
    s.scsi(INQUIRY, read=96)
    s.logout()
    return CUT_SMALL, LIMITS_DEFAULT, s.out


def seed_discovery(digests):
    s = Stream()
    s.login_discovery(digests)
    s.text(keys(("SendTargets", "All")))
    s.text(keys(("SendTargets", TARGET)), immediate=False)
    s.logout()
    return (CUT_BYTES if digests else CUT_WHOLE), LIMITS_DEFAULT, s.out


def seed_security_stage():
    """Two stages: AuthMethod=None in the security stage, then operational keys."""
    s = Stream()
    s.login(keys(("InitiatorName", INITIATOR), ("SessionType", "Normal"), ("TargetName", TARGET),
                 ("AuthMethod", "None")), 0, 1)
    s.login(keys(("HeaderDigest", "None"), ("DataDigest", "None"), ("MaxBurstLength", "65536"),
                 ("FirstBurstLength", "4096"), ("DefaultTime2Wait", "0")), 1, 3)
    s.text(keys(("SendTargets", "")))
    s.nop(b"", immediate=False)
    s.scsi(READ_CAPACITY_16, read=32)
    s.logout(1)
    return CUT_BYTES, LIMITS_INITIAL_R2T, s.out


def seed_chap():
    """CHAP against the target that demands it: the challenge comes, the response is wrong
    (the challenge is random), so the login fails; the fuzzer takes it from there."""
    s = Stream()
    s.login(keys(("InitiatorName", INITIATOR), ("SessionType", "Normal"),
                 ("TargetName", CHAP_TARGET), ("AuthMethod", "CHAP,None")), 0, 1, transit=False)
    s.login(keys(("CHAP_A", "5")), 0, 1, transit=False)
    s.login(keys(("CHAP_N", "alice"), ("CHAP_R", "0x" + "00" * 16), ("CHAP_I", "7"),
                 ("CHAP_C", "0x" + "5a" * 16)), 0, 1)
    return CUT_SMALL, LIMITS_DEFAULT, s.out


def seed_login_continued():
    """A login request split over two PDUs with the C bit, and a refused private target."""
    s = Stream()
    text = keys(("InitiatorName", INITIATOR), ("SessionType", "Normal"), ("TargetName", TARGET),
                ("HeaderDigest", "None"), ("DataDigest", "None"))
    s.login(text[:30], 1, 3, transit=False, cont=True)
    s.login(text[30:], 1, 3)
    s.scsi(INQUIRY, read=96)
    s.logout()
    return CUT_SMALL, LIMITS_DEFAULT, s.out


def seed_private():
    s = Stream()
    s.login_normal(target=PRIVATE_TARGET)
    return CUT_WHOLE, LIMITS_DEFAULT, s.out


def seed_tmf():
    """Writes left waiting for their data, then each task management function."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "Yes"), ("ImmediateData", "No")))
    waiting = s.scsi(rw10(WRITE_10, 0, 8), write=4096)
    s.tmf(1, ref_itt=waiting, refcmdsn=1)             # ABORT TASK
    s.scsi(rw10(WRITE_10, 8, 8), write=4096)
    s.scsi(rw10(READ_10, 0, 8), read=4096)
    s.tmf(2)                                          # ABORT TASK SET
    s.scsi(rw10(WRITE_10, 16, 8), write=4096)
    s.tmf(4)                                          # CLEAR TASK SET
    s.tmf(5)                                          # LOGICAL UNIT RESET
    s.tmf(6)                                          # TARGET WARM RESET
    s.tmf(7)                                          # TARGET COLD RESET: not supported
    s.tmf(5, lun=9)                                   # no such LUN
    s.scsi(rw10(READ_10, 0, 2048), read=1 << 20)      # 1 MiB: more than a socket buffer
    s.tmf(9, ref_itt=s.itt)                           # QUERY TASK
    s.tmf(10)                                         # QUERY TASK SET
    s.tmf(12)                                         # QUERY ASYNCHRONOUS EVENT
    s.tmf(11)                                         # I_T NEXUS RESET
    s.scsi(TEST_UNIT_READY)
    s.logout()
    return CUT_WHOLE, LIMITS_DEFAULT, s.out


def seed_reinstate(cut):
    """No logout: the harness sends the same stream on a second connection (cut bit 3), whose
    login reinstates the first session — with a write waiting for its data and, when the
    stream comes at once, commands still in the backend."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "Yes"), ("ImmediateData", "No")))
    s.scsi(rw10(WRITE_10, 0, 8), write=4096)
    s.scsi(rw10(READ_10, 0, 64), read=32768)
    s.scsi(SYNC_CACHE_10)
    return cut | SECOND_CONNECTION, LIMITS_DEFAULT, s.out


def seed_hang_up_after_login():
    """The initiator sends its login and goes: the login response meets a closed socket."""
    s = Stream()
    s.login_normal()
    return CUT_WHOLE | HANG_UP | AT_ONCE, LIMITS_DEFAULT, s.out


def seed_odd():
    """Less common paths: 32-byte CDB in an AHS, SNACK, stray Data-Out, ping replies, SBC
    commands with data, out-of-window CmdSN, logout for recovery."""
    s = Stream()
    s.login_normal(extra=(("InitialR2T", "No"), ("ImmediateData", "Yes")))
    # READ (32): variable-length CDB, its last 16 bytes in the extended-CDB AHS.
    cdb32 = bytearray(32)
    cdb32[0], cdb32[7], cdb32[9] = 0x7F, 0x18, 0x09
    struct.pack_into(">QI", cdb32, 12, 0, 0)
    struct.pack_into(">I", cdb32, 28, 1)
    ahs = struct.pack(">HBB", 17, 1, 0) + bytes(cdb32[16:])
    s.scsi(bytes(cdb32[:16]), read=512, ahs=ahs)
    s.snack(0x1234)
    s.data_out(0x4444, NO_TAG, 0, 0, b"stray data", True)
    s.nop(itt=NO_TAG, ttt=0x77)                        # answers a ping we never sent
    s.scsi(WRITE_SAME_16, write=512, data=pattern(512, 7))
    s.scsi(UNMAP, write=24, data=UNMAP_LIST)
    s.scsi(COMPARE_AND_WRITE, write=1024, data=bytes(512) + pattern(512, 8))
    s.scsi(REQUEST_SENSE, read=252)
    s.scsi(rw10(READ_10, 0, 1), lun=1, read=4096)
    s.scsi(rw10(WRITE_10, 0, 1), lun=1, write=4096, data=pattern(4096, 9))
    s.scsi(INQUIRY, lun=7, read=96)
    s.cmdsn += 5
    s.scsi(TEST_UNIT_READY)                            # outside the CmdSN window: dropped
    s.cmdsn -= 6
    s.logout(2)
    s.logout()
    return CUT_PDU, LIMITS_DEFAULT, s.out


SEEDS = {
    "basic": seed_basic,
    "logout-in-flight": seed_logout_in_flight,
    "r2t": seed_r2t,
    "unsolicited": seed_unsolicited,
    "digests": seed_digests,
    "discovery": lambda: seed_discovery(False),
    "discovery-digests": lambda: seed_discovery(True),
    "security-stage": seed_security_stage,
    "chap": seed_chap,
    "login-continued": seed_login_continued,
    "private-target": seed_private,
    "tmf": seed_tmf,
    "odd": seed_odd,
    "reinstate": lambda: seed_reinstate(CUT_SMALL),
    "reinstate-in-flight": lambda: seed_reinstate(CUT_WHOLE),
    "reinstate-login-only": lambda: seed_reinstate(CUT_WHOLE | SECOND_LOGIN_ONLY | HANG_UP),
    "hang-up-after-login": seed_hang_up_after_login,
}


def main():
    seeds = {}
    for name, build in SEEDS.items():
        cut, limits, stream = build()
        seeds[name] = bytes([cut, limits]) + bytes(stream)
    write_corpus("fuzz_iscsi_conn", seeds)


if __name__ == "__main__":
    main()
