/* targed: the daemon's entry point — config, devices, transports, event loop, signals. */
#include <ev.h>
#include <getopt.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/control.h"
#include "core/ioengine.h"
#include "core/iothreads.h"
#include "core/log.h"
#include "core/runtime.h"
#include "transports/iscsi/iscsi.h"
#include "transports/iser/iser.h"
#include "transports/rdma/rdma.h"
#include "transports/srp/srp.h"

struct daemon {
	struct ev_loop *loop;
	struct iscsi_server iscsi;
	struct srp_server *srp; /* NULL when no SRP portal is configured or no RDMA device exists */
	struct tg_control *control; /* targectl's socket, global.control_socket */
	struct ev_signal sigint, sigterm, sighup;
	bool stopping;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: targed -c FILE [--check]\n"
		     "  -c, --config FILE  configuration file (libconfig syntax)\n"
		     "      --check        validate the configuration and exit (0 valid, 1 invalid)\n"
		     "  -h, --help         this text\n");
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	if (d->stopping)
		return;
	d->stopping = true;
	tg_info("targed", "signal %d: stopping", w->signum);
	/* Closing the connections aborts what is in flight; commands already in the backend
	 * finish there before their sessions are freed, so the loop runs until they have. The
	 * I/O threads close theirs and end first (they read the portals freed below). */
	iscsi_workers_stop(&d->iscsi);
	iser_server_stop(&d->iscsi);
	iscsi_server_stop(&d->iscsi);
	srp_server_stop(d->srp);
	tg_control_stop(d->control);
	d->control = NULL;
	ev_signal_stop(loop, &d->sigint);
	ev_signal_stop(loop, &d->sigterm);
	ev_signal_stop(loop, &d->sighup);
	ev_break(loop, EVBREAK_ALL);
}

/* Every session holds a socket: the default soft limit of 1024 descriptors would cap the
 * daemon near a thousand sessions, so take whatever the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
			tg_warn("targed", "cannot raise the open-file limit: %s", strerror(errno));
	}
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	tg_warn("targed", "SIGHUP: live reload is not implemented yet; configuration unchanged");
}

/* global.buffer_memory, or a quarter of the machine's memory: what commands' data buffers may
 * hold at once before new commands are answered TASK SET FULL. */
static void set_buffer_budget(const struct tg_config *config)
{
	uint64_t bytes = config->buffer_memory;
	if (!bytes) {
		long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
		bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 4 : (uint64_t)1 << 30;
		if (bytes < ((uint64_t)64 << 20))
			bytes = (uint64_t)64 << 20;
	}
	tg_buf_set_budget((size_t)bytes);
	tg_info("targed", "data buffers: at most %llu MiB in flight%s", (unsigned long long)(bytes >> 20),
		config->buffer_memory ? "" : " (a quarter of RAM; global.buffer_memory)");
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	bool check_only = false;
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config_path || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct tg_config *config = NULL;
	char err[1024];
	if (tg_config_load(config_path, &config, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration is valid\n", config_path);
		tg_config_free(config);
		return 0;
	}
	tg_log_set_level(config->log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	set_buffer_budget(config);

	/* With one loop this thread is the I/O thread, so io_thread_cpus[0] is its place (its
	 * helper threads start after and inherit it). */
	if (config->io_threads <= 1 && config->io_thread_cpu_count) {
		int rc = tg_pin_current_thread(config->io_thread_cpus[0]);
		if (rc) {
			fprintf(stderr, "%s: global.io_thread_cpus: cannot run on CPU %u: %s\n",
				config_path, config->io_thread_cpus[0], strerror(rc));
			tg_config_free(config);
			return 1;
		}
	}

	struct tg_runtime *runtime = NULL;
	if (tg_runtime_build(config, &runtime, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		tg_config_free(config);
		return 1;
	}

	struct daemon d = { .loop = ev_default_loop(EVFLAG_AUTO) };
	struct tg_ioengine *engine = tg_ioengine_create(d.loop);
	if (!engine) {
		fprintf(stderr, "targed: cannot create the I/O engine\n");
		return 1;
	}
	/* Before any portal opens: a stop requested while the daemon is still starting (a client
	 * can connect as soon as the first portal listens) is taken by the loop once it runs,
	 * and ends in the usual orderly stop instead of the default action of the signal. */
	ev_signal_init(&d.sigint, stop_cb, SIGINT);
	ev_signal_init(&d.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&d.sighup, hup_cb, SIGHUP);
	d.sigint.data = d.sigterm.data = d.sighup.data = &d;
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sighup);
	/* First, so that a second daemon on the same config stops here, before any portal. */
	if (tg_control_start(d.loop, runtime, config->control_socket, &d.control, err,
			     sizeof(err)) != 0) {
		/* A socket the file asks for must work; the default one is a convenience that a
		 * daemon started elsewhere (no var/ there, another daemon in it) does without. */
		if (config->control_socket_set) {
			fprintf(stderr, "%s: %s\n", config_path, err);
			return 1;
		}
		tg_warn("targed", "no control socket (targectl will not reach this daemon): %s", err);
	}
	if (iscsi_server_start(&d.iscsi, d.loop, engine, runtime, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", config_path, err);
		return 1;
	}
	if (config->iser_listen.count) {
		/* Without an RDMA device the iSER portals wait for a restart; iSCSI/TCP serves. */
		if (tg_rdma_device_count() == 0)
			tg_info("targed", "no RDMA device: the %zu iSER portal(s) are not started",
				config->iser_listen.count);
		else if (iser_server_start(&d.iscsi, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", config_path, err);
			return 1;
		}
	}
	if (config->srp_listen.count) {
		/* A machine without RDMA (a developer's laptop, CI) still serves iSCSI/TCP. */
		if (tg_rdma_device_count() == 0)
			tg_info("targed", "no RDMA device: the %zu SRP portal(s) are not started",
				config->srp_listen.count);
		else if (srp_server_start(d.loop, engine, runtime, &d.srp, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", config_path, err);
			return 1;
		}
	}
	/* One loop serves everything unless more are asked for: then the TCP connections go to
	 * that many I/O threads, and this loop keeps the portals, signals, iSER and SRP. */
	if (config->io_threads > 1 &&
	    iscsi_workers_start(&d.iscsi, config->io_threads, err, sizeof(err)) != 0) {
		fprintf(stderr, "targed: %s\n", err);
		return 1;
	}
	if (config->io_thread_cpu_count) {
		char cpus[256] = "";
		for (unsigned i = 0, used = 0; i < config->io_thread_cpu_count && used < sizeof(cpus); i++)
			used += (unsigned)snprintf(cpus + used, sizeof(cpus) - used, "%s%u", i ? ", " : "",
						   config->io_thread_cpus[i]);
		tg_info("targed", "I/O loops pinned to CPUs %s (in thread order)", cpus);
	}
	tg_info("targed", "ready: %zu device(s), %zu target(s), I/O engine %s, %u I/O thread(s)",
		runtime->device_count, runtime->target_count,
		tg_ioengine_uses_uring(engine) ? "io_uring" : "worker threads",
		config->io_threads > 1 ? config->io_threads : 1);

	ev_run(d.loop, 0);

	/* Let commands still in the backend come back (their sessions free themselves), on
	 * every loop's engine. */
	iscsi_workers_destroy(&d.iscsi, engine);
	tg_ioengine_destroy(engine);
	iser_server_destroy(&d.iscsi);
	srp_server_destroy(d.srp);
	/* What the data path copied between wire and backend since start (0 is the zero-copy
	 * promise of the RDMA transports without immediate data). */
	tg_info("targed", "data path copies: %llu bytes",
		(unsigned long long)tg_stats_copied_bytes());
	tg_runtime_destroy(runtime);
	tg_config_free(config);
	tg_info("targed", "stopped");
	return 0;
}
