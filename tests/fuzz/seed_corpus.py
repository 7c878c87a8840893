# What the gen-corpus-*.py scripts share: the raw iSCSI helpers of tests/integration and where a seed corpus is written.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import iscsi_raw as raw  # noqa: E402,F401  (re-exported for the scripts)


def write_corpus(fuzzer, seeds):
    """Writes each seed (file name -> bytes) to argv[1], by default corpus/<fuzzer> here."""
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", fuzzer)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
