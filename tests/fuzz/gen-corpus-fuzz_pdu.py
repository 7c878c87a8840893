#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pdu: a few valid initiator PDUs (BHS, AHS, data segment)."""
import struct

from seed_corpus import raw, write_corpus


bhs = raw.build_bhs
pad = raw.padded


def text(*pairs):
    return raw.text_strings(pairs)


def login(flags, keys, isid=b"\x80\x12\x34\x56\x78\x9a", tsih=0):
    data = text(*keys)
    lun = isid + struct.pack(">H", tsih)
    rest = struct.pack(">HHII", 1, 0, 0, 0)  # CID, reserved, CmdSN, ExpStatSN
    return bhs(0x43, flags, 0x10, len(data), lun=lun, rest=rest) + pad(data)


SEEDS = {
    "login-security": login(0x80 | (0 << 2) | 1, [
        "InitiatorName=iqn.2026-11.example:host", "InitiatorAlias=host",
        "SessionType=Normal", "TargetName=iqn.2026-11.org.targe:disk0",
        "AuthMethod=CHAP,None"]),
    "login-operational": login(0x80 | (1 << 2) | 3, [
        "HeaderDigest=CRC32C,None", "DataDigest=None", "MaxRecvDataSegmentLength=262144",
        "ImmediateData=Yes", "InitialR2T=No", "MaxBurstLength=16776192",
        "FirstBurstLength=262144", "MaxConnections=1", "DefaultTime2Wait=2",
        "DefaultTime2Retain=0", "MaxOutstandingR2T=1", "DataPDUInOrder=Yes",
        "DataSequenceInOrder=Yes", "ErrorRecoveryLevel=0", "IFMarker=No", "OFMarker=No",
        "TaskReporting=FastAbort,RFC3720", "iSCSIProtocolLevel=2", "X-com.example.Key=1"]),
    "login-discovery": login(0x80 | (1 << 2) | 3, [
        "InitiatorName=iqn.2026-11.example:host", "SessionType=Discovery",
        "HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=32768",
        "MaxBurstLength=0x40000", "DefaultTime2Wait=0"]),
    "login-iser": login(0x80 | (1 << 2) | 3, [
        "RDMAExtensions=Yes", "InitiatorRecvDataSegmentLength=8192",
        "TargetRecvDataSegmentLength=8192", "MaxOutstandingUnexpectedPDUs=32",
        "MaxRecvDataSegmentLength=8192"]),
    "text-sendtargets": bhs(0x04, 0x80, 0x20, len(text("SendTargets=All")),
                            rest=struct.pack(">III", 0xFFFFFFFF, 1, 1)) + pad(text("SendTargets=All")),
    # RFC 3720 B.4's READ (10) command.
    "scsi-read10": bytes.fromhex(
        "01c00000000000000000000000000000140000000000040000000014000000182800000000000000"
        "0200000000000000"),
    "scsi-write-immediate": bhs(0x01, 0x80 | 0x20 | 0x01, 0x30, 512,
                                lun=b"\x00\x01" + b"\0" * 6,
                                rest=struct.pack(">III", 4096, 2, 2) + bytes.fromhex("2a000000000000000800")) + b"\xab" * 512,
    # 32-byte CDB: extended CDB AHS (AHSLength 17) and a bidirectional read length AHS.
    "scsi-extended-cdb": bhs(0x01, 0x80 | 0x40 | 0x01, 0x40, 0, ahs_words=7,
                             rest=struct.pack(">III", 512, 3, 3) + b"\x7f" + b"\0" * 15)
    + struct.pack(">HBB", 17, 1, 0) + bytes(range(16, 32))
    + struct.pack(">HBBI", 5, 2, 0, 512),
    "nop-out-ping": bhs(0x40, 0x80, 0x50, 8, rest=struct.pack(">III", 0xFFFFFFFF, 4, 4)) + b"pingpong",
    "tmf-abort-task": bhs(0x42, 0x80 | 0x01, 0x60, rest=struct.pack(">IIIII", 0x30, 5, 5, 2, 0)),
    "logout": bhs(0x46, 0x80, 0x70, rest=struct.pack(">HHII", 1, 0, 6, 6)),
    "data-out": bhs(0x05, 0x80, 0x30, 8, rest=struct.pack(">IIIIIII", 0x100, 0, 2, 0, 0, 512, 0)) + b"\xcd" * 8,
}


def main():
    write_corpus("fuzz_pdu", SEEDS)


if __name__ == "__main__":
    main()
