#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_control: request lines, session names and JSON writer call
sequences, each behind fuzz_control's selector byte (0 request, 1 session, 2 writer)."""
from seed_corpus import write_corpus

REQUEST, SESSION, WRITER = b"\x00", b"\x01", b"\x02"
# Writer ops: low 3 bits the call, 0x08 "with a key", high nibble the string length.
OBJ, END_OBJ, ARR, END_ARR, STR, UINT, BOOL, NULL, KEY = 0, 1, 2, 3, 4, 5, 6, 7, 8

SEEDS = {
    "req-targets": REQUEST + b"targets\n",
    "req-devices": REQUEST + b"devices\n",
    "req-sessions": REQUEST + b"sessions\r\n",
    "req-stats": REQUEST + b"  stats \n",
    "req-add-lun": REQUEST + b"add-lun iqn.2026-11.org.targe:fuzz 4 disk0\n",
    "req-remove-lun": REQUEST + b"remove-lun iqn.2026-11.org.targe:fuzz 3\n",
    "req-reload": REQUEST + b"reload",
    "req-args": REQUEST + b"stats please\n",
    "req-binary": REQUEST + bytes(range(256)),
    "req-long": REQUEST + b"s" * 1100 + b"\n",
    "req-empty": REQUEST + b"\n",
    "session-iqn": SESSION + b"iqn.2026-11.example:db1\xffiqn.2026-11.example:db1,i,0x80123456789a",
    "session-srp": SESSION + b"0x" + b"0123456789abcdef" * 2,
    "session-utf8": SESSION + "iqn.2026-11.example:caf\u00e9-\u20ac".encode() + b"\xff\xc3",
    "session-junk": SESSION + b"\"\\\x00\x1f\x7f\xed\xa0\x80\xf4\x90\x80\x80",
    "writer-doc": WRITER + bytes([OBJ, BOOL | KEY | 0x10, ARR | KEY, UINT, 0x34 | 0, ]) + b"a\"\xff"
    + bytes([NULL, END_ARR, OBJ | KEY, END_OBJ, END_OBJ]),
    "writer-misuse": WRITER + bytes([OBJ, UINT, END_ARR]),
}

write_corpus("fuzz_control", SEEDS)
