/* Prints targed's memory model — bytes per session, per outstanding command, per device — from the structures this build compiles (docs/performance.md, "Memory"; bench/soak.sh checks the daemon against it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/device.h"
#include "core/mem.h"
#include "core/nexus.h"
#include "core/reservation.h"
#include "core/task.h"
#include "transports/iscsi/iscsi.h"

/*
 * Sizes private to their .c files, restated here. If one changes, change it here too; the
 * soak test notices a model that no longer covers the daemon (its bound is then exceeded).
 */
#define RX_STASH_BYTES (64u * 1024)    /* RX_STASH_SIZE, transports/iscsi/conn.c */
#define IOREQ_BYTES 168u               /* struct ioreq, core/ioengine.c */
#define IOREQ_CACHE 256u               /* REQ_CACHE_MAX, core/ioengine.c */
#define SEEN_PORTS 1024u               /* SEEN_PORTS_MAX, core/nexus.c */
#define SEEN_PORT_BYTES (8u + sizeof(((struct tg_nexus *)0)->initiator_port))
#define PR_REGISTRATIONS_MAX 1024u     /* PR_MAX_REGISTRATIONS, core/reservation.c */
#define DEVICE_SHARED_BYTES (2u * TG_PR_NAME_MAX + 64u) /* struct tg_device_shared */
/* glibc's malloc header per block, rounded to its 16-byte granule. */
#define MALLOC_OVERHEAD 16u
/* posix_memalign(4096, n) may leave up to one page of the heap unusable beside the block. */
#define ALIGN_SLACK TG_BUF_ALIGN
/* libev's per-descriptor table entry plus epoll's event slot. */
#define FD_BYTES 32u

struct model {
	size_t session;     /* one logged-in session with its connection, one LUN mapped */
	size_t per_lun;     /* added per further LUN in the session's view */
	size_t cmd_fixed;   /* per outstanding command, besides its data buffer */
	size_t pdu;         /* each transmit PDU queued (and, after, kept on the free list) */
	size_t buf_cache;   /* data buffers a thread keeps while idle */
	size_t global;      /* fixed caches: I/O requests, ports seen */
	size_t device;      /* one device without reservations */
	size_t registration;
};

static struct model compute(void)
{
	struct model m;
	m.session = sizeof(struct iscsi_session) + sizeof(struct iscsi_conn) +
		    (ISCSI_CTRL_DSL_MAX + 8) + RX_STASH_BYTES + sizeof(struct tg_nexus) +
		    sizeof(struct tg_ua_queue) + 6 * MALLOC_OVERHEAD + FD_BYTES;
	m.per_lun = sizeof(struct tg_ua_queue);
	/* The iscsi_cmd (with its tg_task) sits in the session's pool; what a command adds is
	 * the backend request while it is in the backend and the alignment slack of its buffer. */
	m.cmd_fixed = IOREQ_BYTES + MALLOC_OVERHEAD + ALIGN_SLACK;
	m.pdu = sizeof(struct iscsi_tx_pdu) + MALLOC_OVERHEAD;
	m.buf_cache = TG_BUF_CACHE_MAX_BYTES;
	m.global = IOREQ_CACHE * (IOREQ_BYTES + MALLOC_OVERHEAD) + SEEN_PORTS * SEEN_PORT_BYTES;
	m.device = sizeof(struct tg_device) + DEVICE_SHARED_BYTES + 4 * MALLOC_OVERHEAD + 64;
	m.registration = sizeof(struct tg_pr_record);
	return m;
}

/* The data buffer of a len-byte command: its power-of-two size class, at least 4 KiB. */
static size_t buffer_bytes(size_t len)
{
	size_t size = 4096;
	while (size < len && size < ((size_t)16 << 20))
		size <<= 1;
	return size < len ? (len + 4095) & ~(size_t)4095 : size;
}

static void print_table(const struct model *m)
{
	printf("targed memory model (bytes), from this build's structures\n\n");
	printf("per session (one connection, one LUN):\n");
	printf("  %-58s %8zu\n", "struct iscsi_session (command pool inline)",
	       sizeof(struct iscsi_session));
	printf("  %-58s %8zu x %u\n", "  of which struct iscsi_cmd (with struct tg_task)",
	       sizeof(struct iscsi_cmd), ISCSI_SESSION_CMDS);
	printf("  %-58s %8zu\n", "struct iscsi_conn", sizeof(struct iscsi_conn));
	printf("  %-58s %8u\n", "rx_ctrl: non-SCSI data segments (ISCSI_CTRL_DSL_MAX + 8)",
	       ISCSI_CTRL_DSL_MAX + 8);
	printf("  %-58s %8u\n", "rx_stash: read-ahead of small PDUs", RX_STASH_BYTES);
	printf("  %-58s %8zu\n", "struct tg_nexus", sizeof(struct tg_nexus));
	printf("  %-58s %8zu\n", "UA queue per mapped LUN (struct tg_ua_queue)",
	       sizeof(struct tg_ua_queue));
	printf("  %-58s %8u\n", "malloc headers (6 blocks), libev/epoll entry",
	       6 * MALLOC_OVERHEAD + FD_BYTES);
	printf("  %-58s %8zu  (%.1f KiB)\n", "total", m->session, m->session / 1024.0);
	printf("\nper outstanding command of L bytes:\n");
	printf("  %-58s %8s\n", "data buffer: size class 2^k >= max(L, 4 KiB) (<= 16 MiB)", "class(L)");
	printf("  %-58s %8zu\n", "alignment slack + backend request (struct ioreq) + header",
	       m->cmd_fixed);
	printf("  %-58s %8zu\n", "each transmit PDU queued (struct iscsi_tx_pdu + header)", m->pdu);
	printf("    (reads: ceil(L / MaxRecvDataSegmentLength) PDUs; writes: 1 + R2Ts)\n");
	printf("  e.g. 4 KiB: %zu, 64 KiB: %zu, 1 MiB: %zu (read, 256 KiB segments)\n",
	       buffer_bytes(4096) + m->cmd_fixed + m->pdu,
	       buffer_bytes(65536) + m->cmd_fixed + m->pdu,
	       buffer_bytes(1 << 20) + m->cmd_fixed + 4 * m->pdu);
	printf("\nper thread, idle:\n");
	printf("  %-58s %8zu  (%zu MiB)\n", "data-buffer free lists (TG_BUF_CACHE_MAX_BYTES)",
	       m->buf_cache, m->buf_cache >> 20);
	printf("  %-58s %8u\n", "  and at most this many buffers per size class",
	       TG_BUF_CACHE_PER_CLASS);
	printf("\nper daemon, fixed:\n");
	printf("  %-58s %8zu\n", "I/O request cache + initiator ports seen (core/nexus.c)", m->global);
	printf("  %-58s %8zu\n", "freed session memory kept before a trim (TG_MEM_TRIM_BYTES)",
	       TG_MEM_TRIM_BYTES);
	printf("\nper device (file backend, no reservations):\n");
	printf("  %-58s %8zu\n", "struct tg_device + shared state + backend", m->device);
	printf("  %-58s %8zu x <= %u\n", "each persistent-reservation registration",
	       m->registration, PR_REGISTRATIONS_MAX);
}

int main(int argc, char **argv)
{
	struct model m = compute();
	if (argc == 2 && strcmp(argv[1], "--shell") == 0) {
		/* For scripts: FP_* variables, bytes. */
		printf("FP_SESSION=%zu\nFP_PER_LUN=%zu\nFP_CMD_FIXED=%zu\nFP_PDU=%zu\n"
		       "FP_BUF_CACHE=%zu\nFP_BUF_CACHE_PER_CLASS=%u\nFP_GLOBAL=%zu\nFP_TRIM_BATCH=%zu\n"
		       "FP_DEVICE=%zu\nFP_REGISTRATION=%zu\n",
		       m.session, m.per_lun, m.cmd_fixed, m.pdu, m.buf_cache, TG_BUF_CACHE_PER_CLASS,
		       m.global, TG_MEM_TRIM_BYTES, m.device, m.registration);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--buffer") == 0) {
		printf("%zu\n", buffer_bytes(strtoull(argv[2], NULL, 0)));
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: footprint [--shell | --buffer LEN]\n");
		return 2;
	}
	print_table(&m);
	return 0;
}
