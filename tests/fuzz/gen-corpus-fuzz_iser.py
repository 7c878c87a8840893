#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_iser: initiator sessions as the SENDs an iSER initiator makes.

Each seed is one control byte (see fuzz_iser.c) then messages, each a 2-byte big-endian length
and an iSER message: the 28-byte iSER header (opcode, STags) and one iSCSI PDU, or a Hello.
"""
import struct

from seed_corpus import raw, write_corpus

TARGET = "iqn.2026-11.org.targe:fuzz"
ISID = b"\x80\x12\x34\x56\x78\x9a"


def iser_hdr(write=None, read=None):
    """write/read: (stag, va) of the initiator's buffers, or None."""
    flags = 0x10 | (0x08 if write else 0) | (0x04 if read else 0)
    ws, wva = write or (0, 0)
    rs, rva = read or (0, 0)
    return struct.pack(">BxxxIQIQ", flags, ws, wva, rs, rva)


bhs = raw.build_bhs
pad = raw.padded


def text(*pairs):
    return raw.text_strings(pairs)


def msg(body):
    return struct.pack(">H", len(body)) + body


def login(keys, session="Normal"):
    data = text("InitiatorName=iqn.2026-11.example:host", "SessionType=" + session,
                *(["TargetName=" + TARGET] if session == "Normal" else []), *keys)
    rest = struct.pack(">HHII", 1, 0, 1, 0)  # CID, reserved, CmdSN, ExpStatSN
    pdu = bhs(0x43, 0x80 | (1 << 2) | 3, 0x10, len(data), lun=ISID + b"\0\0", rest=rest)
    return msg(iser_hdr() + pdu + pad(data))


def cdb_rw10(op, lba, blocks):
    return bytes([op, 0]) + struct.pack(">IBHB", lba, 0, blocks, 0)


def scsi(itt, cmdsn, cdb, edtl=0, read=None, write=None, imm=b"", final=True):
    flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 1
    rest = struct.pack(">III", edtl, cmdsn, 0) + cdb.ljust(16, b"\0")
    return msg(iser_hdr(write, read) + bhs(0x01, flags, itt, len(imm), rest=rest) + imm)


def data_out(itt, offset, data, datasn=0, final=True):
    rest = struct.pack(">IIIIII", 0xFFFFFFFF, 0, 0, 0, datasn, offset)
    return msg(iser_hdr() + bhs(0x05, 0x80 if final else 0, itt, len(data), rest=rest) + data)


def nop_out(itt, cmdsn, data=b""):
    rest = struct.pack(">III", 0xFFFFFFFF, cmdsn, 0)
    return msg(iser_hdr() + bhs(0x40, 0x80, itt, len(data), rest=rest) + pad(data))


def tmf(itt, cmdsn, function, ref_itt=0xFFFFFFFF):
    rest = struct.pack(">IIIII", ref_itt, cmdsn, 0, cmdsn, 0)
    return msg(iser_hdr() + bhs(0x42, 0x80 | function, itt, rest=rest))


def text_req(itt, cmdsn, *pairs):
    data = text(*pairs)
    rest = struct.pack(">III", 0xFFFFFFFF, cmdsn, 0)
    return msg(iser_hdr() + bhs(0x04, 0x80, itt, len(data), rest=rest) + pad(data))


def logout(itt, cmdsn):
    rest = struct.pack(">HHII", 1, 0, cmdsn, 0)
    return msg(iser_hdr() + bhs(0x46, 0x80, itt, rest=rest))


ZERO_COPY = ["RDMAExtensions=Yes", "InitialR2T=Yes", "ImmediateData=No",
             "InitiatorRecvDataSegmentLength=262144", "TargetRecvDataSegmentLength=262144",
             "HeaderDigest=CRC32C,None", "DataDigest=CRC32C,None", "MaxOutstandingR2T=1"]
IMMEDIATE = ["RDMAExtensions=Yes", "InitialR2T=No", "ImmediateData=Yes",
             "FirstBurstLength=262144", "MaxOutstandingUnexpectedPDUs=0"]
TUR = b"\0" * 6


def session_rw(keys, control=1):
    return bytes([control]) + b"".join([
        login(keys),
        scsi(0x20, 1, TUR),
        scsi(0x21, 2, TUR),
        scsi(0x22, 3, cdb_rw10(0x2a, 8, 128), 65536, write=(0x1234, 0x1000)),
        scsi(0x23, 4, cdb_rw10(0x28, 8, 128), 65536, read=(0x5678, 0x40000)),
        nop_out(0x24, 5, b"ping"),
        logout(0x25, 5),
    ])


SEEDS = {
    "zero-copy": session_rw(ZERO_COPY),
    "zero-copy-impatient": session_rw(ZERO_COPY, control=0),
    "peer-gone": session_rw(ZERO_COPY, control=3),
    "qp-error": session_rw(ZERO_COPY, control=5),
    "immediate": bytes([1]) + b"".join([
        login(IMMEDIATE),
        scsi(0x20, 1, TUR),
        scsi(0x21, 2, cdb_rw10(0x2a, 0, 24), 12288, write=(0x99, 0x2000),
             imm=bytes(range(256)) * 32, final=True),
        scsi(0x22, 3, cdb_rw10(0x28, 0, 24), 12288, read=(0x98, 0x8000)),
    ]),
    "unsolicited": bytes([1]) + b"".join([
        login(["RDMAExtensions=Yes", "InitialR2T=No", "ImmediateData=No"]),
        scsi(0x20, 1, TUR),
        scsi(0x21, 2, cdb_rw10(0x2a, 0, 32), 16384, write=(0x77, 0x3000), final=False),
        data_out(0x21, 0, b"\xee" * 8192),
    ]),
    "hello": bytes([1]) + msg(bytes([0x20, 0x11, 0x00, 0x10]) + b"\0" * 8) + login(ZERO_COPY),
    "discovery": bytes([1]) + b"".join([
        login(["MaxRecvDataSegmentLength=8192"], session="Discovery"),
        text_req(0x30, 1, "SendTargets=All"),
        logout(0x31, 2),
    ]),
    "tmf": bytes([0]) + b"".join([
        login(ZERO_COPY),
        scsi(0x20, 1, TUR),
        scsi(0x21, 2, cdb_rw10(0x2a, 16, 2048), 1048576, write=(0x11, 0x0)),
        tmf(0x22, 3, 1, 0x21),
        tmf(0x23, 3, 5),
    ]),
    "bad-stag": bytes([1]) + b"".join([
        login(ZERO_COPY),
        scsi(0x20, 1, TUR),
        scsi(0x21, 2, cdb_rw10(0x28, 0, 8), 4096, read=(0x1, 0xFFFFF800)),
        scsi(0x22, 3, cdb_rw10(0x2a, 0, 8), 4096),
    ]),
    "extended-cdb": bytes([1]) + login(ZERO_COPY) + msg(
        iser_hdr(read=(0x5, 0x100)) +
        bhs(0x01, 0xC1, 0x40, 0, ahs_words=5, rest=struct.pack(">III", 512, 1, 0) + b"\x7f" + b"\0" * 15) +
        struct.pack(">HBB", 17, 1, 0) + bytes(range(16, 32))),
}


def main():
    write_corpus("fuzz_iser", SEEDS)


if __name__ == "__main__":
    main()
