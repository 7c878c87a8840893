#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_srp_iu: valid SRP IUs as Linux ib_srp sends them (login over
RDMA/CM, SRP_CMD with direct, indirect, partial indirect and immediate data descriptors,
task management, logout, credit/AER responses) and a credit script, each behind the target's
selector and knob bytes."""
import struct

from seed_corpus import write_corpus

LOGIN, CMD, OTHER, CREDITS = 0, 1, 2, 3
TAG = bytes(range(0x11, 0x19))
PORT_I = bytes(8) + bytes.fromhex("505400fffe123456")
PORT_T = bytes.fromhex("505400fffe123456") * 2


def seed(selector, knobs, body):
    return bytes([selector, knobs]) + body


def login_rdma(it_len=8260, fmt=6, flags=0x80, imm=68):
    pd = TAG + struct.pack(">HBBI", fmt, flags, 0, it_len) + PORT_I + PORT_T
    return pd + struct.pack(">H", imm) + bytes(6)


def login_iu(it_len=4096, fmt=6, flags=0):
    return (bytes([0]) + bytes(7) + TAG + struct.pack(">I", it_len) + bytes(4)
            + struct.pack(">HBBH", fmt, flags, 0, 0) + bytes(2) + PORT_I + PORT_T)


def desc(va, key, length):
    return struct.pack(">QII", va, key, length)


def cmd(fmt, out_cnt=0, in_cnt=0, cdb=b"\x28" + bytes(15), add=b"", tail=b"", attr=0):
    hdr = bytes([2, 0, 0, 0, 0, fmt, out_cnt, in_cnt]) + TAG + bytes(4)
    hdr += bytes([0, 0]) + bytes(6) + bytes([0, attr, 0, len(add)])
    return hdr + cdb + add + tail


def tsk_mgmt(function, task_tag=b"\x01" * 8):
    return (bytes([1, 0]) + bytes(6) + TAG + bytes(4) + bytes([0, 0]) + bytes(6)
            + bytes([0, 0, function, 0]) + task_tag + bytes(8))


SEEDS = {
    "login-rdma": seed(LOGIN, 0x0e, login_rdma()),
    "login-rdma-multi": seed(LOGIN, 0x02, login_rdma(flags=0x81)),
    "login-too-large": seed(LOGIN, 0x00, login_rdma(it_len=1 << 20)),
    "login-ib": seed(LOGIN, 0x01, login_iu()),
    "cmd-no-data": seed(CMD, 0, cmd(0, cdb=bytes(16))),
    "cmd-direct-in": seed(CMD, 0, cmd(0x01, tail=desc(0x1000, 7, 4096))),
    "cmd-direct-out": seed(CMD, 0, cmd(0x10, cdb=b"\x2a" + bytes(15), tail=desc(0x2000, 9, 8192))),
    "cmd-indirect": seed(CMD, 0, cmd(0x02, in_cnt=3, tail=desc(0xfeed, 5, 48)
                                     + struct.pack(">I", 12288)
                                     + desc(0x10000, 1, 4096) + desc(0x20000, 1, 4096)
                                     + desc(0x30000, 1, 4096))),
    "cmd-partial": seed(CMD, 0, cmd(0x20, out_cnt=2, tail=desc(0xabc000, 7, 40 * 16)
                                    + struct.pack(">I", 40 * 4096)
                                    + desc(0x100000, 1, 4096) + desc(0x200000, 1, 4096))),
    "cmd-add-cdb": seed(CMD, 0, cmd(0x01, cdb=b"\x7f" + bytes(15), add=bytes(16),
                                    tail=desc(0x3000, 3, 512))),
    "cmd-immediate": seed(CMD, 1, cmd(0x30, cdb=b"\x2a" + bytes(15), tail=struct.pack(">I", 512)
                                      + bytes(68 - 52) + bytes(range(256)) * 2)),
    "cmd-ordered": seed(CMD, 0, cmd(0, cdb=bytes(16), attr=2)),
    "tsk-abort": seed(OTHER, 0, tsk_mgmt(0x01)),
    "tsk-lun-reset": seed(OTHER, 0, tsk_mgmt(0x08, b"\xff" * 8)),
    "i-logout": seed(OTHER, 0, bytes([3]) + bytes(7) + TAG),
    "cred-rsp": seed(OTHER, 0, bytes([0x41]) + bytes(7) + TAG),
    "aer-rsp": seed(OTHER, 0, bytes([0x42]) + bytes(7) + TAG),
    "credits": seed(CREDITS, 0, bytes([8]) + bytes([0, 0, 0, 3, 2 | 4, 3, 0, 1, 2 | 8, 3])),
}

write_corpus("fuzz_srp_iu", SEEDS)
