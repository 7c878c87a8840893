/* EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: block-to-block copies between LUNs of this daemon, done in chunks through the backends. */
#include "core/xcopy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/device.h"
#include "core/lba_lock.h"
#include "core/medium.h"
#include "core/mode.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/target.h"
#include "core/task.h"

enum {
	CTL = 0x04,
	SA_EXTENDED_COPY_LID1 = 0x00,
	SA_COPY_STATUS = 0x00,
	SA_OPERATING_PARAMETERS = 0x03,
	SA_FAILED_SEGMENT_DETAILS = 0x04,

	HEADER_LEN = 16,
	LIST_ID_USAGE_SHIFT = 3,
	LIST_ID_USAGE_MASK = 0x03,
	USAGE_HOLD = 0,     /* results held until asked for */
	USAGE_RESERVED = 1,
	USAGE_NO_HOLD = 2,  /* list identifier in use while running, nothing held */
	USAGE_NONE = 3,     /* list identifier unused */

	DESC_IDENTIFICATION = 0xe4,
	DESC_TARGET_LEN = 32,
	DESC_TARGET_LONG_LEN = 64, /* EAh and EBh: IPv6 and IP copy service */
	DESC_BLOCK_TO_BLOCK = 0x02,
	DESC_BLOCK_TO_BLOCK_LEN = 0x1c,
	B2B_DC = 0x02,

	DESIGNATOR_NAA = 0x3,
	ASSOCIATION_LU = 0x0,
	NAA_LEN = 16,

	STATUS_IN_PROGRESS = 0x00,
	STATUS_DONE = 0x01,
	STATUS_FAILED = 0x02,
	COPY_STATUS_LEN = 12,
	FAILED_DETAILS_HEADER = 60,
	OPERATING_PARAMETERS_LEN = 44 + 2,
};

/* ---- Results kept for RECEIVE COPY RESULTS ---- */

/*
 * One copy known by its list identifier: running, or finished with its outcome held. Keyed by
 * the copy manager's device and the I_T nexus (SPC-4 5.17.4.2: list identifiers are per
 * nexus); a nexus id is never reused, so a record of a nexus that is gone only waits to be
 * evicted.
 */
struct copy_record {
	bool used;
	bool running;
	bool held;
	const struct tg_device *dev;
	uint64_t nexus_id;
	uint8_t list_id;
	uint64_t finished_seq; /* eviction order among finished records */
	uint8_t copy_status;
	uint16_t segments_processed;
	uint64_t bytes_copied;
	uint8_t command_status;
	uint8_t sense[TG_SENSE_MAX];
	uint16_t sense_len;
};

static struct copy_record records[TG_XCOPY_MAX_CONCURRENT];
static uint64_t finished_seq;
static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;

static struct copy_record *record_find_locked(const struct tg_device *dev, uint64_t nexus_id,
					      uint8_t list_id)
{
	for (size_t i = 0; i < TG_XCOPY_MAX_CONCURRENT; i++) {
		struct copy_record *r = &records[i];
		if (r->used && r->dev == dev && r->nexus_id == nexus_id && r->list_id == list_id)
			return r;
	}
	return NULL;
}

/* A slot for a new copy: a free one, else the oldest finished one. NULL when every slot holds
 * a running copy. */
static struct copy_record *record_slot_locked(void)
{
	struct copy_record *oldest = NULL;
	for (size_t i = 0; i < TG_XCOPY_MAX_CONCURRENT; i++) {
		struct copy_record *r = &records[i];
		if (!r->used)
			return r;
		if (!r->running && (!oldest || r->finished_seq < oldest->finished_seq))
			oldest = r;
	}
	return oldest;
}

/* ---- The copy ---- */

struct copy_target {
	struct tg_device *dev;
	const struct tg_lun_entry *entry;
};

struct copy_job {
	struct tg_task *task;
	const uint8_t *list; /* the parameter list, in task->data */
	size_t segments_at, segments_end;
	struct copy_target targets[TG_XCOPY_MAX_TARGET_DESCRIPTORS];
	size_t target_count;
	struct copy_record *record; /* NULL for LIST ID USAGE 11b */

	/* The segment being processed. */
	size_t segment;          /* index, for COPY STATUS and errors */
	size_t segment_at;       /* offset of its descriptor in the list */
	struct copy_target *src, *dst;
	uint64_t src_offset, dst_offset; /* bytes */
	uint64_t segment_bytes, segment_done;
	bool backwards;          /* same device, destination above an overlapping source */

	/* One chunk in flight: read into buf, then written from it under the range lock. */
	struct tg_buf buf;
	struct iovec iov;
	struct tg_io io;
	struct tg_lba_lock lock;
	uint64_t chunk_offset, chunk_len;
	bool in_submit;          /* the trampoline: a completion inside submit is deferred */
	bool completed_in_submit;
	bool in_run;             /* steps are running: finishing waits for them to return */
	bool finished;
	enum tg_sense_reason outcome;
	void (*resume)(struct copy_job *job);
	uint64_t bytes_copied;
};

static bool abort_requested(struct tg_task *task)
{
	pthread_mutex_lock(&task->nexus->lock);
	bool requested = task->abort_requested;
	pthread_mutex_unlock(&task->nexus->lock);
	return requested;
}

static enum tg_sense_reason invalid_param(struct tg_task *task, size_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = (uint16_t)byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

/* Records the outcome and completes the command, freeing the job. */
static void job_complete(struct copy_job *job)
{
	struct tg_task *task = job->task;
	enum tg_sense_reason reason = job->outcome;
	if (job->record) {
		uint8_t sense[TG_SENSE_MAX];
		size_t sense_len = tg_sense_build(sense, sizeof(sense), reason, &task->sense_info,
						  tg_mode_descriptor_sense(task->dev));
		pthread_mutex_lock(&records_lock);
		struct copy_record *r = job->record;
		r->running = false;
		r->copy_status = reason == TG_SR_OK ? STATUS_DONE : STATUS_FAILED;
		r->segments_processed = (uint16_t)job->segment;
		r->bytes_copied = job->bytes_copied;
		r->command_status = tg_sense_reason_status(reason);
		memcpy(r->sense, sense, sense_len);
		r->sense_len = (uint16_t)sense_len;
		r->finished_seq = ++finished_seq;
		if (!r->held)
			r->used = false;
		pthread_mutex_unlock(&records_lock);
	}
	tg_buf_free(&job->buf);
	free(job);
	task->handler_state = NULL;
	task->state = TG_TASK_EXEC;
	tg_task_complete(task, reason);
}

/* The copy is over: completed at once, or by run() once the steps on the stack return. */
static void job_finish(struct copy_job *job, enum tg_sense_reason reason)
{
	job->outcome = reason;
	job->finished = true;
	if (!job->in_run)
		job_complete(job);
}

static void job_progress(struct copy_job *job)
{
	if (!job->record)
		return;
	pthread_mutex_lock(&records_lock);
	job->record->segments_processed = (uint16_t)job->segment;
	job->record->bytes_copied = job->bytes_copied;
	pthread_mutex_unlock(&records_lock);
}

/* Backend completions run `resume`; one that arrives inside tg_device_submit is picked up by
 * the submitter's loop, so a backend answering at once cannot grow the stack chunk by chunk. */
static void run(struct copy_job *job, void (*step)(struct copy_job *job));

static void io_done(struct tg_io *io)
{
	struct copy_job *job = io->priv;
	if (job->in_submit) {
		job->completed_in_submit = true;
		return;
	}
	run(job, job->resume);
}

static void submit(struct copy_job *job, struct copy_target *target, enum tg_io_op op,
		   uint64_t offset, void (*then)(struct copy_job *job))
{
	memset(&job->io, 0, sizeof(job->io));
	job->iov.iov_base = job->buf.base;
	job->iov.iov_len = job->chunk_len;
	job->io.op = op;
	job->io.offset = offset;
	job->io.len = job->chunk_len;
	job->io.iov = &job->iov;
	job->io.iovcnt = 1;
	job->io.engine = job->task->engine;
	job->io.done = io_done;
	job->io.priv = job;
	job->resume = then;
	if (op == TG_IO_WRITE)
		tg_mode_apply_write_cache(target->dev, &job->io);
	job->task->state = TG_TASK_BACKEND_IO;
	job->in_submit = true;
	job->completed_in_submit = false;
	tg_device_submit(target->dev, &job->io);
	job->in_submit = false;
}

static void next_chunk(struct copy_job *job);
static void start_segment(struct copy_job *job);

/* A copy target's backend failed: the copy manager reports the copy aborted (SPC-4 6.4.5);
 * what was copied so far stays copied and COPY STATUS counts it. */
static void fail_io(struct copy_job *job)
{
	job_finish(job, TG_SR_COPY_ABORTED);
}

/* Runs `step` and every step a backend completes inside submit, iteratively, then completes
 * the command if one of them finished the copy. */
static void run(struct copy_job *job, void (*step)(struct copy_job *job))
{
	job->in_run = true;
	step(job);
	while (!job->finished && job->completed_in_submit) {
		job->completed_in_submit = false;
		job->resume(job);
	}
	job->in_run = false;
	if (job->finished)
		job_complete(job);
}

static void chunk_written(struct copy_job *job)
{
	tg_lba_lock_release(job->dst->dev, &job->lock);
	if (job->io.result < 0) {
		fail_io(job);
		return;
	}
	job->segment_done += job->chunk_len;
	job->bytes_copied += job->chunk_len;
	job_progress(job);
	next_chunk(job);
}

static void write_chunk(struct copy_job *job)
{
	submit(job, job->dst, TG_IO_WRITE, job->dst_offset + job->chunk_offset, chunk_written);
}

static void lock_granted(struct tg_lba_lock *lock)
{
	struct copy_job *job = (struct copy_job *)((char *)lock - offsetof(struct copy_job, lock));
	run(job, write_chunk);
}

static void chunk_read(struct copy_job *job)
{
	if (job->io.result < 0) {
		fail_io(job);
		return;
	}
	if (abort_requested(job->task)) {
		job_finish(job, TG_SR_TASK_ABORTED);
		return;
	}
	/* The destination range is held like any writer's, so COMPARE AND WRITE stays atomic. */
	uint32_t bs = job->dst->dev->block_size;
	uint64_t lba = (job->dst_offset + job->chunk_offset) / bs;
	if (tg_lba_lock_acquire(job->dst->dev, &job->lock, lba, job->chunk_len / bs, false,
				lock_granted))
		write_chunk(job);
}

static void next_chunk(struct copy_job *job)
{
	if (abort_requested(job->task)) {
		job_finish(job, TG_SR_TASK_ABORTED);
		return;
	}
	uint64_t left = job->segment_bytes - job->segment_done;
	if (left == 0) {
		job->segment++;
		start_segment(job);
		return;
	}
	job->chunk_len = left < TG_XCOPY_CHUNK_BYTES ? left : TG_XCOPY_CHUNK_BYTES;
	/* Backwards, the chunks are taken from the end so that no source block is overwritten
	 * before it has been read. */
	job->chunk_offset = job->backwards ? left - job->chunk_len : job->segment_done;
	submit(job, job->src, TG_IO_READ, job->src_offset + job->chunk_offset, chunk_read);
}

/* Reads the next block-to-block segment descriptor and starts copying it. */
static void start_segment(struct copy_job *job)
{
	struct tg_task *task = job->task;
	if (job->segment_at >= job->segments_end) {
		job_progress(job);
		job_finish(job, TG_SR_OK);
		return;
	}
	const uint8_t *d = job->list + job->segment_at;
	job->segment_at += 4u + get_be16(d + 2);
	uint16_t src = get_be16(d + 4), dst = get_be16(d + 6);
	if (src >= job->target_count || dst >= job->target_count) {
		job_finish(job, TG_SR_COPY_TARGET_NOT_REACHABLE);
		return;
	}
	job->src = &job->targets[src];
	job->dst = &job->targets[dst];
	struct tg_device *sdev = job->src->dev, *ddev = job->dst->dev;
	/* A removable medium that is out cannot be read or written. */
	if (!tg_medium_present(sdev) || !tg_medium_present(ddev)) {
		job_finish(job, TG_SR_COPY_TARGET_NOT_REACHABLE);
		return;
	}
	enum tg_sense_reason protect = tg_mode_write_protection(job->dst->entry, ddev);
	if (protect != TG_SR_OK) {
		job_finish(job, protect);
		return;
	}
	/* DC = 1: NUMBER OF BLOCKS counts destination blocks. A count that leaves part of a
	 * block over on either side is not copied at all. */
	uint16_t blocks = get_be16(d + 10);
	uint64_t bytes = (uint64_t)blocks * ((d[1] & B2B_DC) ? ddev->block_size : sdev->block_size);
	if (bytes % sdev->block_size || bytes % ddev->block_size || bytes > TG_XCOPY_MAX_SEGMENT_BYTES) {
		job_finish(job, invalid_param(task, (size_t)(d - job->list) + 10, -1));
		return;
	}
	uint64_t src_lba = get_be64(d + 12), dst_lba = get_be64(d + 20);
	uint64_t src_blocks = bytes / sdev->block_size, dst_blocks = bytes / ddev->block_size;
	/* Beyond the end of a copy target: its READ or WRITE would fail, and so does the copy
	 * (before this segment moves anything). */
	if (src_lba > sdev->num_blocks || src_blocks > sdev->num_blocks - src_lba ||
	    dst_lba > ddev->num_blocks || dst_blocks > ddev->num_blocks - dst_lba) {
		job_finish(job, TG_SR_COPY_ABORTED);
		return;
	}
	job->src_offset = src_lba * sdev->block_size;
	job->dst_offset = dst_lba * ddev->block_size;
	job->segment_bytes = bytes;
	job->segment_done = 0;
	job->backwards = sdev == ddev && job->dst_offset > job->src_offset &&
			 job->dst_offset < job->src_offset + bytes;
	next_chunk(job);
}

/* ---- EXTENDED COPY (LID1): the parameter list ---- */

static size_t target_descriptor_len(uint8_t type)
{
	if (type >= 0xe0 && type <= 0xe9)
		return DESC_TARGET_LEN;
	if (type == 0xea || type == 0xeb)
		return DESC_TARGET_LONG_LEN;
	return 0;
}

/* The LUN of this nexus whose NAA designator the identification descriptor names. */
static enum tg_sense_reason resolve_target(struct tg_task *task, const uint8_t *d,
					   struct copy_target *target)
{
	const uint8_t *designator = d + 4;
	uint8_t type = designator[1] & 0x0f, association = (designator[1] >> 4) & 0x03;
	if (type != DESIGNATOR_NAA || association != ASSOCIATION_LU || designator[3] != NAA_LEN)
		return TG_SR_COPY_TARGET_NOT_REACHABLE;
	uint64_t naa = get_be64(designator + 4), naa_ext = get_be64(designator + 12);
	const struct tg_lun_map *map = task->nexus->map;
	for (size_t i = 0; map && i < map->count; i++) {
		struct tg_device *dev = map->entries[i].dev;
		if (dev->naa != naa || dev->naa_ext != naa_ext)
			continue;
		/* PERIPHERAL DEVICE TYPE and, for a block device, DISK BLOCK LENGTH must describe
		 * the logical unit as it is. */
		if ((d[1] & 0x1f) != dev->peripheral_type || get_be24(d + 29) != dev->block_size)
			return TG_SR_COPY_TARGET_WRONG_TYPE;
		target->dev = dev;
		target->entry = &map->entries[i];
		return TG_SR_OK;
	}
	/* Only logical units this initiator can see through this target are reachable. */
	return TG_SR_COPY_TARGET_NOT_REACHABLE;
}

static enum tg_sense_reason check_targets(struct tg_task *task, struct copy_job *job, size_t at,
					  size_t end)
{
	const uint8_t *p = job->list;
	size_t count = 0;
	for (size_t i = at; i < end; count++) {
		size_t len = target_descriptor_len(p[i]);
		if (len == 0)
			return TG_SR_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE;
		if (i + len > end)
			return invalid_param(task, 2, -1);
		i += len;
	}
	if (count > TG_XCOPY_MAX_TARGET_DESCRIPTORS)
		return TG_SR_TOO_MANY_TARGET_DESCRIPTORS;
	for (size_t i = at; i < end; i += target_descriptor_len(p[i]))
		if (p[i] != DESC_IDENTIFICATION)
			return TG_SR_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE;
	job->target_count = count;
	return TG_SR_OK;
}

static enum tg_sense_reason check_segments(struct tg_task *task, struct copy_job *job, size_t at,
					   size_t end)
{
	const uint8_t *p = job->list;
	size_t count = 0;
	for (size_t i = at; i < end; count++) {
		if (end - i < 4 || end - i < 4u + get_be16(p + i + 2))
			return invalid_param(task, 8, -1);
		i += 4u + get_be16(p + i + 2);
	}
	if (count > TG_XCOPY_MAX_SEGMENT_DESCRIPTORS)
		return TG_SR_TOO_MANY_SEGMENT_DESCRIPTORS;
	for (size_t i = at; i < end; i += 4u + get_be16(p + i + 2)) {
		if (p[i] != DESC_BLOCK_TO_BLOCK)
			return TG_SR_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE;
		if (get_be16(p + i + 2) != DESC_BLOCK_TO_BLOCK_LEN - 4)
			return invalid_param(task, i + 2, -1);
	}
	job->segments_at = at;
	job->segments_end = end;
	return TG_SR_OK;
}

/* Decodes and checks the header and both descriptor lists (SPC-4 6.4.3): nothing is copied
 * unless the whole list is well formed and every copy target is found. */
static enum tg_sense_reason check_parameter_list(struct tg_task *task, struct copy_job *job)
{
	const uint8_t *p = job->list;
	size_t len = task->data.len;
	if (len < HEADER_LEN)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	if (((p[1] >> LIST_ID_USAGE_SHIFT) & LIST_ID_USAGE_MASK) == USAGE_RESERVED)
		return invalid_param(task, 1, 4);
	size_t targets_len = get_be16(p + 2);
	uint64_t segments_len = get_be32(p + 8), inline_len = get_be32(p + 12);
	if (targets_len + segments_len > TG_XCOPY_MAX_DESCRIPTOR_LIST)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	if (inline_len)
		return TG_SR_INLINE_DATA_LENGTH_EXCEEDED; /* MAXIMUM INLINE DATA LENGTH is 0 */
	if (HEADER_LEN + targets_len + segments_len > len)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	size_t targets_end = HEADER_LEN + targets_len;
	enum tg_sense_reason reason = check_targets(task, job, HEADER_LEN, targets_end);
	if (reason == TG_SR_OK)
		reason = check_segments(task, job, targets_end, targets_end + (size_t)segments_len);
	for (size_t i = 0, at = HEADER_LEN; reason == TG_SR_OK && i < job->target_count;
	     i++, at += DESC_TARGET_LEN)
		reason = resolve_target(task, p + at, &job->targets[i]);
	return reason;
}

static enum tg_sense_reason parse_extended_copy(struct tg_task *task)
{
	task->scsi_len = get_be32(task->cdb + 10);
	task->dir = task->scsi_len ? TG_DIR_WRITE : TG_DIR_NONE;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* Longer than the largest list we take: refused before the data is fetched. */
	if (task->scsi_len > HEADER_LEN + TG_XCOPY_MAX_DESCRIPTOR_LIST)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	return TG_SR_OK;
}

/* Registers the copy under its list identifier; a running copy of this nexus already using it
 * is OPERATION IN PROGRESS. */
static enum tg_sense_reason register_copy(struct tg_task *task, struct copy_job *job)
{
	uint8_t usage = (job->list[1] >> LIST_ID_USAGE_SHIFT) & LIST_ID_USAGE_MASK;
	if (usage == USAGE_NONE)
		return TG_SR_OK;
	uint8_t list_id = job->list[0];
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&records_lock);
	struct copy_record *r = record_find_locked(task->dev, task->nexus->id, list_id);
	if (r && r->running) {
		reason = TG_SR_OPERATION_IN_PROGRESS;
	} else {
		if (!r)
			r = record_slot_locked();
		if (!r) {
			reason = TG_SR_TASK_SET_FULL;
		} else {
			memset(r, 0, sizeof(*r));
			r->used = r->running = true;
			r->held = usage == USAGE_HOLD;
			r->dev = task->dev;
			r->nexus_id = task->nexus->id;
			r->list_id = list_id;
			job->record = r;
		}
	}
	pthread_mutex_unlock(&records_lock);
	return reason;
}

static void execute_extended_copy(struct tg_task *task)
{
	/* A PARAMETER LIST LENGTH of 0 is not an error: there is nothing to copy. */
	if (task->data.len == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	struct copy_job *job = calloc(1, sizeof(*job));
	if (!job) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->task = task;
	job->list = task->data.base;
	enum tg_sense_reason reason = check_parameter_list(task, job);
	if (reason == TG_SR_OK)
		reason = register_copy(task, job);
	if (reason == TG_SR_OK && tg_buf_alloc(&job->buf, TG_XCOPY_CHUNK_BYTES) != 0)
		reason = TG_SR_TASK_SET_FULL;
	task->handler_state = job;
	if (reason != TG_SR_OK) {
		job_finish(job, reason);
		return;
	}
	job->segment_at = job->segments_at;
	run(job, start_segment);
}

/* ---- RECEIVE COPY RESULTS ---- */

static enum tg_sense_reason parse_receive_copy_results(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(task->cdb + 10);
	return tg_cmd_check_control(task);
}

/* TRANSFER COUNT in the smallest unit (bytes, KiB, MiB, ...) that fits its 32 bits. */
static void put_transfer_count(uint8_t *units, uint8_t *count, uint64_t bytes)
{
	uint8_t unit = 0;
	while (bytes > UINT32_MAX) {
		bytes >>= 10;
		unit++;
	}
	*units = unit;
	put_be32(count, (uint32_t)bytes);
}

static void copy_status(struct tg_task *task)
{
	uint8_t buf[COPY_STATUS_LEN];
	memset(buf, 0, sizeof(buf));
	pthread_mutex_lock(&records_lock);
	struct copy_record *r = record_find_locked(task->dev, task->nexus->id, task->cdb[2]);
	if (r) {
		put_be32(buf, COPY_STATUS_LEN - 4);
		buf[4] = r->running ? STATUS_IN_PROGRESS : r->copy_status; /* HDD 0: no held data */
		put_be16(buf + 5, r->segments_processed);
		put_transfer_count(buf + 7, buf + 8, r->bytes_copied);
	}
	pthread_mutex_unlock(&records_lock);
	if (!r) {
		/* No copy of this nexus has that list identifier (SPC-4 6.20.2). */
		tg_task_fail_cdb_field(task, 2, -1);
		return;
	}
	tg_task_reply(task, buf, sizeof(buf), get_be32(task->cdb + 10));
}

static void failed_segment_details(struct tg_task *task)
{
	uint8_t buf[FAILED_DETAILS_HEADER + TG_SENSE_MAX];
	memset(buf, 0, sizeof(buf));
	size_t len = 4; /* AVAILABLE DATA 0: nothing failed (yet) under this list identifier */
	pthread_mutex_lock(&records_lock);
	struct copy_record *r = record_find_locked(task->dev, task->nexus->id, task->cdb[2]);
	if (r && !r->running && r->copy_status == STATUS_FAILED) {
		len = FAILED_DETAILS_HEADER + r->sense_len;
		put_be32(buf, (uint32_t)(len - 4));
		buf[56] = r->command_status;
		put_be16(buf + 58, r->sense_len);
		memcpy(buf + FAILED_DETAILS_HEADER, r->sense, r->sense_len);
	}
	pthread_mutex_unlock(&records_lock);
	tg_task_reply(task, buf, len, get_be32(task->cdb + 10));
}

static void operating_parameters(struct tg_task *task)
{
	uint8_t buf[OPERATING_PARAMETERS_LEN];
	memset(buf, 0, sizeof(buf));
	put_be32(buf, sizeof(buf) - 4);
	buf[4] = 0x01; /* SNLID: LIST ID USAGE 11b (no list identifier) is supported */
	put_be16(buf + 8, TG_XCOPY_MAX_TARGET_DESCRIPTORS);
	put_be16(buf + 10, TG_XCOPY_MAX_SEGMENT_DESCRIPTORS);
	put_be32(buf + 12, TG_XCOPY_MAX_DESCRIPTOR_LIST);
	put_be32(buf + 16, TG_XCOPY_MAX_SEGMENT_BYTES);
	/* MAXIMUM INLINE DATA LENGTH, HELD DATA LIMIT and MAXIMUM STREAM DEVICE TRANSFER SIZE
	 * stay 0: no inline data, no held data, no stream devices. */
	put_be16(buf + 34, TG_XCOPY_MAX_CONCURRENT);
	buf[36] = TG_XCOPY_MAX_CONCURRENT;
	/* DATA/INLINE/HELD DATA GRANULARITY 2^0. The descriptors implemented: */
	buf[43] = 2;
	buf[44] = DESC_BLOCK_TO_BLOCK;
	buf[45] = DESC_IDENTIFICATION;
	tg_task_reply(task, buf, sizeof(buf), get_be32(task->cdb + 10));
}

/* ---- Third-party Copy VPD page ---- */

/* Appends one third-party copy descriptor (type, then a body padded to a multiple of 4). */
static size_t put_tpc_descriptor(uint8_t *at, uint16_t type, const uint8_t *body, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	put_be16(at, type);
	put_be16(at + 2, (uint16_t)padded);
	memcpy(at + 4, body, len);
	memset(at + 4 + len, 0, padded - len);
	return 4 + padded;
}

size_t tg_xcopy_vpd_third_party_copy(const struct tg_task *task, unsigned char *body)
{
	(void)task;
	uint8_t *d = body;
	/* Supported Commands: each third-party copy opcode with the service actions it has. */
	const uint8_t commands[] = {
		8,
		SCSI_EXTENDED_COPY, 1, SA_EXTENDED_COPY_LID1,
		SCSI_RECEIVE_COPY_RESULTS, 3, SA_COPY_STATUS, SA_OPERATING_PARAMETERS,
		SA_FAILED_SEGMENT_DETAILS,
	};
	d += put_tpc_descriptor(d, 0x0001, commands, sizeof(commands));
	/* Parameter Data: the limits of one parameter list. */
	uint8_t params[28] = { 0 };
	put_be16(params + 4, TG_XCOPY_MAX_TARGET_DESCRIPTORS);
	put_be16(params + 6, TG_XCOPY_MAX_SEGMENT_DESCRIPTORS);
	put_be32(params + 8, TG_XCOPY_MAX_DESCRIPTOR_LIST);
	d += put_tpc_descriptor(d, 0x0004, params, sizeof(params));
	/* Supported Descriptors: block to block, identification CSCD. */
	const uint8_t descriptors[] = { 2, DESC_BLOCK_TO_BLOCK, DESC_IDENTIFICATION };
	d += put_tpc_descriptor(d, 0x0008, descriptors, sizeof(descriptors));
	/* Supported CSCD IDs: none beyond the descriptor list indexes. */
	const uint8_t cscd_ids[2] = { 0, 0 };
	d += put_tpc_descriptor(d, 0x000c, cscd_ids, sizeof(cscd_ids));
	/* General Copy Operations (mandatory). */
	uint8_t general[32] = { 0 };
	put_be32(general, TG_XCOPY_MAX_CONCURRENT);
	put_be32(general + 4, TG_XCOPY_MAX_CONCURRENT);
	put_be32(general + 8, TG_XCOPY_MAX_SEGMENT_BYTES);
	d += put_tpc_descriptor(d, 0x8001, general, sizeof(general));
	return (size_t)(d - body);
}

/* ---- The service-action tables ---- */

const struct tg_cmd_desc tg_spc_copy_out_actions[] = {
	{ .name = "EXTENDED COPY(LID1)", .cdb_len = 16, .service_action = SA_EXTENDED_COPY_LID1,
	  .parse = parse_extended_copy, .execute = execute_extended_copy,
	  .usage = { SCSI_EXTENDED_COPY, SA_EXTENDED_COPY_LID1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		     0xff, 0xff, 0xff, 0, CTL },
	  /* Every segment at its largest, read and written once. */
	  .timeout = 600 },
	{ 0 },
};

#define COPY_IN(sa, nm, handler, list_id)                                                  \
	{ .name = nm, .cdb_len = 16, .service_action = sa,                                 \
	  .flags = TG_CMD_PR_READ | TG_CMD_MEDIUM_FREE,                                    \
	  .parse = parse_receive_copy_results, .execute = handler,                         \
	  .usage = { SCSI_RECEIVE_COPY_RESULTS, sa, list_id, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, \
		     0xff, 0xff, 0, CTL } }
const struct tg_cmd_desc tg_spc_copy_in_actions[] = {
	COPY_IN(SA_COPY_STATUS, "RECEIVE COPY STATUS(LID1)", copy_status, 0xff),
	COPY_IN(SA_OPERATING_PARAMETERS, "RECEIVE COPY OPERATING PARAMETERS",
		operating_parameters, 0),
	COPY_IN(SA_FAILED_SEGMENT_DETAILS, "RECEIVE COPY FAILURE DETAILS(LID1)",
		failed_segment_details, 0xff),
	{ 0 },
};
#undef COPY_IN
