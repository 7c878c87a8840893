/* Opcode-table selection per peripheral device type, and CDB checks every command set shares. */
#include "core/cmd.h"

#include <stddef.h>

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

const struct tg_cmd_desc *tg_cmd_lookup(uint8_t peripheral_type, const uint8_t *cdb)
{
	const struct tg_cmd_desc *table = tg_cmd_table(peripheral_type);
	if (!table)
		return NULL;
	const struct tg_cmd_desc *desc = &table[cdb[0]];
	return desc->name ? desc : NULL;
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
