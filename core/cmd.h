/* Per-opcode command tables: the descriptor each opcode maps to, and the table lookup. */
#ifndef TG_CMD_H
#define TG_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sense.h"

struct tg_task;
struct tg_device;

enum tg_cmd_flags {
	TG_CMD_WRITE_CLASS = 1u << 0, /* changes the medium: refused on read-only mappings */
	TG_CMD_NO_UA = 1u << 1,       /* neither reports nor clears a pending UA (SPC 5.14) */
	TG_CMD_ANY_LUN = 1u << 2,     /* also answered for an unmapped LUN (INQUIRY, REPORT LUNS,
				       * REQUEST SENSE) */
	TG_CMD_CONFLICT_FREE = 1u << 3, /* allowed through any reservation (SPC-4 table 63) */
	TG_CMD_MEDIUM_FREE = 1u << 4,   /* processed while a removable medium is ejected; the
					 * others answer NOT READY, MEDIUM NOT PRESENT */
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
	/*
	 * CDB usage bitmap for REPORT SUPPORTED OPERATION CODES: byte 0 is the opcode, the
	 * SERVICE ACTION field holds the service action of a service-action entry, and every
	 * other bit is 1 where the device server examines that CDB bit. cdb_len bytes are used
	 * (32 for variable-length CDBs). tg_cmd_check_table verifies each entry's bitmap.
	 */
	uint8_t usage[32];

	/*
	 * An opcode that is several commands told apart by a service action points at their
	 * entries here (terminated by an entry without a name); dispatch resolves the service
	 * action to that entry, and REPORT SUPPORTED OPERATION CODES lists them one by one.
	 * The opcode's own entry then only refuses unknown service actions
	 * (tg_cmd_parse_unknown_service_action).
	 */
	const struct tg_cmd_desc *service_actions;
	uint16_t service_action; /* in an entry of a service_actions table */
	/* NULL, or whether dev offers the command: an entry it rejects is reported as not
	 * supported and answered like an unknown opcode (or service action). */
	bool (*supported)(const struct tg_device *dev);
	/* RECOMMENDED COMMAND TIMEOUT (seconds) in the command timeouts descriptor; 0 means
	 * TG_CMD_DEFAULT_TIMEOUT. */
	uint16_t timeout;
};

/* The recommended timeout of commands that name none: bounded by one transfer of
 * TG_MAX_TRANSFER_BYTES or one backend flush. */
#define TG_CMD_DEFAULT_TIMEOUT 30

/* The table for a peripheral device type; entries with a NULL name are unsupported. */
const struct tg_cmd_desc *tg_cmd_table(uint8_t peripheral_type);
/* The entry for cdb, its service action resolved (an unknown one gives the opcode's entry,
 * whose parse refuses it); NULL for an unknown opcode. */
const struct tg_cmd_desc *tg_cmd_lookup(uint8_t peripheral_type, const uint8_t *cdb);
/* The same for a command to dev (NULL: no logical unit), leaving out what dev does not
 * offer (the entries' `supported`). */
const struct tg_cmd_desc *tg_cmd_find(const struct tg_device *dev, uint8_t peripheral_type,
				      const uint8_t *cdb);

/* The service action of cdb (bytes 8-9 of a variable-length CDB, else byte 1 bits 4..0). */
uint16_t tg_cmd_service_action(const uint8_t *cdb);
/* The entry of table's opcode entry `desc` for service_action, NULL when it has none. */
const struct tg_cmd_desc *tg_cmd_find_service_action(const struct tg_cmd_desc *desc,
						     uint16_t service_action);
/* Whether dev offers desc (true when desc names no `supported` check). */
bool tg_cmd_supported(const struct tg_cmd_desc *desc, const struct tg_device *dev);
/* The parse function of an opcode entry with service_actions: reached only for a service
 * action none of them has, which is INVALID FIELD IN CDB pointing at the field. */
enum tg_sense_reason tg_cmd_parse_unknown_service_action(struct tg_task *task);

/*
 * Checks that every entry of a 256-entry table is complete: a CDB length SCSI allows, a usage
 * bitmap whose byte 0 is the opcode, whose SERVICE ACTION field holds the entry's service
 * action, whose CONTROL byte is marked (NACA) and which uses no byte past the CDB, handlers,
 * and service-action tables of the same shape. Returns 0, or -1 with what is wrong in err.
 */
int tg_cmd_check_table(const struct tg_cmd_desc table[256], char *err, size_t errlen);

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
enum tg_sense_reason tg_spc_parse_mode_select(struct tg_task *task);  /* core/mode.c */
void tg_spc_mode_select(struct tg_task *task);
/* REPORT SUPPORTED OPERATION CODES (core/rsoc.c), from the table of the LUN's device type. */
enum tg_sense_reason tg_spc_parse_report_opcodes(struct tg_task *task);
void tg_spc_report_opcodes(struct tg_task *task);

/* Service-action tables of SPC opcodes, for the command sets' entries: MAINTENANCE IN
 * (core/maintenance_in.c), THIRD-PARTY COPY OUT and IN (core/xcopy.c). */
extern const struct tg_cmd_desc tg_spc_maintenance_in_actions[];
extern const struct tg_cmd_desc tg_spc_copy_out_actions[];
extern const struct tg_cmd_desc tg_spc_copy_in_actions[];

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
