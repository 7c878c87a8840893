/* Opcode-table lookup with service actions resolved, the tables' self-check, and CDB checks every command set shares. */
#include "core/cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "core/scsi.h"
#include "core/task.h"

const struct tg_cmd_desc *tg_cmd_table(uint8_t peripheral_type)
{
	switch (peripheral_type) {
	case SCSI_TYPE_DISK:
		return tg_sbc_cmds;
	default:
		return NULL;
	}
}

enum tg_sense_reason tg_cmd_invalid_field(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = true;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_CDB;
}

enum tg_sense_reason tg_cmd_check_control(struct tg_task *task)
{
	enum { CONTROL_NACA = 0x04 };
	uint16_t at = (uint16_t)(task->cmd->cdb_len - 1);
	if (task->cdb[at] & CONTROL_NACA)
		return tg_cmd_invalid_field(task, at, 2);
	return TG_SR_OK;
}

enum tg_sense_reason tg_cmd_parse_no_data(struct tg_task *task)
{
	task->dir = TG_DIR_NONE;
	task->scsi_len = 0;
	return tg_cmd_check_control(task);
}

uint16_t tg_cmd_service_action(const uint8_t *cdb)
{
	if (cdb[0] == SCSI_VARIABLE_LENGTH_CDB)
		return get_be16(cdb + 8);
	return cdb[1] & 0x1f;
}

const struct tg_cmd_desc *tg_cmd_find_service_action(const struct tg_cmd_desc *desc,
						     uint16_t service_action)
{
	if (!desc->service_actions)
		return NULL;
	for (const struct tg_cmd_desc *sa = desc->service_actions; sa->name; sa++)
		if (sa->service_action == service_action)
			return sa;
	return NULL;
}

bool tg_cmd_supported(const struct tg_cmd_desc *desc, const struct tg_device *dev)
{
	return !desc->supported || (dev && desc->supported(dev));
}

const struct tg_cmd_desc *tg_cmd_find(const struct tg_device *dev, uint8_t peripheral_type,
				      const uint8_t *cdb)
{
	const struct tg_cmd_desc *table = tg_cmd_table(peripheral_type);
	if (!table)
		return NULL;
	const struct tg_cmd_desc *desc = &table[cdb[0]];
	if (!desc->name || (dev && !tg_cmd_supported(desc, dev)))
		return NULL;
	const struct tg_cmd_desc *sa = tg_cmd_find_service_action(desc, tg_cmd_service_action(cdb));
	if (sa && (!dev || tg_cmd_supported(sa, dev)))
		return sa;
	return desc;
}

const struct tg_cmd_desc *tg_cmd_lookup(uint8_t peripheral_type, const uint8_t *cdb)
{
	return tg_cmd_find(NULL, peripheral_type, cdb);
}

enum tg_sense_reason tg_cmd_parse_unknown_service_action(struct tg_task *task)
{
	if (task->cdb[0] == SCSI_VARIABLE_LENGTH_CDB)
		return tg_cmd_invalid_field(task, 8, -1);
	return tg_cmd_invalid_field(task, 1, 4);
}

static bool valid_cdb_len(uint8_t len)
{
	return len == 6 || len == 10 || len == 12 || len == 16 || len == 32;
}

static int check_entry(const struct tg_cmd_desc *desc, uint8_t opcode, const char *parent,
		       char *err, size_t errlen)
{
	const char *what = desc->name;
	if (!valid_cdb_len(desc->cdb_len) || desc->cdb_len > sizeof(desc->usage)) {
		snprintf(err, errlen, "%s: CDB length %u", what, desc->cdb_len);
		return -1;
	}
	if (desc->usage[0] != opcode) {
		snprintf(err, errlen, "%s: usage byte 0 is %#x, not the opcode %#x", what,
			 desc->usage[0], opcode);
		return -1;
	}
	for (size_t i = desc->cdb_len; i < sizeof(desc->usage); i++) {
		if (desc->usage[i]) {
			snprintf(err, errlen, "%s: usage byte %zu lies past the %u-byte CDB", what,
				 i, desc->cdb_len);
			return -1;
		}
	}
	size_t control = opcode == SCSI_VARIABLE_LENGTH_CDB ? 1 : desc->cdb_len - 1u;
	if (!(desc->usage[control] & 0x04)) {
		snprintf(err, errlen, "%s: usage does not mark NACA in the CONTROL byte", what);
		return -1;
	}
	if (!desc->parse || !desc->execute) {
		snprintf(err, errlen, "%s: no parse or execute handler", what);
		return -1;
	}
	if (parent) {
		uint16_t in_usage = opcode == SCSI_VARIABLE_LENGTH_CDB ? get_be16(desc->usage + 8)
								       : desc->usage[1] & 0x1f;
		if (in_usage != desc->service_action) {
			snprintf(err, errlen, "%s (of %s): usage holds service action %#x, not %#x",
				 what, parent, in_usage, desc->service_action);
			return -1;
		}
	}
	return 0;
}

int tg_cmd_check_table(const struct tg_cmd_desc table[256], char *err, size_t errlen)
{
	for (unsigned op = 0; op < 256; op++) {
		const struct tg_cmd_desc *desc = &table[op];
		if (!desc->name)
			continue;
		if (!desc->service_actions) {
			if (check_entry(desc, (uint8_t)op, NULL, err, errlen) != 0)
				return -1;
			continue;
		}
		/* The opcode's own entry only turns unknown service actions away. */
		if (desc->usage[0] != op || desc->parse != tg_cmd_parse_unknown_service_action) {
			snprintf(err, errlen, "%s: an opcode with service actions needs usage byte 0 "
				 "and tg_cmd_parse_unknown_service_action", desc->name);
			return -1;
		}
		size_t count = 0;
		for (const struct tg_cmd_desc *sa = desc->service_actions; sa->name; sa++, count++) {
			if (check_entry(sa, (uint8_t)op, desc->name, err, errlen) != 0)
				return -1;
			if (tg_cmd_find_service_action(desc, sa->service_action) != sa) {
				snprintf(err, errlen, "%s: service action %#x listed twice", desc->name,
					 sa->service_action);
				return -1;
			}
			if (sa->cdb_len != desc->cdb_len) {
				snprintf(err, errlen, "%s: CDB length differs from its opcode's", sa->name);
				return -1;
			}
		}
		if (count == 0) {
			snprintf(err, errlen, "%s: empty service-action table", desc->name);
			return -1;
		}
	}
	return 0;
}
