/* MAINTENANCE IN (A3h): one opcode, several SPC commands told apart by the service action. */
#include <stddef.h>

#include "core/cmd.h"
#include "core/scsi.h"
#include "core/task.h"
#include "core/tmf.h"

struct maintenance_in_action {
	uint8_t service_action;
	enum tg_sense_reason (*parse)(struct tg_task *task);
	void (*execute)(struct tg_task *task);
};

/* Add a service action here; the opcode's table entry stays as it is. */
static const struct maintenance_in_action actions[] = {
	{ SCSI_MI_REPORT_SUPPORTED_TMFS, tg_spc_parse_report_tmfs, tg_spc_report_tmfs },
};

static const struct maintenance_in_action *find_action(const struct tg_task *task)
{
	uint8_t sa = task->cdb[1] & 0x1f;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].service_action == sa)
			return &actions[i];
	return NULL;
}

enum tg_sense_reason tg_spc_parse_maintenance_in(struct tg_task *task)
{
	const struct maintenance_in_action *action = find_action(task);
	if (!action)
		return tg_cmd_invalid_field(task, 1, 4);
	return action->parse(task);
}

void tg_spc_maintenance_in(struct tg_task *task)
{
	const struct maintenance_in_action *action = find_action(task);
	if (!action) { /* parse let it through: cannot happen */
		tg_task_complete(task, TG_SR_INTERNAL_TARGET_FAILURE);
		return;
	}
	action->execute(task);
}
