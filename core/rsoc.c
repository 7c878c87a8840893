/* REPORT SUPPORTED OPERATION CODES: the LUN's opcode table, command by command and service action by service action. */
#include <stdlib.h>
#include <string.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	RSOC_RCTD = 0x80,
	RSOC_OPTIONS = 0x07,
	RSOC_RESERVED = 0x78,
	RSOC_ALL = 0,            /* every command */
	RSOC_OPCODE = 1,         /* one opcode that has no service actions */
	RSOC_SERVICE_ACTION = 2, /* one service action of an opcode that has them */
	RSOC_EITHER = 3,         /* one opcode, with its service action if it has them */

	ALL_HEADER_LEN = 4,
	ALL_DESCRIPTOR_LEN = 8,
	ONE_HEADER_LEN = 4,
	TIMEOUTS_LEN = 12,

	DESC_CTDP = 0x02,
	DESC_SERVACTV = 0x01,
	ONE_CTDP = 0x80,
	SUPPORT_NOT_SUPPORTED = 1,
	SUPPORT_STANDARD = 3,
};

static uint8_t reporting_options(const struct tg_task *task) { return task->cdb[2] & RSOC_OPTIONS; }
static bool rctd(const struct tg_task *task) { return task->cdb[2] & RSOC_RCTD; }

/* The requested opcode's entry when the LUN offers it, with or without service actions. */
static const struct tg_cmd_desc *requested_opcode(const struct tg_task *task)
{
	const struct tg_cmd_desc *table = tg_cmd_table(task->dev->peripheral_type);
	const struct tg_cmd_desc *desc = table ? &table[task->cdb[3]] : NULL;
	if (!desc || !desc->name || !tg_cmd_supported(desc, task->dev))
		return NULL;
	return desc;
}

enum tg_sense_reason tg_spc_parse_report_opcodes(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(task->cdb + 6);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if (task->cdb[2] & RSOC_RESERVED)
		return tg_cmd_invalid_field(task, 2, 6);
	const struct tg_cmd_desc *desc = requested_opcode(task);
	switch (reporting_options(task)) {
	case RSOC_ALL:
	case RSOC_EITHER:
		return TG_SR_OK;
	/* SPC-4 6.35: asking for an opcode in the form that does not fit it is an error; an
	 * opcode the LUN does not offer at all is answered "not supported" instead. */
	case RSOC_OPCODE:
		if (desc && desc->service_actions)
			return tg_cmd_invalid_field(task, 2, 2);
		return TG_SR_OK;
	case RSOC_SERVICE_ACTION:
		if (desc && !desc->service_actions)
			return tg_cmd_invalid_field(task, 2, 2);
		return TG_SR_OK;
	default:
		return tg_cmd_invalid_field(task, 2, 2);
	}
}

/* The command timeouts descriptor: no nominal time is promised, a recommended one is. */
static void put_timeouts(uint8_t *d, const struct tg_cmd_desc *desc)
{
	memset(d, 0, TIMEOUTS_LEN);
	put_be16(d, TIMEOUTS_LEN - 2);
	put_be32(d + 8, desc->timeout ? desc->timeout : TG_CMD_DEFAULT_TIMEOUT);
}

static size_t put_command_descriptor(uint8_t *d, uint8_t opcode, const struct tg_cmd_desc *desc,
				     bool servactv, bool timeouts)
{
	memset(d, 0, ALL_DESCRIPTOR_LEN);
	d[0] = opcode;
	put_be16(d + 2, servactv ? desc->service_action : 0);
	d[5] = (uint8_t)((timeouts ? DESC_CTDP : 0) | (servactv ? DESC_SERVACTV : 0));
	put_be16(d + 6, desc->cdb_len);
	if (!timeouts)
		return ALL_DESCRIPTOR_LEN;
	put_timeouts(d + ALL_DESCRIPTOR_LEN, desc);
	return ALL_DESCRIPTOR_LEN + TIMEOUTS_LEN;
}

/* Visits every command the LUN offers, each service action apart; returns the bytes
 * written into buf (NULL: only counted). */
static size_t all_commands(const struct tg_task *task, uint8_t *buf, bool timeouts)
{
	const struct tg_cmd_desc *table = tg_cmd_table(task->dev->peripheral_type);
	size_t step = ALL_DESCRIPTOR_LEN + (timeouts ? TIMEOUTS_LEN : 0);
	size_t len = ALL_HEADER_LEN;
	for (unsigned op = 0; table && op < 256; op++) {
		const struct tg_cmd_desc *desc = &table[op];
		if (!desc->name || !tg_cmd_supported(desc, task->dev))
			continue;
		if (!desc->service_actions) {
			if (buf)
				put_command_descriptor(buf + len, (uint8_t)op, desc, false, timeouts);
			len += step;
			continue;
		}
		for (const struct tg_cmd_desc *sa = desc->service_actions; sa->name; sa++) {
			if (!tg_cmd_supported(sa, task->dev))
				continue;
			if (buf)
				put_command_descriptor(buf + len, (uint8_t)op, sa, true, timeouts);
			len += step;
		}
	}
	if (buf)
		put_be32(buf, (uint32_t)(len - ALL_HEADER_LEN));
	return len;
}

/* The one-command form: SUPPORT, then the CDB usage data (and timeouts) when supported. */
static size_t one_command(const struct tg_task *task, uint8_t *buf)
{
	const struct tg_cmd_desc *desc = requested_opcode(task);
	uint16_t sa = get_be16(task->cdb + 4);
	if (desc && desc->service_actions) {
		desc = tg_cmd_find_service_action(desc, sa);
		if (desc && !tg_cmd_supported(desc, task->dev))
			desc = NULL;
	} else if (desc && reporting_options(task) == RSOC_EITHER && sa != 0) {
		desc = NULL; /* a service action the opcode does not have */
	}
	memset(buf, 0, ONE_HEADER_LEN);
	if (!desc) {
		buf[1] = SUPPORT_NOT_SUPPORTED;
		return ONE_HEADER_LEN;
	}
	buf[1] = SUPPORT_STANDARD | (rctd(task) ? ONE_CTDP : 0);
	put_be16(buf + 2, desc->cdb_len);
	memcpy(buf + ONE_HEADER_LEN, desc->usage, desc->cdb_len);
	size_t len = ONE_HEADER_LEN + desc->cdb_len;
	if (rctd(task)) {
		put_timeouts(buf + len, desc);
		len += TIMEOUTS_LEN;
	}
	return len;
}

void tg_spc_report_opcodes(struct tg_task *task)
{
	bool timeouts = rctd(task);
	size_t cap = reporting_options(task) == RSOC_ALL ? all_commands(task, NULL, timeouts)
							 : ONE_HEADER_LEN + 32 + TIMEOUTS_LEN;
	uint8_t *buf = calloc(1, cap);
	if (!buf) {
		tg_task_complete(task, TG_SR_INTERNAL_TARGET_FAILURE);
		return;
	}
	size_t len = reporting_options(task) == RSOC_ALL ? all_commands(task, buf, timeouts)
							 : one_command(task, buf);
	tg_task_reply(task, buf, len, get_be32(task->cdb + 6));
	free(buf);
}
