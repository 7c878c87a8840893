#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_chap: binary values, CHAP exchanges (one request per step,
steps separated by 0xff, "@" standing for what only the real initiator knows) and failure
limiter runs, each behind fuzz_chap's selector byte."""
import base64

from seed_corpus import write_corpus

PART_VALUES, PART_EXCHANGE, PART_LIMITER = 0x00, 0x40, 0x80
# Exchange setup bits (low bits of the selector).
DISCOVERY, DISABLED, SHORT_SECRET, MUTUAL, SAME_SECRETS, FIXED_PEER = 1, 2, 6, 8, 0x10, 0x20


def request(*pairs):
    return b"".join(p.encode() + b"\0" for p in pairs)


def exchange(setup, *steps):
    return bytes([PART_EXCHANGE | setup]) + b"\xff".join(steps)


CHALLENGE_HEX = "0x" + "a5" * 16
CHALLENGE_B64 = "0b" + base64.b64encode(bytes(range(20))).decode()

SEEDS = {
    "value-hex": bytes([PART_VALUES]) + b"0x0123456789abcdefABCDEF",
    "value-hex-odd": bytes([PART_VALUES]) + b"0Xfff",
    "value-base64": bytes([PART_VALUES]) + b"0b" + base64.b64encode(bytes(range(16))),
    "value-base64-pad": bytes([PART_VALUES]) + b"0BAAE=",
    "value-long": bytes([PART_VALUES]) + b"0x" + b"00" * 1025,
    "exchange-good": exchange(0, request("AuthMethod=CHAP"), request("CHAP_A=5"),
                              request("CHAP_N=alice", "CHAP_R=@"), b""),
    "exchange-one-step": exchange(0, request("AuthMethod=CHAP", "CHAP_A=7,0x5"),
                                  request("CHAP_N=@", "CHAP_R=@")),
    "exchange-mutual": exchange(MUTUAL, request("AuthMethod=CHAP"), request("CHAP_A=5"),
                                request("CHAP_N=alice", "CHAP_R=@", "CHAP_I=17",
                                        "CHAP_C=" + CHALLENGE_HEX)),
    "exchange-mutual-base64": exchange(MUTUAL | DISCOVERY, request("CHAP_A=5"),
                                       request("CHAP_N=alice", "CHAP_R=@", "CHAP_I=0x2a",
                                               "CHAP_C=" + CHALLENGE_B64)),
    "exchange-reflected": exchange(MUTUAL, request("CHAP_A=5"),
                                   request("CHAP_N=alice", "CHAP_R=@", "CHAP_I=1", "CHAP_C=@")),
    "exchange-same-secrets": exchange(MUTUAL | SAME_SECRETS, request("CHAP_A=5")),
    "exchange-wrong": exchange(FIXED_PEER, request("CHAP_A=5"),
                               request("CHAP_N=alice", "CHAP_R=0x" + "00" * 16)),
    "exchange-unknown-user": exchange(0, request("CHAP_A=5"),
                                      request("CHAP_N=mallory", "CHAP_R=@")),
    "exchange-repeated": exchange(0, request("CHAP_A=5", "CHAP_A=5")),
    "exchange-disabled": exchange(DISABLED, request("CHAP_A=5")),
    "exchange-short-secret": exchange(SHORT_SECRET | DISCOVERY, request("CHAP_A=5")),
    "exchange-after-done": exchange(0, request("CHAP_A=5"), request("CHAP_N=alice", "CHAP_R=@"),
                                    request("CHAP_N=alice")),
    # Three failures from one address within the window, then a query after the back-off.
    "limiter": bytes([PART_LIMITER, 2, 100, 50]) + bytes([0x81, 1, 0x81, 5, 0x01, 1, 0x81, 3,
                                                          0x02, 200, 0x81, 250, 0x01, 0]),
}


def main():
    write_corpus("fuzz_chap", SEEDS)


if __name__ == "__main__":
    main()
