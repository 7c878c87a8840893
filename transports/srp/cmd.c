/* SRP command path: SRP_CMD to a core task (descriptors, partial indirect tables, immediate data), RDMA READ/WRITE of data, SRP_RSP, and SRP_TSK_MGMT. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/tmf.h"
#include "transports/srp/srp_internal.h"

static struct srp_ctx *ctx_of(struct tg_task *task)
{
	return (struct srp_ctx *)((char *)task - offsetof(struct srp_ctx, task));
}

uint32_t srp_take_delta(struct srp_channel *ch) { return srp_credits_take(&ch->credits); }

/* ---- finishing a context ---- */

/* The request IU is no longer needed (its CDB, descriptors and immediate data have been used):
 * the buffer takes the next request, and only then does its credit go back. */
static void ctx_return_request(struct srp_ctx *ctx)
{
	struct srp_channel *ch = ctx->ch;
	if (ctx->recv) {
		srp_channel_repost(ch, ctx->recv);
		ctx->recv = NULL;
	}
	if (ctx->credited) {
		ctx->credited = false;
		srp_credits_release(&ch->credits, 1);
	}
}

static void ctx_free(struct srp_ctx *ctx)
{
	struct srp_channel *ch = ctx->ch;
	if (ctx->kind == SRP_CTX_CMD && ctx->submitted)
		tg_task_release(&ctx->task);
	if (ctx->remote && ctx->remote != ctx->remote_inline)
		free(ctx->remote);
	ctx->remote = NULL;
	ctx->nremote = 0;
	if (ctx->table.base)
		tg_rdma_buf_free(&ctx->table);
	if (ctx->bounce.base)
		tg_rdma_buf_free(&ctx->bounce);
	/* A request whose IU was never handed back (the channel is closing): its receive is not
	 * reposted, and its credit no longer matters. */
	ctx->recv = NULL;
	ctx->credited = false;
	ctx->kind = SRP_CTX_FREE;
	ctx->submitted = false;
	ctx->next = ch->free_ctx;
	ch->free_ctx = ctx;
	ch->active_ctx--;
	srp_channel_ctx_freed(ch);
}

static void maybe_done(struct srp_ctx *ctx)
{
	if (ctx->data_done && ctx->rsp_done)
		ctx_free(ctx);
}

/* No response goes out (aborted task, closing channel): the credit still comes back. */
static void ctx_finish_silently(struct srp_ctx *ctx)
{
	struct srp_channel *ch = ctx->ch;
	bool had_credit = ctx->credited;
	ctx_return_request(ctx);
	if (had_credit && ch->state == SRP_CH_LIVE)
		srp_channel_schedule_flush(ch);
	ctx_free(ctx);
}

static void rsp_sent(struct tg_rdma_op *op, int status)
{
	struct srp_ctx *ctx = op->priv;
	ctx->rsp_done = true;
	maybe_done(ctx);
}

static void send_response(struct srp_ctx *ctx, uint32_t len)
{
	struct srp_channel *ch = ctx->ch;
	ctx->send_len = len;
	ctx->rsp_op = (struct tg_rdma_op){ .kind = TG_RDMA_SEND, .local = ctx->send_buf, .len = len,
					   .lkey = ctx->send_lkey, .done = rsp_sent, .priv = ctx };
	ctx->rsp_done = false;
	if (tg_rdma_post(ch->conn, &ctx->rsp_op) != 0)
		ctx->rsp_done = true;
	maybe_done(ctx);
}

static uint8_t sol_not_for(const struct srp_ctx *ctx, bool good)
{
	/* SCSOLNT (bit 1) / UCSOLNT (bit 2) of the request ask for SOLNT in the answer. */
	return (ctx->sol_not & (good ? 0x02 : 0x04)) ? 0x01 : 0x00;
}

/* Answers a request the core never saw (malformed, overrun, no resources). */
static void answer_error(struct srp_ctx *ctx, enum tg_sense_reason reason)
{
	struct srp_channel *ch = ctx->ch;
	ctx->kind = SRP_CTX_ERROR;
	ctx->data_done = true;
	ctx->rsp_done = true;
	if (ch->state != SRP_CH_LIVE) {
		ctx_finish_silently(ctx);
		return;
	}
	uint8_t sense[TG_SENSE_MAX];
	struct tg_sense_info info = { 0 };
	size_t sense_len = tg_sense_build(sense, sizeof(sense), reason, &info, false);
	ctx_return_request(ctx);
	struct srp_rsp rsp = {
		.tag = ctx->tag,
		.req_lim_delta = srp_take_delta(ch),
		.status = tg_sense_reason_status(reason),
		.sol_not = sol_not_for(ctx, false),
		.sense = sense,
		.sense_len = (uint32_t)sense_len,
	};
	send_response(ctx, (uint32_t)srp_rsp_build(ctx->send_buf, ch->ti_iu_len, &rsp));
}

/* ---- transport ops ---- */

static int srp_alloc_buf(struct tg_task *task, struct tg_buf *buf, size_t len)
{
	struct srp_ctx *ctx = ctx_of(task);
	struct srp_channel *ch = ctx->ch;
	/* Immediate data stays where it arrived: the receive buffer was laid out so that it
	 * starts on a 4 KiB boundary. */
	if (buf == &task->data && ctx->cmd.fmt == SRP_FMT_IMMEDIATE && ctx->recv &&
	    len <= ctx->cmd.data_len) {
		buf->base = (uint8_t *)ctx->recv->rr.buf + ctx->cmd.imm_offset;
		buf->len = len;
		buf->cap = ctx->cmd.data_len;
		buf->lkey = ctx->recv->rr.lkey;
		buf->owner = &ch->imm_owner_marker;
		return 0;
	}
	return tg_rdma_buf_alloc(ch->dev, buf, len);
}

static void srp_free_buf(struct tg_task *task, struct tg_buf *buf)
{
	struct srp_ctx *ctx = ctx_of(task);
	if (buf->owner == &ctx->ch->imm_owner_marker)
		memset(buf, 0, sizeof(*buf));
	else
		tg_rdma_buf_free(buf);
}

/* Where the data moves from/to on the wire: task->data itself when it is registered memory
 * (always, when the core allocated it through alloc_buf), else a registered bounce buffer
 * whose copies are counted. */
static int data_region(struct srp_ctx *ctx, uint8_t **base, uint32_t *lkey)
{
	struct tg_buf *data = &ctx->task.data;
	if (data->owner) {
		*base = data->base;
		*lkey = data->lkey;
		return 0;
	}
	if (!ctx->bounce.base && tg_rdma_buf_alloc(ctx->ch->dev, &ctx->bounce, data->len) != 0)
		return -1;
	*base = ctx->bounce.base;
	*lkey = ctx->bounce.lkey;
	return 0;
}

static void data_read_done(struct tg_rdma_op *op, int status)
{
	struct srp_ctx *ctx = op->priv;
	struct tg_task *task = &ctx->task;
	ctx->data_done = true;
	if (status) {
		tg_task_data_ready(task, TG_SR_DATA_PHASE_ERROR);
		return;
	}
	if (ctx->bounce.base) {
		memcpy(task->data.base, ctx->bounce.base, task->data.len);
		tg_stats_count_copy(task->data.len);
		tg_rdma_buf_free(&ctx->bounce);
	}
	tg_task_data_ready(task, TG_SR_OK);
}

static void srp_write_pending(struct tg_task *task)
{
	struct srp_ctx *ctx = ctx_of(task);
	struct srp_channel *ch = ctx->ch;
	if (ctx->cmd.fmt == SRP_FMT_IMMEDIATE) {
		if (task->data.owner == &ch->imm_owner_marker) {
			tg_task_data_ready(task, TG_SR_OK);
			return;
		}
		/* The core sized the buffer beyond what arrived: the initiator sent too little. */
		tg_task_data_ready(task, TG_SR_INVALID_FIELD_IN_IU);
		return;
	}
	uint8_t *base;
	uint32_t lkey;
	if (ch->state != SRP_CH_LIVE) {
		tg_task_data_ready(task, TG_SR_TASK_ABORTED);
		return;
	}
	if (data_region(ctx, &base, &lkey) != 0) {
		tg_task_data_ready(task, TG_SR_TASK_SET_FULL);
		return;
	}
	ctx->data_op = (struct tg_rdma_op){ .kind = TG_RDMA_READ, .local = base,
					    .len = (uint32_t)task->data.len, .lkey = lkey,
					    .remote = ctx->remote, .nremote = ctx->nremote,
					    .done = data_read_done, .priv = ctx };
	ctx->data_done = false;
	int rc = tg_rdma_post(ch->conn, &ctx->data_op);
	if (rc != 0) {
		ctx->data_done = true;
		tg_task_data_ready(task, rc == -ENOTCONN ? TG_SR_TASK_ABORTED : TG_SR_INVALID_FIELD_IN_IU);
	}
}

static void data_written(struct tg_rdma_op *op, int status)
{
	struct srp_ctx *ctx = op->priv;
	ctx->data_done = true;
	maybe_done(ctx);
}

static void srp_queue_response(struct tg_task *task)
{
	struct srp_ctx *ctx = ctx_of(task);
	struct srp_channel *ch = ctx->ch;
	ctx->response_built = true;
	ctx->data_done = ctx->rsp_done = true;
	if (task->state == TG_TASK_ABORTED || ch->state != SRP_CH_LIVE ||
	    ch->logout_then_disconnect) {
		ctx_finish_silently(ctx);
		return;
	}
	/* Data-in first: a SEND posted after the RDMA WRITEs reaches the initiator after them. */
	uint32_t len = (uint32_t)task->data.len;
	if (len > task->exp_len)
		len = task->exp_len;
	if (ctx->cmd.dir == SRP_DIR_IN && len) {
		uint8_t *base;
		uint32_t lkey;
		if (data_region(ctx, &base, &lkey) == 0) {
			if (base != task->data.base) {
				memcpy(base, task->data.base, len);
				tg_stats_count_copy(len);
			}
			ctx->data_op = (struct tg_rdma_op){ .kind = TG_RDMA_WRITE, .local = base,
							    .len = len, .lkey = lkey,
							    .remote = ctx->remote,
							    .nremote = ctx->nremote,
							    .done = data_written, .priv = ctx };
			ctx->data_done = false;
			if (tg_rdma_post(ch->conn, &ctx->data_op) != 0)
				ctx->data_done = true;
		} else {
			tg_warn(SRP_LOG, "%s: tag %#llx: no memory for the data-in buffer", ch->name,
				(unsigned long long)ctx->tag);
		}
	}
	ctx_return_request(ctx);
	bool good = task->status == SCSI_STATUS_GOOD;
	struct srp_rsp rsp = {
		.tag = ctx->tag,
		.req_lim_delta = srp_take_delta(ch),
		.status = task->status,
		.sol_not = sol_not_for(ctx, good),
		.sense = task->sense,
		.sense_len = task->sense_len,
	};
	enum srp_data_dir dir = ctx->cmd.dir != SRP_DIR_NONE ? ctx->cmd.dir
			       : task->dir == TG_DIR_WRITE   ? SRP_DIR_OUT
							     : SRP_DIR_IN;
	srp_rsp_set_residual(&rsp, dir, task->residual_overflow, task->residual_underflow,
			     task->residual);
	send_response(ctx, (uint32_t)srp_rsp_build(ctx->send_buf, ch->ti_iu_len, &rsp));
}

/* The core aborted the task: a data phase in progress ends when its RDMA READ completes
 * (tg_task_data_ready then sees the abort); nothing else waits on the transport. */
static void srp_task_aborted(struct tg_task *task) { (void)task; }

const struct tg_transport_ops srp_transport_ops = {
	.name = "srp",
	.write_pending = srp_write_pending,
	.queue_response = srp_queue_response,
	.alloc_buf = srp_alloc_buf,
	.free_buf = srp_free_buf,
	.task_aborted = srp_task_aborted,
};

/* ---- SRP_CMD ---- */

static enum tg_task_attr task_attr(uint8_t attr)
{
	switch (attr) {
	case SRP_ATTR_HEAD_OF_QUEUE:
		return TG_ATTR_HEAD_OF_QUEUE;
	case SRP_ATTR_ORDERED:
		return TG_ATTR_ORDERED;
	case SRP_ATTR_ACA:
		return TG_ATTR_ACA;
	default:
		return TG_ATTR_SIMPLE;
	}
}

/* Decodes n packed descriptors into ctx->remote; false when out of memory. */
static bool decode_remotes(struct srp_ctx *ctx, const uint8_t *descs, uint32_t n)
{
	ctx->remote = n <= SRP_INLINE_REMOTES ? ctx->remote_inline : calloc(n, sizeof(*ctx->remote));
	if (!ctx->remote)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct srp_desc d = srp_desc_get(descs + (size_t)i * SRP_DESC_LEN);
		ctx->remote[i] = (struct tg_rdma_remote){ .addr = d.va, .rkey = d.key, .len = d.len };
	}
	ctx->nremote = n;
	return true;
}

static void start_task(struct srp_ctx *ctx)
{
	struct srp_channel *ch = ctx->ch;
	const struct srp_cmd *cmd = &ctx->cmd;
	if (cmd->fmt == SRP_FMT_DIRECT || cmd->fmt == SRP_FMT_INDIRECT) {
		uint64_t covered = 0;
		for (uint32_t i = 0; i < ctx->nremote; i++)
			covered += ctx->remote[i].len;
		if (covered < cmd->data_len) {
			tg_warn(SRP_LOG, "%s: tag %#llx: descriptors cover %llu of %u bytes", ch->name,
				(unsigned long long)ctx->tag, (unsigned long long)covered,
				cmd->data_len);
			answer_error(ctx, TG_SR_INVALID_FIELD_IN_IU);
			return;
		}
	}
	struct tg_task *task = &ctx->task;
	tg_task_init(task, ch->sn->nexus, &srp_transport_ops, ch->home->engine);
	task->lun = cmd->lun;
	task->tag = cmd->tag;
	memcpy(task->cdb, cmd->cdb, cmd->cdb_len);
	task->cdb_len = cmd->cdb_len;
	task->attr = task_attr(cmd->task_attr);
	task->exp_dir = cmd->dir == SRP_DIR_OUT ? TG_DIR_WRITE
			: cmd->dir == SRP_DIR_IN ? TG_DIR_READ
						 : TG_DIR_NONE;
	task->exp_len = cmd->data_len;
	ctx->kind = SRP_CTX_CMD;
	ctx->submitted = true;
	ch->stats.commands++;
	if (cmd->fmt == SRP_FMT_IMMEDIATE)
		ch->stats.immediate++;
	tg_task_submit(task);
}

static void table_fetched(struct tg_rdma_op *op, int status)
{
	struct srp_ctx *ctx = op->priv;
	ctx->data_done = true;
	if (status || ctx->ch->state != SRP_CH_LIVE) {
		if (ctx->ch->state == SRP_CH_LIVE)
			answer_error(ctx, TG_SR_DATA_PHASE_ERROR);
		else
			ctx_finish_silently(ctx);
		return;
	}
	bool ok = decode_remotes(ctx, ctx->table.base, ctx->cmd.table_count);
	tg_rdma_buf_free(&ctx->table);
	if (!ok) {
		answer_error(ctx, TG_SR_TASK_SET_FULL);
		return;
	}
	start_task(ctx);
}

/* The IU carries only the head of the descriptor table: the whole table is read from the
 * initiator's memory first. */
static void fetch_table(struct srp_ctx *ctx)
{
	struct srp_channel *ch = ctx->ch;
	const struct srp_cmd *cmd = &ctx->cmd;
	if (tg_rdma_buf_alloc(ch->dev, &ctx->table, cmd->table.len) != 0) {
		answer_error(ctx, TG_SR_TASK_SET_FULL);
		return;
	}
	ctx->remote_inline[0] = (struct tg_rdma_remote){ .addr = cmd->table.va,
							 .rkey = cmd->table.key,
							 .len = cmd->table.len };
	ch->stats.tables_fetched++;
	ctx->data_op = (struct tg_rdma_op){ .kind = TG_RDMA_READ, .local = ctx->table.base,
					    .len = cmd->table.len, .lkey = ctx->table.lkey,
					    .remote = &ctx->remote_inline[0], .nremote = 1,
					    .done = table_fetched, .priv = ctx };
	ctx->data_done = false;
	if (tg_rdma_post(ch->conn, &ctx->data_op) != 0) {
		ctx->data_done = true;
		ctx_finish_silently(ctx);
	}
	tg_debug(SRP_LOG, "%s: tag %#llx: fetching a %u-entry descriptor table (%u in the IU)",
		 ch->name, (unsigned long long)ctx->tag, cmd->table_count, cmd->desc_count);
}

static void handle_cmd(struct srp_ctx *ctx, const uint8_t *iu, uint32_t len)
{
	struct srp_channel *ch = ctx->ch;
	enum srp_cmd_error err =
		srp_cmd_parse(iu, len, ch->imm_data ? ch->imm_data_offset : 0, &ctx->cmd);
	ctx->tag = ctx->cmd.tag;
	ctx->sol_not = ctx->cmd.sol_not;
	if (err == SRP_CMD_TOO_SHORT && len < 16) {
		srp_channel_logout(ch, SRP_LOGOUT_INVALID_IU_LENGTH, "SRP_CMD without a tag");
		ctx_finish_silently(ctx);
		return;
	}
	if (!ctx->credited) {
		tg_warn(SRP_LOG, "%s: tag %#llx: request beyond the request limit", ch->name,
			(unsigned long long)ctx->tag);
		answer_error(ctx, TG_SR_BUSY);
		return;
	}
	if (err != SRP_CMD_OK) {
		tg_warn(SRP_LOG, "%s: tag %#llx: %s", ch->name, (unsigned long long)ctx->tag,
			srp_cmd_error_name(err));
		answer_error(ctx, TG_SR_INVALID_FIELD_IN_IU);
		return;
	}
	if (ctx->cmd.cdb_len > TG_CDB_MAX) {
		answer_error(ctx, TG_SR_INVALID_FIELD_IN_IU);
		return;
	}
	switch (ctx->cmd.fmt) {
	case SRP_FMT_DIRECT:
		ctx->remote = ctx->remote_inline;
		ctx->remote[0] = (struct tg_rdma_remote){ .addr = ctx->cmd.direct.va,
							  .rkey = ctx->cmd.direct.key,
							  .len = ctx->cmd.direct.len };
		ctx->nremote = 1;
		break;
	case SRP_FMT_INDIRECT:
		if (ctx->cmd.partial_table) {
			fetch_table(ctx);
			return;
		}
		if (!decode_remotes(ctx, ctx->cmd.descs, ctx->cmd.desc_count)) {
			answer_error(ctx, TG_SR_TASK_SET_FULL);
			return;
		}
		break;
	default:
		break;
	}
	start_task(ctx);
}

/* ---- SRP_TSK_MGMT ---- */

static uint8_t tmf_code(enum tg_tmf_result result)
{
	switch (result) {
	case TG_TMF_COMPLETE:
	case TG_TMF_SUCCEEDED:
	case TG_TMF_NO_TASK: /* SAM: aborting a task that is not there completes */
		return SRP_TMF_RSP_COMPLETE;
	default:
		return SRP_TMF_RSP_FAILED;
	}
}

static void tmf_ready(struct srp_ctx *ctx, uint8_t code)
{
	struct srp_loop *sl = ctx->ch->home;
	ctx->tmf_code = code;
	ctx->tmf_ready = true;
	ctx->next = NULL;
	if (sl->tmf_ready_tail)
		sl->tmf_ready_tail->next = ctx;
	else
		sl->tmf_ready_head = ctx;
	sl->tmf_ready_tail = ctx;
	srp_loop_kick(sl);
}

static void tmf_ready_on_own_loop(struct tg_task *task)
{
	tmf_ready(ctx_of(task), (uint8_t)task->handler_u64[0]);
}

/* The core's answer may come before the aborted tasks have handed their credits back (it
 * runs first when the last one returns): the SRP_RSP is built on the next kick. It runs where
 * the last aborted task returned, which with several I/O threads may be an iSCSI session's
 * loop (a LUN reset reaches every nexus of the device): the lists are the channel's loop's. */
static void tmf_done(void *priv, enum tg_tmf_result result)
{
	struct srp_ctx *ctx = priv;
	if (!tg_task_on_own_loop(&ctx->task)) {
		ctx->task.handler_u64[0] = tmf_code(result);
		tg_task_run_on_own_loop(&ctx->task, tmf_ready_on_own_loop);
		return;
	}
	tmf_ready(ctx, tmf_code(result));
}

void srp_send_ready_tmfs(struct srp_loop *sl)
{
	while (sl->tmf_ready_head) {
		struct srp_ctx *ctx = sl->tmf_ready_head;
		sl->tmf_ready_head = ctx->next;
		if (!sl->tmf_ready_head)
			sl->tmf_ready_tail = NULL;
		struct srp_channel *ch = ctx->ch;
		ctx->tmf_ready = false;
		ctx->data_done = ctx->rsp_done = true;
		if (ch->state != SRP_CH_LIVE || ch->logout_then_disconnect) {
			ctx_finish_silently(ctx);
			continue;
		}
		tg_info(SRP_LOG, "%s: task management function %#x: %s", ch->name,
			ctx->tmf_function, ctx->tmf_code == SRP_TMF_RSP_COMPLETE ? "complete"
					   : ctx->tmf_code == SRP_TMF_RSP_NOT_SUPPORTED
						   ? "not supported"
						   : "failed");
		ctx_return_request(ctx);
		size_t len = srp_tmf_rsp_build(ctx->send_buf, ch->ti_iu_len, ctx->tag,
					       srp_take_delta(ch), ctx->tmf_code);
		ctx->send_buf[1] = sol_not_for(ctx, ctx->tmf_code == SRP_TMF_RSP_COMPLETE);
		send_response(ctx, (uint32_t)len);
	}
}

static void handle_tmf(struct srp_ctx *ctx, const uint8_t *iu, uint32_t len)
{
	struct srp_channel *ch = ctx->ch;
	struct srp_tsk_mgmt tm;
	if (srp_tsk_mgmt_parse(iu, len, &tm) != 0) {
		srp_channel_logout(ch, SRP_LOGOUT_INVALID_IU_LENGTH, "short SRP_TSK_MGMT");
		ctx_finish_silently(ctx);
		return;
	}
	ctx->kind = SRP_CTX_TMF;
	/* Only what tmf_done needs to come back to this loop: the task itself never runs. */
	ctx->task.engine = ch->home->engine;
	ctx->tag = tm.tag;
	ctx->sol_not = tm.sol_not;
	ctx->tmf_function = tm.function;
	ch->stats.tmfs++;
	if (!ctx->credited) {
		tg_warn(SRP_LOG, "%s: task management beyond the request limit", ch->name);
		tmf_ready(ctx, SRP_TMF_RSP_FAILED);
		return;
	}
	struct tg_nexus *nexus = ch->sn->nexus;
	tg_info(SRP_LOG, "%s: task management function %#x on LUN %llu (task %#llx)", ch->name,
		tm.function, (unsigned long long)tm.lun, (unsigned long long)tm.task_tag);
	switch (tm.function) {
	case SRP_TSK_ABORT_TASK:
		tg_tmf_abort_task(nexus, tm.lun, tm.task_tag, tmf_done, ctx);
		break;
	case SRP_TSK_ABORT_TASK_SET:
		tg_tmf_abort_task_set(nexus, tm.lun, tmf_done, ctx);
		break;
	case SRP_TSK_CLEAR_TASK_SET:
		tg_tmf_clear_task_set(nexus, tm.lun, tmf_done, ctx);
		break;
	case SRP_TSK_LUN_RESET:
		tg_tmf_lun_reset(nexus, tm.lun, tmf_done, ctx);
		break;
	case SRP_TSK_CLEAR_ACA: /* NACA = 1 is refused, so there is never an ACA to clear */
	default:
		tmf_ready(ctx, SRP_TMF_RSP_NOT_SUPPORTED);
		break;
	}
}

/* ---- entry points from the channel ---- */

void srp_handle_request(struct srp_channel *ch, struct srp_ctx *ctx, struct srp_recv *recv)
{
	/* Reset what a previous request left (the task is reinitialised when submitted). */
	ctx->kind = SRP_CTX_ERROR;
	ctx->recv = recv;
	ctx->submitted = false;
	ctx->response_built = false;
	ctx->data_done = ctx->rsp_done = true;
	ctx->tmf_ready = false;
	ctx->remote = NULL;
	ctx->nremote = 0;
	memset(&ctx->cmd, 0, sizeof(ctx->cmd));
	ch->active_ctx++;
	ctx->credited = srp_credits_consume(&ch->credits);
	const uint8_t *iu = recv->rr.buf;
	if (iu[0] == SRP_TSK_MGMT)
		handle_tmf(ctx, iu, recv->len);
	else
		handle_cmd(ctx, iu, recv->len);
}

void srp_channel_abort_ctxs(struct srp_channel *ch)
{
	/* Every context in use has something outstanding that ends it: an RDMA operation (which
	 * now fails), a task in the core (whose response is dropped) or a task management
	 * function (whose answer is dropped). Nothing to do here but let them come back. */
	(void)ch;
}
