/* MAINTENANCE IN (A3h): one opcode, several SPC commands told apart by the service action. */
#include "core/cmd.h"
#include "core/scsi.h"
#include "core/tmf.h"

/* CONTROL byte usage: NACA is the only bit examined. */
enum { CTL = 0x04 };

/* The service actions; add one here and the opcode's table entry stays as it is. */
const struct tg_cmd_desc tg_spc_maintenance_in_actions[] = {
	{ .name = "REPORT SUPPORTED OPERATION CODES", .cdb_len = 12,
	  .service_action = SCSI_MI_REPORT_SUPPORTED_OPCODES,
	  .flags = TG_CMD_CONFLICT_FREE | TG_CMD_MEDIUM_FREE,
	  .parse = tg_spc_parse_report_opcodes, .execute = tg_spc_report_opcodes,
	  /* RCTD and REPORTING OPTIONS, REQUESTED OPERATION CODE and SERVICE ACTION. */
	  .usage = { SCSI_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES, 0x87, 0xff, 0xff, 0xff,
		     0xff, 0xff, 0xff, 0xff, 0, CTL } },
	{ .name = "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", .cdb_len = 12,
	  .service_action = SCSI_MI_REPORT_SUPPORTED_TMFS,
	  .flags = TG_CMD_CONFLICT_FREE | TG_CMD_MEDIUM_FREE,
	  .parse = tg_spc_parse_report_tmfs, .execute = tg_spc_report_tmfs,
	  .usage = { SCSI_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_TMFS, 0x80, 0, 0, 0, 0xff, 0xff,
		     0xff, 0xff, 0, CTL } },
	{ 0 },
};
