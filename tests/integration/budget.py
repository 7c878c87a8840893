#!/usr/bin/env python3
"""global.buffer_memory: commands past the data-buffer budget get TASK SET FULL, and run again once buffers come back."""
import os
import sys

from iscsi_raw import (STATUS_GOOD, Checks, Connection, ConnectionClosed, ProtocolError,
                       cdb_read16, cdb_write16, clear_unit_attentions, expect_log, log_mark,
                       parse_target_args, read_capacity)

STATUS_TASK_SET_FULL = 0x28
BUDGET = 16 << 20          # what test_budget.sh configures
HELD = 8 << 20             # the largest transfer the core takes: two of them fill the budget


def main():
    args = parse_target_args(with_daemon=True)
    checks = Checks("budget")
    mark = log_mark(args.log)

    holder = Connection(args.host, args.port)
    holder.login("iqn.2026-11.org.targe.test:budget-holder", args.target,
                 isid=bytes([0x80, 0, 0, 0, 0x20, 1]))
    clear_unit_attentions(holder, args.lun)
    _, block_size = read_capacity(holder, args.lun)
    # Two 8 MiB writes whose data never comes: each holds its 8 MiB buffer while it waits.
    for n in range(BUDGET // HELD):
        bhs = holder.scsi_bhs(cdb_write16(n * HELD // block_size, HELD // block_size), args.lun,
                              write_len=HELD)
        holder.send_pdu(bhs)
        holder.cmdsn = (holder.cmdsn + 1) & 0xFFFFFFFF
    holder.nop(b"both writes are in")  # answered after the commands before it were taken in

    other = Connection(args.host, args.port)
    other.login("iqn.2026-11.org.targe.test:budget-other", args.target,
                isid=bytes([0x80, 0, 0, 0, 0x20, 2]))
    clear_unit_attentions(other, args.lun)
    pattern = os.urandom(4096)
    lba = (2 * HELD) // block_size
    status, _, _ = other.scsi(cdb_read16(lba, 4096 // block_size), args.lun, read_len=4096)
    if status != STATUS_TASK_SET_FULL:
        checks.fail("READ with the budget spent: status 0x%02x, expected TASK SET FULL" % status)
    try:
        status, _, _ = other.scsi(cdb_write16(lba, 4096 // block_size), args.lun, data_out=pattern)
        if status != STATUS_TASK_SET_FULL:
            checks.fail("WRITE with the budget spent: status 0x%02x, expected TASK SET FULL" % status)
    except (ProtocolError, ConnectionClosed) as e:
        checks.fail("WRITE with the budget spent ended the connection: %s" % e)
        return checks.finish()
    expect_log(checks, args.log, mark, r"data buffer budget of 16 MiB in use", "budget warning")

    # The holder goes: its commands are aborted and their buffers return to the budget.
    holder.close()
    for attempt in range(50):
        status, _, _ = other.scsi(cdb_write16(lba, 4096 // block_size), args.lun, data_out=pattern)
        if status != STATUS_TASK_SET_FULL:
            break
        other.nop(b"wait")
    if status != STATUS_GOOD:
        checks.fail("WRITE after the buffers came back: status 0x%02x" % status)
    status, _, data = other.scsi(cdb_read16(lba, 4096 // block_size), args.lun, read_len=4096)
    if status != STATUS_GOOD or data != pattern:
        checks.fail("READ after the buffers came back: status 0x%02x, data %s" %
                    (status, "as written" if data == pattern else "wrong"))
    other.logout()
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
