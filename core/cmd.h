/* Per-opcode command tables: the descriptor each opcode maps to, and the table lookup. */
#ifndef TG_CMD_H
#define TG_CMD_H

#include <stdint.h>

#include "core/sense.h"

struct tg_task;

enum tg_cmd_flags {
	TG_CMD_WRITE_CLASS = 1u << 0, /* changes the medium: refused on read-only mappings */
	TG_CMD_NO_UA = 1u << 1,       /* neither reports nor clears a pending UA (SPC 5.14) */
	TG_CMD_ANY_LUN = 1u << 2,     /* also answered for an unmapped LUN (INQUIRY, REPORT LUNS,
				       * REQUEST SENSE) */
	TG_CMD_CONFLICT_FREE = 1u << 3, /* allowed through any reservation (SPC-4 table 63) */
	/*
	 * The persistent-reservation class (core/reservation.c). A command with neither flag
	 * nor TG_CMD_CONFLICT_FREE counts as a write: it conflicts with Write Exclusive and
	 * Exclusive Access for non-holders and with the registrants types for non-registrants.
	 * PR_READ: reads (medium or unit state) — passes Write Exclusive, not Exclusive Access.
	 * PR_SELF: RESERVE, RELEASE, PERSISTENT RESERVE IN/OUT apply the rules themselves.
	 */
	TG_CMD_PR_READ = 1u << 16,
	TG_CMD_PR_SELF = 1u << 17,
	/* Reads, compares and writes its LBA range: holds it exclusively against every other
	 * writer (core/lba_lock.c), where plain write-class commands share it. */
	TG_CMD_LBA_EXCLUSIVE = 1u << 8,
};

struct tg_cmd_desc {
	const char *name;
	uint8_t cdb_len;
	unsigned flags;
	/*
	 * Decodes and validates the CDB: sets task->dir, task->scsi_len and, for LBA-addressed
	 * commands, task->lba/nblocks (the shared range check is tg_sbc_check_range). Returns
	 * TG_SR_OK or the reason to fail with (set task->sense_info for a field pointer).
	 * NULL: no data, nothing to decode.
	 */
	enum tg_sense_reason (*parse)(struct tg_task *task);
	/* Runs once any write data is in task->data; ends with tg_task_complete/tg_task_reply. */
	void (*execute)(struct tg_task *task);
	/* CDB usage bitmap for REPORT SUPPORTED OPERATION CODES (byte 0 is the opcode). */
	uint8_t usage[16];
};

/* The table for a peripheral device type; entries with a NULL name are unsupported. */
const struct tg_cmd_desc *tg_cmd_table(uint8_t peripheral_type);
const struct tg_cmd_desc *tg_cmd_lookup(uint8_t peripheral_type, const uint8_t *cdb);

/* Tables defined by the command sets. */
extern const struct tg_cmd_desc tg_sbc_cmds[256];

/*
 * Shared SPC handlers the command sets put into their tables (core/spc.c): INQUIRY, REPORT
 * LUNS, TEST UNIT READY, REQUEST SENSE, MODE SENSE/SELECT.
 */
enum tg_sense_reason tg_spc_parse_inquiry(struct tg_task *task);
void tg_spc_inquiry(struct tg_task *task);
enum tg_sense_reason tg_spc_parse_report_luns(struct tg_task *task);
void tg_spc_report_luns(struct tg_task *task);
void tg_spc_test_unit_ready(struct tg_task *task);
enum tg_sense_reason tg_spc_parse_request_sense(struct tg_task *task);
void tg_spc_request_sense(struct tg_task *task);
enum tg_sense_reason tg_spc_parse_mode_sense(struct tg_task *task);
void tg_spc_mode_sense(struct tg_task *task);
/* MAINTENANCE IN (core/maintenance_in.c): dispatches on the service action (REPORT SUPPORTED
 * TASK MANAGEMENT FUNCTIONS, REPORT SUPPORTED OPERATION CODES, ...). */
enum tg_sense_reason tg_spc_parse_maintenance_in(struct tg_task *task);
void tg_spc_maintenance_in(struct tg_task *task);

/* LBA range check written once: lba + nblocks must lie within the device. */
enum tg_sense_reason tg_sbc_check_range(struct tg_task *task);

/* Largest data transfer of one READ/WRITE/VERIFY the core accepts (the Block Limits VPD
 * page's MAXIMUM TRANSFER LENGTH is this divided by the block size). */
#define TG_MAX_TRANSFER_BYTES (8u << 20)

/* Encodes a LUN number as an 8-byte SAM LUN: peripheral device addressing below 256, flat
 * space below 16384, extended flat space (3 or 5 bytes) above; for transports and REPORT LUNS. */
void tg_lun_encode(uint64_t lun, uint8_t out[8]);

/* Records an INVALID FIELD IN CDB field pointer (byte, bit or -1) in task->sense_info and
 * returns TG_SR_INVALID_FIELD_IN_CDB, for parse functions to return. */
enum tg_sense_reason tg_cmd_invalid_field(struct tg_task *task, uint16_t byte, int8_t bit);

/* Checks the CONTROL byte (the last byte of task->cmd->cdb_len): NACA = 1 is refused because
 * ACA is not supported. Every parse function calls it first. */
enum tg_sense_reason tg_cmd_check_control(struct tg_task *task);

/* The parse function of commands without data or CDB fields beyond the CONTROL byte (TEST
 * UNIT READY, START STOP UNIT for disks). */
enum tg_sense_reason tg_cmd_parse_no_data(struct tg_task *task);

#endif
