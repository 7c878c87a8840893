/* READ DEFECT DATA(10/12): a virtual medium has no defects, so the lists are valid and empty. */
#include <string.h>

#include "core/cmd.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	DEFECT_REQ_PLIST = 0x10,
	DEFECT_REQ_GLIST = 0x08,
	DEFECT_FORMAT_MASK = 0x07,
	/* SBC-4 table 31: 000b short block, 001b extended bytes from index, 010b extended
	 * physical sector, 011b long block, 100b bytes from index, 101b physical sector. 110b is
	 * vendor specific (we define none) and 111b reserved. */
	DEFECT_FORMAT_LAST_DEFINED = 0x05,
};

/* The byte holding REQ_PLIST, REQ_GLIST and the format: 2 in the 10-byte CDB, 1 in the 12. */
static uint8_t defect_request_byte(const struct tg_task *task)
{
	return task->cmd->cdb_len == 10 ? 2 : 1;
}

static uint32_t defect_alloc_len(const struct tg_task *task)
{
	return task->cmd->cdb_len == 10 ? get_be16(task->cdb + 7) : get_be32(task->cdb + 6);
}

enum tg_sense_reason tg_sbc_parse_read_defect_data(struct tg_task *task)
{
	uint8_t at = defect_request_byte(task);
	task->dir = TG_DIR_READ;
	task->scsi_len = defect_alloc_len(task);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if ((task->cdb[at] & DEFECT_FORMAT_MASK) > DEFECT_FORMAT_LAST_DEFINED)
		return tg_cmd_invalid_field(task, at, 2);
	return TG_SR_OK;
}

void tg_sbc_read_defect_data(struct tg_task *task)
{
	uint8_t request = task->cdb[defect_request_byte(task)];
	uint8_t buf[8];
	memset(buf, 0, sizeof(buf));
	/* PLISTV/GLISTV say the requested lists are here (both empty), in the requested format. */
	buf[1] = request & (DEFECT_REQ_PLIST | DEFECT_REQ_GLIST | DEFECT_FORMAT_MASK);
	/* Header only: DEFECT LIST LENGTH 0 (bytes 2-3 of the 10-byte form, 4-7 of the 12). */
	size_t len = task->cmd->cdb_len == 10 ? 4 : 8;
	tg_task_reply(task, buf, len, defect_alloc_len(task));
}
