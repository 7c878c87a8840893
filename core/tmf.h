/* Task management in the core: which tasks a TMF affects, its side effects, and its completion once they return. */
#ifndef TG_TMF_H
#define TG_TMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sense.h"

struct tg_nexus;
struct tg_task;
struct tg_tmf;
struct tg_device;

/* The service response of a task management function (SAM-5 7.1), as transports map it. */
enum tg_tmf_result {
	TG_TMF_COMPLETE,      /* FUNCTION COMPLETE */
	TG_TMF_SUCCEEDED,     /* FUNCTION SUCCEEDED: QUERY TASK / QUERY TASK SET found tasks */
	TG_TMF_NO_TASK,       /* ABORT TASK: no such task (the transport may still say COMPLETE) */
	TG_TMF_NO_LUN,        /* INCORRECT LOGICAL UNIT NUMBER */
	TG_TMF_REJECTED,      /* FUNCTION REJECTED (out of memory) */
};

/* Called exactly once, possibly before the tg_tmf_* call returns, on the thread of whichever
 * affected task returned last. */
typedef void (*tg_tmf_done_fn)(void *priv, enum tg_tmf_result result);

/*
 * Each function aborts the tasks it covers (no status goes to their initiators; tasks waiting
 * for write data are cut short through the transport's task_aborted op; tasks with I/O in the
 * backend run to the end of it), applies the side effects SAM-5/SPC-4 give it, and calls done
 * when every aborted task has returned to the core — so no task is half-done and no buffer is
 * in flight when the initiator hears the function completed. Tasks that already have their
 * response are not affected. The TMF's own nexus and LUN are those of the request.
 */
/* ABORT TASK: the task with transport tag `tag` on lun of this nexus. */
void tg_tmf_abort_task(struct tg_nexus *nexus, uint64_t lun, uint64_t tag, tg_tmf_done_fn done,
		       void *priv);
/* ABORT TASK SET: every task of this nexus on lun. */
void tg_tmf_abort_task_set(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv);
/* CLEAR TASK SET: every task on the logical unit, from every nexus (TST = 000b, one task set);
 * other nexuses that lose tasks get COMMANDS CLEARED BY ANOTHER INITIATOR (TAS = 0). */
void tg_tmf_clear_task_set(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv);
/* LOGICAL UNIT RESET: every task on the logical unit; SPC-2 reservation released (persistent
 * ones stay); BUS DEVICE RESET FUNCTION OCCURRED to every nexus of the unit, the requester's
 * included (SAM-5 6.3.4). */
void tg_tmf_lun_reset(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv);
/* TARGET (WARM) RESET: a logical unit reset of every unit the target exports. */
void tg_tmf_target_reset(struct tg_nexus *nexus, tg_tmf_done_fn done, void *priv);
/* I_T NEXUS RESET: every task of this nexus on every LUN; the nexus counts as lost (SPC-2
 * reservations it holds go) and reports I_T NEXUS LOSS OCCURRED on each LUN. */
void tg_tmf_nexus_reset(struct tg_nexus *nexus, tg_tmf_done_fn done, void *priv);
/* QUERY TASK / QUERY TASK SET: SUCCEEDED when the task (any task of this nexus on lun) is in
 * the task set and not yet answered, COMPLETE otherwise, NO_LUN for an unmapped LUN. */
enum tg_tmf_result tg_tmf_query_task(struct tg_nexus *nexus, uint64_t lun, uint64_t tag);
enum tg_tmf_result tg_tmf_query_task_set(struct tg_nexus *nexus, uint64_t lun);

/* REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (MAINTENANCE IN, service action 0Dh). */
enum tg_sense_reason tg_spc_parse_report_tmfs(struct tg_task *task);
void tg_spc_report_tmfs(struct tg_task *task);

/* ---- for the rest of the core ---- */

/* An aborted task came back (tg_task_complete). */
void tg_tmf_task_returned(struct tg_tmf *tmf);

/*
 * Building blocks for aborts that are not a transport's TMF (PERSISTENT RESERVE OUT with
 * PREEMPT AND ABORT): begin, abort the tasks on dev of every nexus match() selects (never
 * `spare` itself), then end; done runs once the aborted tasks are back. on_nexus (optional)
 * hears of each nexus that lost at least one task, with the index of the LUN that maps dev;
 * match and on_nexus run under the nexus registry lock (they may queue UAs); dev->lock may be
 * held by the caller (lock order: dev->lock, registry, nexus).
 */
struct tg_tmf *tg_tmf_begin(tg_tmf_done_fn done, void *priv);
void tg_tmf_abort_matching(struct tg_tmf *tmf, const struct tg_device *dev,
			   const struct tg_task *spare,
			   bool (*match)(const struct tg_nexus *nexus, void *arg), void *arg,
			   void (*on_nexus)(struct tg_nexus *nexus, size_t lun_index, void *arg));
void tg_tmf_end(struct tg_tmf *tmf);

#endif
