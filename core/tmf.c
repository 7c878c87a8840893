/* Task management functions: task selection across nexuses, reset side effects, completion after aborted tasks return. */
#include "core/tmf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/log.h"
#include "core/medium.h"
#include "core/nexus.h"
#include "core/reservation.h"
#include "core/scsi.h"
#include "core/task.h"

/* A TMF that waits on a task another TMF aborted first waits for that TMF instead. */
struct tmf_dependent {
	struct tg_tmf *waiter;
	struct tmf_dependent *next;
};

struct tg_tmf {
	unsigned waiting; /* aborted tasks and TMFs not back yet, plus one while being set up */
	enum tg_tmf_result result;
	tg_tmf_done_fn done;
	void *priv;
	struct tmf_dependent *dependents;
	/* Tasks that were waiting for write data: the transport is told once the scan is over. */
	struct tg_task **kick;
	size_t kick_count, kick_cap;
};

/* Guards waiting and dependents of every TMF; never held while taking another lock. */
static pthread_mutex_t tmf_lock = PTHREAD_MUTEX_INITIALIZER;

struct tg_tmf *tg_tmf_begin(tg_tmf_done_fn done, void *priv)
{
	struct tg_tmf *tmf = calloc(1, sizeof(*tmf));
	if (!tmf)
		return NULL;
	tmf->waiting = 1;
	tmf->result = TG_TMF_COMPLETE;
	tmf->done = done;
	tmf->priv = priv;
	return tmf;
}

static void tmf_put(struct tg_tmf *tmf);

static void tmf_finish(struct tg_tmf *tmf)
{
	tmf->done(tmf->priv, tmf->result);
	pthread_mutex_lock(&tmf_lock);
	struct tmf_dependent *dep = tmf->dependents;
	tmf->dependents = NULL;
	pthread_mutex_unlock(&tmf_lock);
	free(tmf->kick);
	free(tmf);
	while (dep) {
		struct tmf_dependent *next = dep->next;
		tmf_put(dep->waiter);
		free(dep);
		dep = next;
	}
}

static void tmf_put(struct tg_tmf *tmf)
{
	pthread_mutex_lock(&tmf_lock);
	bool last = --tmf->waiting == 0;
	pthread_mutex_unlock(&tmf_lock);
	if (last)
		tmf_finish(tmf);
}

void tg_tmf_task_returned(struct tg_tmf *tmf) { tmf_put(tmf); }

static bool abortable(const struct tg_task *task)
{
	return task->state == TG_TASK_EXEC || task->state == TG_TASK_WAIT_DATA ||
	       task->state == TG_TASK_BACKEND_IO;
}

static void kick_on_own_loop(struct tg_task *task)
{
	if (task->state == TG_TASK_WAIT_DATA)
		task->ops->task_aborted(task);
}

/* Marks task aborted on behalf of tmf; the caller holds the task's nexus lock. */
static bool abort_locked(struct tg_tmf *tmf, struct tg_task *task)
{
	if (!abortable(task))
		return false;
	struct tg_tmf *first = task->abort_tmf;
	if (!first) {
		task->abort_tmf = tmf;
		pthread_mutex_lock(&tmf_lock);
		tmf->waiting++;
		pthread_mutex_unlock(&tmf_lock);
	} else if (first != tmf) {
		struct tmf_dependent *dep = malloc(sizeof(*dep));
		if (dep) {
			/* first cannot finish meanwhile: it waits for this task, whose return
			 * needs the nexus lock held here. */
			pthread_mutex_lock(&tmf_lock);
			tmf->waiting++;
			dep->waiter = tmf;
			dep->next = first->dependents;
			first->dependents = dep;
			pthread_mutex_unlock(&tmf_lock);
		} else {
			tg_warn("tmf", "out of memory: a TMF may answer before task %#llx is back",
				(unsigned long long)task->tag);
		}
	}
	if (!task->abort_requested) {
		task->abort_requested = true;
		if (task->state == TG_TASK_WAIT_DATA && task->ops->task_aborted &&
		    !tg_task_on_own_loop(task)) {
			/* A task of another I/O thread's loop: only its own thread may end the wait,
			 * and only while the task still exists, which the nexus lock held here
			 * guarantees for the hand-over (tg_task_release drops it if the task ends
			 * first). */
			tg_task_run_on_own_loop(task, kick_on_own_loop);
		} else if (task->state == TG_TASK_WAIT_DATA && task->ops->task_aborted) {
			if (tmf->kick_count == tmf->kick_cap) {
				size_t cap = tmf->kick_cap ? 2 * tmf->kick_cap : 16;
				struct tg_task **kick = realloc(tmf->kick, cap * sizeof(*kick));
				if (kick) {
					tmf->kick = kick;
					tmf->kick_cap = cap;
				}
			}
			if (tmf->kick_count < tmf->kick_cap)
				tmf->kick[tmf->kick_count++] = task;
		}
	}
	return true;
}

/* Aborts the tasks of nexus that select() picks; returns how many. */
static unsigned abort_in_nexus(struct tg_tmf *tmf, struct tg_nexus *nexus,
			       bool (*select)(const struct tg_task *task, const void *arg),
			       const void *arg)
{
	unsigned n = 0;
	pthread_mutex_lock(&nexus->lock);
	for (struct tg_task *t = nexus->tasks; t; t = t->next_in_set)
		if (select(t, arg) && abort_locked(tmf, t))
			n++;
	pthread_mutex_unlock(&nexus->lock);
	return n;
}

void tg_tmf_end(struct tg_tmf *tmf)
{
	/* Tasks still waiting for write data would otherwise wait for data the initiator no
	 * longer sends. Nothing completes them between the scan and here on this thread. */
	for (size_t i = 0; i < tmf->kick_count; i++)
		tmf->kick[i]->ops->task_aborted(tmf->kick[i]);
	tmf->kick_count = 0;
	tmf_put(tmf);
}

/* ---- which tasks ---- */

struct lun_select {
	uint64_t lun;
};

static bool select_lun(const struct tg_task *task, const void *arg)
{
	return task->lun == ((const struct lun_select *)arg)->lun;
}

struct tag_select {
	uint64_t lun, tag;
};

static bool select_tag(const struct tg_task *task, const void *arg)
{
	const struct tag_select *s = arg;
	return task->tag == s->tag && task->lun == s->lun;
}

static bool select_all(const struct tg_task *task, const void *arg)
{
	(void)task;
	(void)arg;
	return true;
}

struct dev_select {
	const struct tg_device *dev;
	uint64_t lun; /* the LUN number dev has in the nexus being scanned */
	const struct tg_task *spare;
};

static bool select_dev(const struct tg_task *task, const void *arg)
{
	const struct dev_select *s = arg;
	return task != s->spare && task->dev == s->dev && task->lun == s->lun;
}

/* ---- logical-unit-wide functions ---- */

enum lu_scope { LU_CLEAR_TASK_SET, LU_RESET };

struct lu_walk {
	struct tg_tmf *tmf;
	const struct tg_device *dev;
	const struct tg_nexus *issuer;
	enum lu_scope scope;
	enum tg_sense_reason reset_ua;
	const struct tg_task *spare;
	bool (*match)(const struct tg_nexus *nexus, void *arg);
	void *match_arg;
	void (*on_nexus)(struct tg_nexus *nexus, size_t lun_index, void *arg);
};

static void lu_walk_nexus(struct tg_nexus *nexus, size_t lun_index, void *arg)
{
	struct lu_walk *w = arg;
	struct dev_select sel = { w->dev, nexus->map->entries[lun_index].lun, w->spare };
	if (w->match && !w->match(nexus, w->match_arg))
		return;
	unsigned aborted = abort_in_nexus(w->tmf, nexus, select_dev, &sel);
	if (w->match) {
		if (aborted && w->on_nexus)
			w->on_nexus(nexus, lun_index, w->match_arg);
		return;
	}
	/* SAM-5 6.3.4: a reset is reported to every I_T nexus, the requester's included
	 * (libiscsi's MultipathIO.Reset checks each path for it). */
	if (w->scope == LU_RESET)
		tg_ua_establish(nexus, lun_index, w->reset_ua);
	else if (aborted && nexus != w->issuer)
		/* TAS = 0 in the control mode page: their tasks vanish without status, so they
		 * hear about it this way (SAM-5 5.6). */
		tg_ua_establish(nexus, lun_index, TG_SR_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
}

static void reset_logical_unit(struct tg_tmf *tmf, struct tg_device *dev,
			       const struct tg_nexus *issuer, enum tg_sense_reason ua)
{
	struct lu_walk w = { .tmf = tmf, .dev = dev, .issuer = issuer, .scope = LU_RESET,
			     .reset_ua = ua };
	tg_nexus_for_each_mapping(dev, lu_walk_nexus, &w);
	tg_pr_lun_reset(dev);
	tg_medium_lun_reset(dev);
}

static const struct tg_lun_entry *lun_of(struct tg_nexus *nexus, uint64_t lun)
{
	return nexus->map ? tg_lun_map_find(nexus->map, lun) : NULL;
}

void tg_tmf_abort_task(struct tg_nexus *nexus, uint64_t lun, uint64_t tag, tg_tmf_done_fn done,
		       void *priv)
{
	if (!lun_of(nexus, lun)) {
		done(priv, TG_TMF_NO_LUN);
		return;
	}
	struct tg_tmf *tmf = tg_tmf_begin(done, priv);
	if (!tmf) {
		done(priv, TG_TMF_REJECTED);
		return;
	}
	struct tag_select sel = { lun, tag };
	if (abort_in_nexus(tmf, nexus, select_tag, &sel) == 0)
		tmf->result = TG_TMF_NO_TASK;
	tg_tmf_end(tmf);
}

void tg_tmf_abort_task_set(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv)
{
	if (!lun_of(nexus, lun)) {
		done(priv, TG_TMF_NO_LUN);
		return;
	}
	struct tg_tmf *tmf = tg_tmf_begin(done, priv);
	if (!tmf) {
		done(priv, TG_TMF_REJECTED);
		return;
	}
	struct lun_select sel = { lun };
	abort_in_nexus(tmf, nexus, select_lun, &sel);
	tg_tmf_end(tmf);
}

static void logical_unit_function(struct tg_nexus *nexus, uint64_t lun, enum lu_scope scope,
				  tg_tmf_done_fn done, void *priv)
{
	const struct tg_lun_entry *entry = lun_of(nexus, lun);
	if (!entry) {
		done(priv, TG_TMF_NO_LUN);
		return;
	}
	struct tg_tmf *tmf = tg_tmf_begin(done, priv);
	if (!tmf) {
		done(priv, TG_TMF_REJECTED);
		return;
	}
	if (scope == LU_RESET) {
		/* SAM-5: 29h/03h BUS DEVICE RESET FUNCTION OCCURRED, which the core names after
		 * the SPI message that did the same. */
		reset_logical_unit(tmf, entry->dev, nexus, TG_SR_UA_TARGET_RESET);
		tg_info("tmf", "%s: LOGICAL UNIT RESET of LUN %llu (%s)", nexus->initiator_port,
			(unsigned long long)lun, entry->dev->name);
	} else {
		struct lu_walk w = { .tmf = tmf, .dev = entry->dev, .issuer = nexus,
				     .scope = LU_CLEAR_TASK_SET };
		tg_nexus_for_each_mapping(entry->dev, lu_walk_nexus, &w);
	}
	tg_tmf_end(tmf);
}

void tg_tmf_clear_task_set(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv)
{
	logical_unit_function(nexus, lun, LU_CLEAR_TASK_SET, done, priv);
}

void tg_tmf_lun_reset(struct tg_nexus *nexus, uint64_t lun, tg_tmf_done_fn done, void *priv)
{
	logical_unit_function(nexus, lun, LU_RESET, done, priv);
}

static bool in_list(struct tg_device *const *devs, size_t n, const struct tg_device *dev)
{
	for (size_t i = 0; i < n; i++)
		if (devs[i] == dev)
			return true;
	return false;
}

static size_t add_map_devices(const struct tg_lun_map *map, struct tg_device **devs, size_t n,
			      size_t cap)
{
	for (size_t i = 0; map && i < map->count && n < cap; i++)
		if (!in_list(devs, n, map->entries[i].dev))
			devs[n++] = map->entries[i].dev;
	return n;
}

void tg_tmf_target_reset(struct tg_nexus *nexus, tg_tmf_done_fn done, void *priv)
{
	const struct tg_target *target = nexus->target;
	size_t cap = 0;
	if (target) {
		cap = target->luns.count;
		for (size_t r = 0; r < target->rule_count; r++)
			cap += target->rules[r].map.count;
	} else if (nexus->map) {
		cap = nexus->map->count;
	}
	struct tg_device **devs = calloc(cap ? cap : 1, sizeof(*devs));
	struct tg_tmf *tmf = devs ? tg_tmf_begin(done, priv) : NULL;
	if (!tmf) {
		free(devs);
		done(priv, TG_TMF_REJECTED);
		return;
	}
	/* Every logical unit the target exports, whichever initiators see it. */
	size_t n = 0;
	if (target) {
		n = add_map_devices(&target->luns, devs, n, cap);
		for (size_t r = 0; r < target->rule_count; r++)
			n = add_map_devices(&target->rules[r].map, devs, n, cap);
	} else {
		n = add_map_devices(nexus->map, devs, n, cap);
	}
	for (size_t i = 0; i < n; i++)
		reset_logical_unit(tmf, devs[i], nexus, TG_SR_UA_TARGET_RESET);
	free(devs);
	tg_info("tmf", "%s: TARGET RESET of %s (%zu logical units)", nexus->initiator_port,
		target && target->name ? target->name : "?", n);
	tg_tmf_end(tmf);
}

void tg_tmf_nexus_reset(struct tg_nexus *nexus, tg_tmf_done_fn done, void *priv)
{
	struct tg_tmf *tmf = tg_tmf_begin(done, priv);
	if (!tmf) {
		done(priv, TG_TMF_REJECTED);
		return;
	}
	abort_in_nexus(tmf, nexus, select_all, NULL);
	/* SAM-5 6.3.4: the nexus is treated as lost and found again. */
	tg_pr_nexus_lost(nexus);
	tg_ua_establish_all(nexus, TG_SR_UA_NEXUS_LOSS);
	tg_info("tmf", "%s: I_T NEXUS RESET", nexus->initiator_port);
	tg_tmf_end(tmf);
}

void tg_tmf_abort_matching(struct tg_tmf *tmf, const struct tg_device *dev,
			   const struct tg_task *spare,
			   bool (*match)(const struct tg_nexus *nexus, void *arg), void *arg,
			   void (*on_nexus)(struct tg_nexus *nexus, size_t lun_index, void *arg))
{
	struct lu_walk w = { .tmf = tmf, .dev = dev, .spare = spare, .match = match,
			     .match_arg = arg, .on_nexus = on_nexus };
	tg_nexus_for_each_mapping(dev, lu_walk_nexus, &w);
}

/* ---- queries ---- */

static bool pending_in_nexus(struct tg_nexus *nexus,
			     bool (*select)(const struct tg_task *task, const void *arg),
			     const void *arg)
{
	bool found = false;
	pthread_mutex_lock(&nexus->lock);
	for (struct tg_task *t = nexus->tasks; t && !found; t = t->next_in_set)
		found = select(t, arg) && abortable(t) && !t->abort_requested;
	pthread_mutex_unlock(&nexus->lock);
	return found;
}

enum tg_tmf_result tg_tmf_query_task(struct tg_nexus *nexus, uint64_t lun, uint64_t tag)
{
	if (!lun_of(nexus, lun))
		return TG_TMF_NO_LUN;
	struct tag_select sel = { lun, tag };
	return pending_in_nexus(nexus, select_tag, &sel) ? TG_TMF_SUCCEEDED : TG_TMF_COMPLETE;
}

enum tg_tmf_result tg_tmf_query_task_set(struct tg_nexus *nexus, uint64_t lun)
{
	if (!lun_of(nexus, lun))
		return TG_TMF_NO_LUN;
	struct lun_select sel = { lun };
	return pending_in_nexus(nexus, select_lun, &sel) ? TG_TMF_SUCCEEDED : TG_TMF_COMPLETE;
}

/* ---- REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.38) ---- */

enum {
	RSTMF_ATS = 0x80,   /* ABORT TASK */
	RSTMF_ATSS = 0x40,  /* ABORT TASK SET */
	RSTMF_CTSS = 0x10,  /* CLEAR TASK SET */
	RSTMF_LURS = 0x08,  /* LOGICAL UNIT RESET */
	RSTMF_QTS = 0x04,   /* QUERY TASK */
	RSTMF_TRS = 0x02,   /* TARGET RESET */
	RSTMF_QTSS = 0x02,  /* byte 1: QUERY TASK SET */
	RSTMF_ITNRS = 0x01, /* byte 1: I_T NEXUS RESET */
	RSTMF_REPD = 0x80,
	RSTMF_MIN_ALLOC = 4,
};

enum tg_sense_reason tg_spc_parse_report_tmfs(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(task->cdb + 6);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if (task->cdb[2] & ~RSTMF_REPD)
		return tg_cmd_invalid_field(task, 2, -1);
	/* SPC-4: an allocation length below 4 is an error, not a truncation. */
	if (task->scsi_len < RSTMF_MIN_ALLOC)
		return tg_cmd_invalid_field(task, 6, -1);
	return TG_SR_OK;
}

void tg_spc_report_tmfs(struct tg_task *task)
{
	uint8_t buf[16];
	memset(buf, 0, sizeof(buf));
	/* What the transport of this nexus can ask for and the core implements: iSCSI has all
	 * of these (RFC 7143, RFC 7144); SRP only the first four. CLEAR ACA is not supported
	 * (NACA = 1 is refused), nor QUERY ASYNCHRONOUS EVENT. */
	buf[0] = RSTMF_ATS | RSTMF_ATSS | RSTMF_CTSS | RSTMF_LURS;
	if (!task->nexus || task->nexus->transport != TG_TRANSPORT_SRP) {
		buf[0] |= RSTMF_QTS | RSTMF_TRS;
		buf[1] = RSTMF_QTSS | RSTMF_ITNRS;
	}
	size_t len = 4;
	if (task->cdb[2] & RSTMF_REPD) {
		/* Extended data with TMFTMOV = 0: no timeouts are reported. */
		buf[3] = 0x0c;
		len = 16;
	}
	tg_task_reply(task, buf, len, get_be32(task->cdb + 6));
}
