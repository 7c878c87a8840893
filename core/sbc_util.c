/* Helpers the SBC command files share: the LBA/length fields of a CDB, failing at an LBA, the PROTECT field check, one backend request, byte comparison. */
#include <string.h>

#include "core/cmd.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

struct tg_sbc_lba_fields tg_sbc_decode_lba_fields(const struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	struct tg_sbc_lba_fields f;
	if (cdb[0] == SCSI_VARIABLE_LENGTH_CDB)
		return (struct tg_sbc_lba_fields){ get_be64(cdb + 12), get_be32(cdb + 28), 28 };
	switch (task->cmd->cdb_len) {
	case 6:
		f.lba = get_be24(cdb + 1) & 0x1fffff;
		f.length = cdb[4];
		f.length_byte = 4;
		break;
	case 10:
		f.lba = get_be32(cdb + 2);
		f.length = get_be16(cdb + 7);
		f.length_byte = 7;
		break;
	case 12:
		f.lba = get_be32(cdb + 2);
		f.length = get_be32(cdb + 6);
		f.length_byte = 6;
		break;
	default:
		f.lba = get_be64(cdb + 2);
		f.length = get_be32(cdb + 10);
		f.length_byte = 10;
		break;
	}
	return f;
}

void tg_sbc_fail_at(struct tg_task *task, enum tg_sense_reason reason, uint64_t lba)
{
	task->sense_info.has_information = true;
	task->sense_info.information = lba;
	tg_task_complete(task, reason);
}

enum tg_sense_reason tg_sbc_check_protect(struct tg_task *task)
{
	if (task->cdb[1] >> 5)
		return tg_cmd_invalid_field(task, 1, 7);
	return TG_SR_OK;
}

void tg_sbc_issue(struct tg_task *task, struct iovec *iov, enum tg_io_op op, uint64_t lba,
		  uint64_t len, void *base, bool fua, void (*then)(struct tg_task *task, int result))
{
	memset(&task->io, 0, sizeof(task->io));
	task->io.op = op;
	task->io.offset = lba * task->dev->block_size;
	task->io.len = len;
	task->io.fua = fua;
	if (base) {
		iov->iov_base = base;
		iov->iov_len = len;
		task->io.iov = iov;
		task->io.iovcnt = 1;
	}
	tg_task_backend_io(task, then);
}

size_t tg_sbc_first_difference(const uint8_t *a, const uint8_t *b, size_t len)
{
	/* memcmp finds whether they differ fast; only a miscompare pays for the byte walk. */
	if (memcmp(a, b, len) == 0)
		return len;
	size_t at = 0;
	while (a[at] == b[at])
		at++;
	return at;
}
