/* Set-up shared by the fuzz targets that run a whole iSCSI server: a scratch directory with a config, a fresh runtime per input, and the checks on what an input leaves behind. */
#ifndef TG_FUZZ_ISCSI_HARNESS_H
#define TG_FUZZ_ISCSI_HARNESS_H

#include <dirent.h>
#include <ev.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/ioengine.h"
#include "core/runtime.h"
#include "harness.h"
#include "transports/iscsi/iscsi.h"

static char fuzz_scratch_dir[256];

static inline void fuzz_remove_scratch(void)
{
	DIR *dir = opendir(fuzz_scratch_dir);
	if (dir) {
		for (struct dirent *e; (e = readdir(dir));) {
			char path[600];
			snprintf(path, sizeof(path), "%s/%s", fuzz_scratch_dir, e->d_name);
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlink(path);
		}
		closedir(dir);
	}
	rmdir(fuzz_scratch_dir);
}

/*
 * Loads the config config_template describes, each %1$s in it standing for a scratch directory
 * made for the run and removed at exit. Under tmpfs when there is one: SYNCHRONIZE CACHE and FUA
 * writes then cost nothing.
 */
static inline struct tg_config *fuzz_scratch_config(const char *config_template)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(fuzz_scratch_dir, sizeof(fuzz_scratch_dir), "%s/targe-%s.XXXXXX",
		 base ? base : "/tmp", program_invocation_short_name);
	if (!mkdtemp(fuzz_scratch_dir))
		fatal("cannot create a scratch directory");
	atexit(fuzz_remove_scratch);
	char path[512];
	snprintf(path, sizeof(path), "%s/targe.conf", fuzz_scratch_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		fatal("cannot write the config");
	fprintf(f, config_template, fuzz_scratch_dir);
	fclose(f);
	struct tg_config *config;
	char err[1024];
	if (tg_config_load(path, &config, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		fatal("config refused");
	}
	return config;
}

/*
 * A server on loop with a fresh runtime of config and its own I/O engine: device state
 * (reservations, UAs) does not leak between inputs, and whatever an input leaves allocated
 * there shows up as a leak. No portals; default limits.
 */
static inline void fuzz_server_start(struct iscsi_server *server, struct ev_loop *loop,
				     const struct tg_config *config)
{
	memset(server, 0, sizeof(*server));
	char err[1024];
	if (tg_runtime_build(config, &server->runtime, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		fatal("runtime refused");
	}
	server->engine = tg_ioengine_create(loop);
	if (!server->engine)
		fatal("no I/O engine");
	server->loop = loop;
	server->next_tsih = 1;
	iscsi_target_limits_default(&server->limits);
}

/* With every connection gone and every command back, nothing may be left: a session still
 * draining here would never be freed. */
static inline void fuzz_check_no_session_left(const struct iscsi_server *server)
{
	CHECK(server->conns == NULL && server->sessions == NULL && server->draining == NULL,
	      "a session outlived its connection");
}

/* A command of s in the core or the backend: not waiting for data from us, not answered yet. */
static inline const struct iscsi_cmd *fuzz_busy_cmd(const struct iscsi_session *s)
{
	for (int i = 0; i < ISCSI_SESSION_CMDS; i++) {
		const struct iscsi_cmd *cmd = &s->cmds[i];
		if (cmd->in_use && cmd->submitted && !cmd->write_pending && !cmd->response_queued)
			return cmd;
	}
	return NULL;
}

static inline void fuzz_wake_up(struct ev_loop *loop, ev_timer *w, int revents) {}

/* Sleeps until something (an I/O completion, say) wakes the loop, or 10 ms. */
static inline void fuzz_wait(struct ev_loop *loop)
{
	ev_timer timeout;
	ev_timer_init(&timeout, fuzz_wake_up, 0.01, 0.);
	ev_timer_start(loop, &timeout);
	ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &timeout);
}

/* The opcodes a target sends over a TCP connection. */
static inline bool fuzz_target_opcode(uint8_t op)
{
	switch (op) {
	case ISCSI_OP_NOP_IN:
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_LOGIN_RSP:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_DATA_IN:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_R2T:
	case ISCSI_OP_ASYNC_MSG:
	case ISCSI_OP_REJECT:
		return true;
	default:
		return false;
	}
}

#endif
