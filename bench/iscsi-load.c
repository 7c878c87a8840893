/* Load generator for benchmarking iSCSI targets: libiscsi async sessions at a fixed queue depth, spread over one or more client threads, reporting IOPS, bandwidth, latency percentiles and the target daemon's CPU time. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define DEFAULT_INITIATOR "iqn.2026-11.org.targe:iscsi-load"
#define NSEC_PER_SEC 1000000000ull
#define CONNECT_TIMEOUT_NS (15 * NSEC_PER_SEC)
/* Added to the connect timeout per session: logins are paced (LOGINS_IN_FLIGHT at a time). */
#define CONNECT_NS_PER_SESSION (20 * 1000000ull)
/* Logins under way at once, so a thousand sessions do not overflow the target's listen
 * backlog and wait out SYN retransmits. */
#define LOGINS_IN_FLIGHT 32
#define DRAIN_TIMEOUT_NS (30 * NSEC_PER_SEC)
#define SWEEP_TIMEOUT_NS (120 * NSEC_PER_SEC)
/* randrw --verify: generation of a block whose last write failed or is still in flight. */
#define GEN_UNKNOWN UINT32_MAX
#define VERIFY_MAGIC 0x7461726765766572ull /* "targever" */
#define MAX_REPORTED_MISMATCHES 5

/* Latency histogram: 32 linear sub-buckets per power of two keep every bucket within ~3% of
 * its values while covering nanoseconds to hours in a fixed 2048-entry array. */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB + HIST_SUB)

/* RANDRW: each slot writes a random range of its own and reads it back, so with --verify every
 * write carries a fresh generation and a lost or stale write cannot pass for a good one. */
enum workload { RANDREAD, RANDWRITE, SEQREAD, SEQWRITE, RANDRW };

static const char *const workload_names[] = {
	[RANDREAD] = "randread",
	[RANDWRITE] = "randwrite",
	[SEQREAD] = "read",
	[SEQWRITE] = "write",
	[RANDRW] = "randrw",
};

struct options {
	const char *url;
	const char *initiator;
	enum workload rw;
	uint32_t bs;
	unsigned qd;
	unsigned sessions;
	unsigned threads;     /* client threads the sessions are split over */
	double duration_s;
	double ramp_s;
	uint64_t size_limit; /* bytes of the LUN used, from LBA 0; 0 = all */
	long pid;            /* daemon whose CPU time is sampled; 0 = none */
	bool json;
	bool verify;
	bool once;
	bool header_digest;
	uint64_t seed;
	const char *label;
	double hold_before_s; /* logged in and idle before the I/O starts */
	double hold_after_s;  /* logged in and idle after it, before logging out */
	bool phases;          /* announce each phase on stderr, for scripts sampling the target */
};

struct histogram {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t buckets[HIST_BUCKETS];
};

struct session;
struct worker;

/* One outstanding-I/O slot: its buffer is reused for every command the slot issues. */
struct slot {
	struct session *session;
	unsigned char *buf;
	uint64_t unit;        /* I/O-sized position of the current command */
	uint64_t lba;
	uint64_t issued_ns;
	bool busy;
	bool writing;         /* the current command is a write */
	/* randrw: the slot owns units own_first, own_first + stride, ... (stride = all slots),
	 * so no other slot touches its blocks and a read-back sees exactly its last write. */
	uint64_t own_first;
	bool readback_due;    /* randrw: the write just completed; read it back next */
	uint32_t gen;         /* generation the current write stamps */
	uint64_t sweep_next;  /* final check: index of the next owned unit to read */
};

struct session {
	unsigned index;
	struct worker *worker; /* the one thread that uses this libiscsi context during the I/O */
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	int lun;
	bool connected;
	bool dead;
	struct slot *slots;
	unsigned inflight;
	uint64_t rng;
	/* Sequential workloads walk their own slice of the LUN so sessions do not overlap. */
	uint64_t slice_first; /* in I/O units (bs) */
	uint64_t slice_units;
	uint64_t next_unit;   /* offset within the slice */
	uint64_t issued_units;
};

/* Sessions served by one poll loop: all of them while logging in, idling and logging out (the
 * main thread), one thread's contiguous share of them during the I/O. */
struct session_group {
	struct session *sessions;
	struct pollfd *pfds;
	unsigned count;
};

/* What a run counts; each client thread keeps its own, summed when the threads are done. */
struct tally {
	uint64_t ios;
	uint64_t errors;
	uint64_t verify_mismatches;
	uint64_t verified_reads; /* reads whose data was checked */
	uint64_t sweep_reads;
	struct histogram hist;
};

/* One client thread: libiscsi contexts are not thread-safe, so its sessions are its alone. */
struct worker {
	struct run *run;
	struct session_group group;
	pthread_t thread;
	bool started;
	bool start_failed;       /* a command of the first batch could not be queued */
	bool stop_issuing;
	bool sweeping;           /* final check: every written unit is read back once more */
	uint32_t next_gen;       /* randrw --verify; its units are its own, so a count per thread
				  * still gives each write to a unit a generation of its own */
	uint64_t io_end_ns;      /* when its I/O loop ended (before the final check) */
	struct tally tally;
};

struct run {
	struct options opt;
	struct session *sessions;
	struct pollfd *pfds;
	struct session_group all;
	struct worker *workers;
	uint32_t block_size;
	uint64_t lun_blocks;
	uint64_t units;          /* I/O-sized positions in the used range */
	uint32_t blocks_per_io;
	/* Completions inside [window_start_ns, window_end_ns) are measured, whichever thread saw
	 * them and whenever its loop noticed the time (timed runs; --once measures everything). */
	uint64_t window_start_ns;
	uint64_t window_end_ns;
	uint64_t measure_start_ns;
	uint64_t measure_end_ns;
	struct tally total;
	uint64_t total_slots;    /* sessions x qd */
	uint32_t *unit_gen;      /* randrw --verify: last generation written to each unit; a unit
				  * belongs to one slot, so only one thread ever touches its entry */
	uint64_t logout_failures;
	/* Shared by the threads, through atomics: */
	uint64_t errors_reported;
	uint64_t mismatches_reported;
	bool abort_io;           /* a thread failed to start: every thread stops issuing */
	/* The main thread waits on this for the threads' I/O loops to end. */
	pthread_mutex_t lock;
	pthread_cond_t io_ended;
	unsigned workers_in_io;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* Uniform in [0, n) without a division on the hot path (Lemire's multiply-shift). */
static uint64_t random_below(uint64_t *state, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)xorshift64(state) * n) >> 64);
}

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The middle of a bucket's value range, the best single estimate of what fell into it. */
static double hist_value(unsigned idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned msb = idx / HIST_SUB + HIST_SUB_BITS - 1;
	unsigned sub = idx % HIST_SUB;
	double width = ldexp(1.0, (int)(msb - HIST_SUB_BITS));
	return (HIST_SUB + sub) * width + width / 2;
}

static void hist_add(struct histogram *h, uint64_t v)
{
	h->count++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
	h->buckets[hist_index(v)]++;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

static double hist_percentile(const struct histogram *h, double pct)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			double v = hist_value(i);
			return v > (double)h->max_ns ? (double)h->max_ns : v;
		}
	}
	return (double)h->max_ns;
}

/* utime+stime of the whole process (all threads), in seconds; negative when unreadable. */
static double process_cpu_seconds(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses; fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long utime, stime;
	/* After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15). */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static bool is_read(enum workload w)
{
	return w == RANDREAD || w == SEQREAD;
}

static bool is_random(enum workload w)
{
	return w == RANDREAD || w == RANDWRITE || w == RANDRW;
}

static void announce_phase(const struct run *run, const char *phase)
{
	if (run->opt.phases)
		fprintf(stderr, "iscsi-load: phase %s\n", phase);
}

/* The --verify seed of a generation: generation 0 is the plain seed, so blocks stamped by the
 * other workloads check the same way as before. */
static uint64_t stamp_seed(uint64_t seed, uint32_t gen)
{
	return seed ^ ((uint64_t)gen * 0x9e3779b97f4a7c15ull);
}

static uint64_t slot_owned_units(const struct run *run, const struct slot *slot)
{
	if (run->units <= slot->own_first)
		return 0;
	return (run->units - slot->own_first - 1) / run->total_slots + 1;
}

/* Final check: the slot's next unit with a known last write; false when it has none left. */
static bool next_sweep_unit(struct run *run, struct slot *slot)
{
	uint64_t owned = slot_owned_units(run, slot);
	while (slot->sweep_next < owned) {
		uint64_t unit = slot->own_first + slot->sweep_next++ * run->total_slots;
		uint32_t gen = run->unit_gen[unit];
		if (gen != 0 && gen != GEN_UNKNOWN) {
			slot->unit = unit;
			return true;
		}
	}
	return false;
}

/* --verify content of one logical block: a function of (seed, LBA) only, so any later read of
 * a block that was written under the same seed can be checked, whatever wrote it and when. */
static void pattern_fill(unsigned char *block, uint32_t block_size, uint64_t seed, uint64_t lba)
{
	uint64_t words[2] = { VERIFY_MAGIC ^ seed, lba };
	uint64_t state = (lba + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	if (state == 0)
		state = 1;
	memcpy(block, words, sizeof(words));
	for (uint32_t off = sizeof(words); off + 8 <= block_size; off += 8) {
		uint64_t w = xorshift64(&state);
		memcpy(block + off, &w, 8);
	}
}

static void check_read_data(struct worker *w, struct slot *slot, uint64_t seed)
{
	struct run *run = w->run;
	uint32_t bsz = run->block_size;
	unsigned char *expect = malloc(bsz);
	if (!expect) {
		w->tally.verify_mismatches++;
		return;
	}
	for (uint32_t i = 0; i < run->blocks_per_io; i++) {
		uint64_t lba = slot->lba + i;
		pattern_fill(expect, bsz, seed, lba);
		const unsigned char *got = slot->buf + (size_t)i * bsz;
		if (memcmp(got, expect, bsz) == 0)
			continue;
		w->tally.verify_mismatches++;
		if (__atomic_fetch_add(&run->mismatches_reported, 1, __ATOMIC_RELAXED) <
		    MAX_REPORTED_MISMATCHES) {
			uint32_t off = 0;
			while (off < bsz && got[off] == expect[off])
				off++;
			uint64_t stamp[2];
			memcpy(stamp, got, sizeof(stamp));
			fprintf(stderr,
				"iscsi-load: verify: LBA %" PRIu64 " differs at byte %u (block stamped "
				"LBA %" PRIu64 ", seed %s)\n",
				lba, off, stamp[1],
				(stamp[0] ^ VERIFY_MAGIC) == seed ? "matches" : "differs");
		}
	}
	free(expect);
}

static void command_done(struct iscsi_context *iscsi, int status, void *command_data,
			 void *private_data);

static int submit(struct worker *w, struct slot *slot)
{
	struct run *run = w->run;
	struct session *s = slot->session;
	const struct options *o = &run->opt;
	bool write;

	if (w->sweeping) {
		if (!next_sweep_unit(run, slot))
			return 0; /* nothing of this slot's left to check: it stays idle */
		write = false;
	} else if (o->rw == RANDRW) {
		write = !slot->readback_due;
		slot->readback_due = false;
		if (write)
			slot->unit = slot->own_first +
				     random_below(&s->rng, slot_owned_units(run, slot)) * run->total_slots;
	} else if (is_random(o->rw)) {
		slot->unit = random_below(&s->rng, run->units);
		write = !is_read(o->rw);
	} else {
		slot->unit = s->slice_first + s->next_unit;
		if (++s->next_unit == s->slice_units)
			s->next_unit = 0;
		write = !is_read(o->rw);
	}
	if (!w->sweeping)
		s->issued_units++;
	slot->writing = write;
	slot->lba = slot->unit * run->blocks_per_io;

	struct scsi_task *task;
	if (!write) {
		task = iscsi_read16_task(s->iscsi, s->lun, slot->lba, o->bs, (int)run->block_size, 0, 0,
					 0, 0, 0, command_done, slot);
		/* Into the slot's buffer directly: libiscsi would otherwise allocate and copy. */
		if (task && scsi_task_add_data_in_buffer(task, (int)o->bs, slot->buf) != 0) {
			fprintf(stderr, "iscsi-load: cannot attach read buffer\n");
			return -1;
		}
	} else {
		if (o->verify) {
			uint64_t seed = o->seed;
			if (run->unit_gen) {
				/* Unique per write; 0 and GEN_UNKNOWN never name one. */
				if (++w->next_gen == GEN_UNKNOWN)
					w->next_gen = 1;
				slot->gen = w->next_gen;
				run->unit_gen[slot->unit] = GEN_UNKNOWN;
				seed = stamp_seed(seed, slot->gen);
			}
			for (uint32_t i = 0; i < run->blocks_per_io; i++)
				pattern_fill(slot->buf + (size_t)i * run->block_size, run->block_size,
					     seed, slot->lba + i);
		}
		task = iscsi_write16_task(s->iscsi, s->lun, slot->lba, slot->buf, o->bs,
					  (int)run->block_size, 0, 0, 0, 0, 0, command_done, slot);
	}
	if (!task) {
		fprintf(stderr, "iscsi-load: session %u: cannot queue command: %s\n", s->index,
			iscsi_get_error(s->iscsi));
		return -1;
	}
	slot->issued_ns = now_ns();
	slot->busy = true;
	s->inflight++;
	return 0;
}

static bool may_issue(const struct worker *w, const struct session *s)
{
	if (w->stop_issuing || s->dead)
		return false;
	/* --once: a sequential sweep issues each position of its slice exactly one time. */
	if (w->run->opt.once && s->issued_units >= s->slice_units)
		return false;
	return true;
}

static void command_done(struct iscsi_context *iscsi, int status, void *command_data,
			 void *private_data)
{
	struct slot *slot = private_data;
	struct session *s = slot->session;
	struct worker *w = s->worker;
	struct run *run = w->run;
	struct scsi_task *task = command_data;
	uint64_t done = now_ns();

	slot->busy = false;
	s->inflight--;
	if (status != SCSI_STATUS_GOOD) {
		w->tally.errors++;
		if (__atomic_add_fetch(&run->errors_reported, 1, __ATOMIC_RELAXED) <= 5) {
			if (status == SCSI_STATUS_CHECK_CONDITION && task)
				fprintf(stderr, "iscsi-load: LBA %" PRIu64 ": CHECK CONDITION %s/%s\n",
					slot->lba, scsi_sense_key_str(task->sense.key),
					scsi_sense_ascq_str(task->sense.ascq));
			else
				fprintf(stderr, "iscsi-load: LBA %" PRIu64 ": status 0x%x: %s\n", slot->lba,
					(unsigned)status, iscsi_get_error(iscsi));
		}
		/* Transport failures (cancelled, connection lost) leave the session unusable. */
		if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED)
			s->dead = true;
	} else {
		if (run->opt.verify && !slot->writing) {
			uint64_t seed = run->opt.seed;
			bool known = true;
			if (run->unit_gen) {
				uint32_t gen = run->unit_gen[slot->unit];
				known = gen != 0 && gen != GEN_UNKNOWN;
				seed = stamp_seed(seed, gen);
			}
			if (known) {
				check_read_data(w, slot, seed);
				w->tally.verified_reads++;
			}
		}
		if (slot->writing && run->unit_gen)
			run->unit_gen[slot->unit] = slot->gen;
		if (slot->writing && run->opt.rw == RANDRW)
			slot->readback_due = true;
		if (w->sweeping) {
			w->tally.sweep_reads++;
		} else if (run->opt.once ||
			   (done >= run->window_start_ns && done < run->window_end_ns)) {
			w->tally.ios++;
			hist_add(&w->tally.hist, done - slot->issued_ns);
		}
	}
	if (task)
		scsi_free_scsi_task(task);
	if (may_issue(w, s) && submit(w, slot) != 0)
		s->dead = true;
}

static void connect_done(struct iscsi_context *iscsi, int status, void *command_data,
			 void *private_data)
{
	struct session *s = private_data;

	if (status == SCSI_STATUS_GOOD && !s->connected) {
		s->connected = true;
		return;
	}
	/* Called again (SCSI_STATUS_ERROR) when an established connection later fails. */
	if (!s->dead)
		fprintf(stderr, "iscsi-load: session %u: %s: %s\n", s->index,
			s->connected ? "connection failed" : "login failed", iscsi_get_error(iscsi));
	s->dead = true;
}

/* One poll over the group's sessions; returns -1 on a poll error. */
static int service_once(struct session_group *g, int timeout_ms)
{
	unsigned n = g->count;

	for (unsigned i = 0; i < n; i++) {
		struct session *s = &g->sessions[i];
		g->pfds[i].fd = s->dead ? -1 : iscsi_get_fd(s->iscsi);
		g->pfds[i].events = s->dead ? 0 : (short)iscsi_which_events(s->iscsi);
		g->pfds[i].revents = 0;
	}
	int ready = poll(g->pfds, n, timeout_ms);
	if (ready < 0) {
		if (errno == EINTR)
			return 0;
		perror("iscsi-load: poll");
		return -1;
	}
	for (unsigned i = 0; i < n && ready > 0; i++) {
		struct session *s = &g->sessions[i];
		if (s->dead || g->pfds[i].revents == 0)
			continue;
		ready--;
		if (iscsi_service(s->iscsi, g->pfds[i].revents) < 0) {
			if (!s->dead)
				fprintf(stderr, "iscsi-load: session %u: %s\n", s->index,
					iscsi_get_error(s->iscsi));
			s->dead = true;
		}
	}
	return 0;
}

static int ms_until(uint64_t deadline)
{
	uint64_t now = now_ns();
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + 999999) / 1000000;
	return ms > 1000 ? 1000 : (int)ms;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iscsi-load --url iscsi://HOST[:PORT]/TARGET/LUN [options]\n"
		"  --rw randread|randwrite|read|write|randrw   workload (default randread); randrw\n"
		"                     writes a random range and reads it back (--verify: each write\n"
		"                     stamped with a new generation, and a final pass rereads them all)\n"
		"  --bs SIZE          bytes per command, a multiple of the block size (default 4K)\n"
		"  --qd N             commands outstanding per session (default 32)\n"
		"  --sessions N       iSCSI sessions, each its own libiscsi context (default 1)\n"
		"  --threads N        client threads the sessions are split over, each polling its\n"
		"                     own share (default 1; at most --sessions)\n"
		"  --duration S       measured seconds (default 10)\n"
		"  --ramp S           seconds of load before measuring starts (default 1)\n"
		"  --size-limit SIZE  use only the first SIZE bytes of the LUN\n"
		"  --pid PID          report this process's CPU seconds (utime+stime) over the measurement\n"
		"  --json             one line of JSON instead of the human summary\n"
		"  --label TEXT       copied into the JSON output\n"
		"  --verify           writes stamp each block from (seed, LBA); reads check the stamps\n"
		"  --once             sequential workloads: one pass over the range, then stop\n"
		"  --seed N           random offsets and --verify content (default 1)\n"
		"  --header-digest    negotiate CRC32C header digests\n"
		"  --hold-before S    stay logged in and idle S seconds before the I/O starts\n"
		"  --hold-after S     stay logged in and idle S seconds after the I/O, then log out\n"
		"  --phases           print \"iscsi-load: phase NAME\" on stderr as each phase starts\n"
		"                     (logged-in, io, io-done, logout, logged-out)\n"
		"  --initiator IQN    initiator name (default " DEFAULT_INITIATOR ")\n"
		"Exit status: 0 ok, 1 I/O errors or verify mismatches, 2 usage or connection failure.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_URL = 256, O_RW, O_BS, O_QD, O_SESSIONS, O_THREADS, O_DURATION, O_RAMP, O_SIZE_LIMIT, O_PID,
	       O_JSON, O_VERIFY, O_ONCE, O_SEED, O_INITIATOR, O_DIGEST, O_LABEL, O_HOLD_BEFORE,
	       O_HOLD_AFTER, O_PHASES };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "rw", required_argument, NULL, O_RW },
		{ "bs", required_argument, NULL, O_BS },
		{ "qd", required_argument, NULL, O_QD },
		{ "sessions", required_argument, NULL, O_SESSIONS },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "ramp", required_argument, NULL, O_RAMP },
		{ "size-limit", required_argument, NULL, O_SIZE_LIMIT },
		{ "pid", required_argument, NULL, O_PID },
		{ "json", no_argument, NULL, O_JSON },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "once", no_argument, NULL, O_ONCE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "initiator", required_argument, NULL, O_INITIATOR },
		{ "header-digest", no_argument, NULL, O_DIGEST },
		{ "label", required_argument, NULL, O_LABEL },
		{ "hold-before", required_argument, NULL, O_HOLD_BEFORE },
		{ "hold-after", required_argument, NULL, O_HOLD_AFTER },
		{ "phases", no_argument, NULL, O_PHASES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;

	*o = (struct options){ .initiator = DEFAULT_INITIATOR, .rw = RANDREAD, .bs = 4096, .qd = 32,
			       .sessions = 1, .threads = 1, .duration_s = 10, .ramp_s = 1, .seed = 1 };
	for (;;) {
		int c = getopt_long(argc, argv, "h", longopts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case O_URL: o->url = optarg; break;
		case O_RW: {
			bool found = false;
			for (unsigned i = 0; i < sizeof(workload_names) / sizeof(workload_names[0]); i++)
				if (strcmp(optarg, workload_names[i]) == 0) {
					o->rw = (enum workload)i;
					found = true;
				}
			if (!found) {
				fprintf(stderr, "iscsi-load: --rw: unknown workload '%s'\n", optarg);
				return -1;
			}
			break;
		}
		case O_BS:
			if (parse_size(optarg, &v) || v == 0 || v > (1u << 30)) {
				fprintf(stderr, "iscsi-load: --bs: bad size '%s'\n", optarg);
				return -1;
			}
			o->bs = (uint32_t)v;
			break;
		case O_QD:
		case O_SESSIONS:
		case O_THREADS:
			v = strtoull(optarg, &end, 10);
			if (*end || v == 0 || v > 65536) {
				fprintf(stderr, "iscsi-load: --%s: bad count '%s'\n",
					c == O_QD ? "qd" : c == O_SESSIONS ? "sessions" : "threads",
					optarg);
				return -1;
			}
			if (c == O_QD)
				o->qd = (unsigned)v;
			else if (c == O_SESSIONS)
				o->sessions = (unsigned)v;
			else
				o->threads = (unsigned)v;
			break;
		case O_DURATION:
		case O_RAMP:
		case O_HOLD_BEFORE:
		case O_HOLD_AFTER: {
			double d = strtod(optarg, &end);
			if (*end || d < 0 || (c == O_DURATION && d == 0)) {
				fprintf(stderr, "iscsi-load: bad seconds '%s'\n", optarg);
				return -1;
			}
			if (c == O_DURATION)
				o->duration_s = d;
			else if (c == O_RAMP)
				o->ramp_s = d;
			else if (c == O_HOLD_BEFORE)
				o->hold_before_s = d;
			else
				o->hold_after_s = d;
			break;
		}
		case O_SIZE_LIMIT:
			if (parse_size(optarg, &o->size_limit)) {
				fprintf(stderr, "iscsi-load: --size-limit: bad size '%s'\n", optarg);
				return -1;
			}
			break;
		case O_PID:
			o->pid = strtol(optarg, &end, 10);
			if (*end || o->pid <= 0) {
				fprintf(stderr, "iscsi-load: --pid: bad pid '%s'\n", optarg);
				return -1;
			}
			break;
		case O_JSON: o->json = true; break;
		case O_VERIFY: o->verify = true; break;
		case O_ONCE: o->once = true; break;
		case O_SEED: o->seed = strtoull(optarg, NULL, 0); break;
		case O_INITIATOR: o->initiator = optarg; break;
		case O_DIGEST: o->header_digest = true; break;
		case O_LABEL: o->label = optarg; break;
		case O_PHASES: o->phases = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || !o->url) {
		usage(stderr);
		return -1;
	}
	if (o->once && is_random(o->rw)) {
		fprintf(stderr, "iscsi-load: --once needs a sequential workload (read or write)\n");
		return -1;
	}
	if (o->threads > o->sessions) {
		fprintf(stderr, "iscsi-load: --threads %u is more than --sessions %u: every thread "
				"needs a session of its own\n", o->threads, o->sessions);
		return -1;
	}
	return 0;
}

static int open_sessions(struct run *run)
{
	const struct options *o = &run->opt;

	for (unsigned i = 0; i < o->sessions; i++) {
		struct session *s = &run->sessions[i];
		s->index = i;
		s->iscsi = iscsi_create_context(o->initiator);
		if (!s->iscsi) {
			fprintf(stderr, "iscsi-load: cannot create libiscsi context\n");
			return -1;
		}
		s->url = iscsi_parse_full_url(s->iscsi, o->url);
		if (!s->url) {
			fprintf(stderr, "iscsi-load: bad --url: %s\n", iscsi_get_error(s->iscsi));
			return -1;
		}
		s->lun = s->url->lun;
		/* Distinct ISIDs, so sessions from the one initiator name never reinstate each other. */
		iscsi_set_isid_random(s->iscsi, ((uint32_t)getpid() * 131u + i) & 0xffffff, i & 0xffff);
		iscsi_set_targetname(s->iscsi, s->url->target);
		iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
		iscsi_set_header_digest(s->iscsi, o->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
								   : ISCSI_HEADER_DIGEST_NONE);
		/* A dropped connection must show as an error, not be hidden by a silent re-login. */
		iscsi_set_noautoreconnect(s->iscsi, 1);
		if (s->url->user[0])
			iscsi_set_initiator_username_pwd(s->iscsi, s->url->user, s->url->passwd);
		if (s->url->target_user[0])
			iscsi_set_target_username_pwd(s->iscsi, s->url->target_user,
						      s->url->target_passwd);
	}
	uint64_t timeout = CONNECT_TIMEOUT_NS + o->sessions * CONNECT_NS_PER_SESSION;
	uint64_t deadline = now_ns() + timeout;
	unsigned started = 0;
	for (;;) {
		unsigned up = 0;
		for (unsigned i = 0; i < started; i++) {
			if (run->sessions[i].dead)
				return -1;
			up += run->sessions[i].connected;
		}
		if (up == o->sessions)
			return 0;
		while (started < o->sessions && started - up < LOGINS_IN_FLIGHT) {
			struct session *s = &run->sessions[started];
			if (iscsi_full_connect_async(s->iscsi, s->url->portal, s->lun, connect_done,
						     s) != 0) {
				fprintf(stderr, "iscsi-load: session %u: connect: %s\n", started,
					iscsi_get_error(s->iscsi));
				return -1;
			}
			started++;
		}
		if (now_ns() >= deadline) {
			fprintf(stderr, "iscsi-load: %u of %u sessions logged in after %.0f s\n", up,
				o->sessions, (double)timeout / NSEC_PER_SEC);
			return -1;
		}
		if (service_once(&run->all, ms_until(deadline)) < 0)
			return -1;
	}
}

static int read_capacity(struct run *run)
{
	struct session *s = &run->sessions[0];
	struct scsi_task *task = iscsi_readcapacity16_sync(s->iscsi, s->lun);

	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi-load: READ CAPACITY(16) failed: %s\n", iscsi_get_error(s->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		return -1;
	}
	struct scsi_readcapacity16 *rc16 = scsi_datain_unmarshall(task);
	if (!rc16) {
		fprintf(stderr, "iscsi-load: cannot parse READ CAPACITY(16) data\n");
		scsi_free_scsi_task(task);
		return -1;
	}
	run->block_size = rc16->block_length;
	run->lun_blocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(task);
	return 0;
}

static int plan_ranges(struct run *run)
{
	struct options *o = &run->opt;

	if (run->block_size == 0 || o->bs % run->block_size != 0) {
		fprintf(stderr, "iscsi-load: --bs %u is not a multiple of the LUN's %u-byte blocks\n",
			o->bs, run->block_size);
		return -1;
	}
	run->blocks_per_io = o->bs / run->block_size;
	uint64_t bytes = run->lun_blocks * run->block_size;
	if (o->size_limit && o->size_limit < bytes)
		bytes = o->size_limit;
	run->units = bytes / o->bs;
	if (run->units < o->sessions) {
		fprintf(stderr, "iscsi-load: range of %" PRIu64 " bytes holds fewer than one %u-byte "
				"I/O per session\n", bytes, o->bs);
		return -1;
	}
	run->total_slots = (uint64_t)o->sessions * o->qd;
	if (o->rw == RANDRW && run->units < run->total_slots) {
		fprintf(stderr, "iscsi-load: randrw: range of %" PRIu64 " bytes holds fewer than one "
				"%u-byte I/O per slot (%" PRIu64 " slots)\n", bytes, o->bs,
			run->total_slots);
		return -1;
	}
	if (o->rw == RANDRW && o->verify && !(run->unit_gen = calloc(run->units, sizeof(uint32_t))))
		return -1;
	for (unsigned i = 0; i < o->sessions; i++) {
		struct session *s = &run->sessions[i];
		s->slice_first = run->units * i / o->sessions;
		s->slice_units = run->units * (i + 1) / o->sessions - s->slice_first;
		s->rng = (o->seed + 1) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
		if (s->rng == 0)
			s->rng = 1;
		s->slots = calloc(o->qd, sizeof(*s->slots));
		if (!s->slots)
			return -1;
		for (unsigned q = 0; q < o->qd; q++) {
			struct slot *slot = &s->slots[q];
			slot->session = s;
			slot->own_first = (uint64_t)i * o->qd + q;
			if (posix_memalign((void **)&slot->buf, 4096, o->bs) != 0)
				return -1;
			/* Non-zero, incompressible write data; --verify overwrites it per command. */
			uint64_t fill = s->rng ^ q;
			for (uint32_t off = 0; off + 8 <= o->bs; off += 8) {
				uint64_t w = xorshift64(&fill);
				memcpy(slot->buf + off, &w, 8);
			}
		}
	}
	return 0;
}

static unsigned total_inflight(const struct session_group *g)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->count; i++)
		n += g->sessions[i].inflight;
	return n;
}

static unsigned dead_sessions(const struct session_group *g)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->count; i++)
		n += g->sessions[i].dead;
	return n;
}

/* Keeps every session of the group logged in and serviced, issuing nothing, for `seconds`. */
static void hold(struct session_group *g, double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * NSEC_PER_SEC);
	while (now_ns() < end && dead_sessions(g) < g->count)
		if (service_once(g, ms_until(end)) < 0)
			return;
}

/* randrw --verify: reads every unit once more after the run and checks it holds its last
 * write, so a write that was acknowledged and later lost or overwritten is caught too. Each
 * thread checks the units of its own slots, which no other thread writes. */
static void sweep(struct worker *w)
{
	struct session_group *g = &w->group;
	unsigned qd = w->run->opt.qd;

	w->sweeping = true;
	w->stop_issuing = false;
	for (unsigned i = 0; i < g->count; i++) {
		struct session *s = &g->sessions[i];
		for (unsigned q = 0; q < qd && may_issue(w, s); q++)
			if (submit(w, &s->slots[q]) != 0)
				s->dead = true;
	}
	uint64_t deadline = now_ns() + SWEEP_TIMEOUT_NS;
	while (total_inflight(g) > 0 && dead_sessions(g) < g->count) {
		if (now_ns() >= deadline) {
			fprintf(stderr, "iscsi-load: final check: %u reads still outstanding after %llu s\n",
				total_inflight(g), SWEEP_TIMEOUT_NS / NSEC_PER_SEC);
			w->tally.errors += total_inflight(g);
			break;
		}
		if (service_once(g, ms_until(deadline)) < 0)
			break;
	}
	w->stop_issuing = true;
}

static void io_loop_ended(struct worker *w)
{
	struct run *run = w->run;

	w->io_end_ns = now_ns();
	pthread_mutex_lock(&run->lock);
	if (--run->workers_in_io == 0)
		pthread_cond_signal(&run->io_ended);
	pthread_mutex_unlock(&run->lock);
}

/* One client thread: keeps its sessions at --qd until the window ends (or, with --once, until
 * its slices are done), drains them, then runs the final check of its own units. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	const struct options *o = &run->opt;
	struct session_group *g = &w->group;

	for (unsigned i = 0; i < g->count && !w->start_failed; i++) {
		struct session *s = &g->sessions[i];
		for (unsigned q = 0; q < o->qd && may_issue(w, s); q++)
			if (submit(w, &s->slots[q]) != 0) {
				w->start_failed = true;
				__atomic_store_n(&run->abort_io, true, __ATOMIC_RELAXED);
				break;
			}
	}

	uint64_t drain_deadline = 0;
	for (;;) {
		uint64_t now = now_ns();
		bool over = o->once ? total_inflight(g) == 0 : now >= run->window_end_ns;
		if (!w->stop_issuing && (over || __atomic_load_n(&run->abort_io, __ATOMIC_RELAXED))) {
			w->stop_issuing = true;
			drain_deadline = now + DRAIN_TIMEOUT_NS;
		}
		if (w->stop_issuing && total_inflight(g) == 0)
			break;
		if (dead_sessions(g) == g->count)
			break;
		if (w->stop_issuing && now >= drain_deadline) {
			fprintf(stderr, "iscsi-load: %u commands still outstanding %llu s after the end\n",
				total_inflight(g), DRAIN_TIMEOUT_NS / NSEC_PER_SEC);
			w->tally.errors += total_inflight(g);
			break;
		}
		/* Another thread's failure to start is seen within a second at the latest. */
		uint64_t next = w->stop_issuing ? drain_deadline
			      : o->once		? now + NSEC_PER_SEC
						: run->window_end_ns;
		if (service_once(g, ms_until(next)) < 0)
			break;
	}
	io_loop_ended(w);
	if (run->unit_gen && total_inflight(g) == 0)
		sweep(w);
	return NULL;
}

/* Splits the sessions into --threads contiguous shares; returns -1 if a thread cannot be made. */
static int start_workers(struct run *run)
{
	const struct options *o = &run->opt;

	run->workers_in_io = o->threads;
	for (unsigned t = 0; t < o->threads; t++) {
		struct worker *w = &run->workers[t];
		unsigned first = (unsigned)((uint64_t)o->sessions * t / o->threads);
		unsigned end = (unsigned)((uint64_t)o->sessions * (t + 1) / o->threads);
		w->run = run;
		w->group = (struct session_group){ .sessions = run->sessions + first,
						    .pfds = run->pfds + first,
						    .count = end - first };
		for (unsigned i = first; i < end; i++)
			run->sessions[i].worker = w;
	}
	/* Every share is assigned before any thread runs: a thread only reads its own. */
	for (unsigned t = 0; t < o->threads; t++) {
		struct worker *w = &run->workers[t];
		int err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			fprintf(stderr, "iscsi-load: cannot start client thread: %s\n", strerror(err));
			/* The threads already running stop issuing and drain; those never started
			 * count as ended. */
			__atomic_store_n(&run->abort_io, true, __ATOMIC_RELAXED);
			pthread_mutex_lock(&run->lock);
			run->workers_in_io -= o->threads - t;
			if (run->workers_in_io == 0)
				pthread_cond_signal(&run->io_ended);
			pthread_mutex_unlock(&run->lock);
			return -1;
		}
		w->started = true;
	}
	return 0;
}

/* Waits until every thread's I/O loop has ended or `deadline` (0: no deadline) has come;
 * true when the loops ended first. */
static bool wait_io_ended(struct run *run, uint64_t deadline)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / NSEC_PER_SEC),
			       .tv_nsec = (long)(deadline % NSEC_PER_SEC) };
	bool ended;

	pthread_mutex_lock(&run->lock);
	while (run->workers_in_io > 0) {
		if (!deadline)
			pthread_cond_wait(&run->io_ended, &run->lock);
		else if (pthread_cond_timedwait(&run->io_ended, &run->lock, &ts) == ETIMEDOUT)
			break;
	}
	ended = run->workers_in_io == 0;
	pthread_mutex_unlock(&run->lock);
	return ended;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	struct run run = { 0 };

	if (parse_options(argc, argv, &run.opt) != 0)
		return 2;
	/* A target that drops connections must show up as failed sessions in the report, not
	 * kill the client with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	const struct options *o = &run.opt;
	run.sessions = calloc(o->sessions, sizeof(*run.sessions));
	run.pfds = calloc(o->sessions, sizeof(*run.pfds));
	run.workers = calloc(o->threads, sizeof(*run.workers));
	if (!run.sessions || !run.pfds || !run.workers)
		return 2;
	run.all = (struct session_group){ .sessions = run.sessions, .pfds = run.pfds,
					  .count = o->sessions };
	pthread_condattr_t cond_attr;
	pthread_condattr_init(&cond_attr);
	/* Deadlines are CLOCK_MONOTONIC, like every other time here. */
	pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&run.io_ended, &cond_attr);
	pthread_condattr_destroy(&cond_attr);
	pthread_mutex_init(&run.lock, NULL);
	if (open_sessions(&run) != 0 || read_capacity(&run) != 0 || plan_ranges(&run) != 0)
		return 2;
	announce_phase(&run, "logged-in");
	if (o->hold_before_s > 0)
		hold(&run.all, o->hold_before_s);
	announce_phase(&run, "io");

	/* The threads issue and count; this one only takes the measurements at the window's
	 * edges, so the daemon's and the client's CPU times cover the same span as the I/Os. */
	uint64_t start = now_ns();
	bool ramped = o->ramp_s > 0 && !o->once;
	run.window_start_ns = start + (ramped ? (uint64_t)(o->ramp_s * NSEC_PER_SEC) : 0);
	run.window_end_ns = o->once ? UINT64_MAX
				    : run.window_start_ns + (uint64_t)(o->duration_s * NSEC_PER_SEC);
	double cpu_start = -1, cpu_end = -1, self_start = 0, self_end = 0;
	bool measuring = !ramped;
	if (measuring) {
		run.measure_start_ns = start;
		cpu_start = o->pid ? process_cpu_seconds(o->pid) : -1;
		self_start = self_cpu_seconds();
	}
	int start_failed = start_workers(&run);
	bool ended = false;
	if (ramped) {
		ended = wait_io_ended(&run, run.window_start_ns);
		if (!ended) {
			measuring = true;
			run.measure_start_ns = run.window_start_ns;
			cpu_start = o->pid ? process_cpu_seconds(o->pid) : -1;
			self_start = self_cpu_seconds();
		}
	}
	if (!ended)
		ended = wait_io_ended(&run, o->once ? 0 : run.window_end_ns);
	uint64_t now = now_ns();
	if (o->once) {
		run.measure_end_ns = run.measure_start_ns;
		for (unsigned t = 0; t < o->threads; t++)
			if (run.workers[t].io_end_ns > run.measure_end_ns)
				run.measure_end_ns = run.workers[t].io_end_ns;
	} else {
		run.measure_end_ns = now < run.window_end_ns ? now : run.window_end_ns;
		if (!measuring) /* every loop ended during the ramp */
			run.measure_start_ns = run.measure_end_ns;
	}
	if (measuring) {
		cpu_end = o->pid ? process_cpu_seconds(o->pid) : -1;
		self_end = self_cpu_seconds();
	}
	double self_cpu = measuring ? self_end - self_start : 0;
	for (unsigned t = 0; t < o->threads; t++) {
		struct worker *w = &run.workers[t];
		if (!w->started)
			continue;
		pthread_join(w->thread, NULL);
		start_failed |= w->start_failed;
		run.total.ios += w->tally.ios;
		run.total.errors += w->tally.errors;
		run.total.verify_mismatches += w->tally.verify_mismatches;
		run.total.verified_reads += w->tally.verified_reads;
		run.total.sweep_reads += w->tally.sweep_reads;
		hist_merge(&run.total.hist, &w->tally.hist);
	}
	if (start_failed)
		return 2;
	if (dead_sessions(&run.all) == o->sessions)
		fprintf(stderr, "iscsi-load: every session failed\n");
	announce_phase(&run, "io-done");
	if (o->hold_after_s > 0 && total_inflight(&run.all) == 0)
		hold(&run.all, o->hold_after_s);

	announce_phase(&run, "logout");
	bool quiet = total_inflight(&run.all) == 0;
	for (unsigned i = 0; i < o->sessions; i++) {
		struct session *s = &run.sessions[i];
		if (!s->dead && quiet && iscsi_logout_sync(s->iscsi) != 0) {
			if (++run.logout_failures <= 5)
				fprintf(stderr, "iscsi-load: session %u: logout: %s\n", i,
					iscsi_get_error(s->iscsi));
		}
		iscsi_destroy_context(s->iscsi);
	}
	announce_phase(&run, "logged-out");

	double secs = (double)(run.measure_end_ns - run.measure_start_ns) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	double iops = (double)run.total.ios / secs;
	double mib_s = (double)run.total.ios * o->bs / secs / (1024.0 * 1024.0);
	double mean_us = run.total.hist.count ? (double)run.total.hist.sum_ns / (double)run.total.hist.count / 1e3 : 0;
	double p50_us = hist_percentile(&run.total.hist, 50) / 1e3;
	double p99_us = hist_percentile(&run.total.hist, 99) / 1e3;
	double max_us = (double)run.total.hist.max_ns / 1e3;
	bool have_cpu = o->pid && cpu_start >= 0 && cpu_end >= 0;
	double daemon_cpu = have_cpu ? cpu_end - cpu_start : 0;
	double cpu_us_per_io = have_cpu && run.total.ios ? daemon_cpu / (double)run.total.ios * 1e6 : 0;

	if (o->json) {
		printf("{");
		if (o->label) {
			printf("\"label\":");
			print_json_string(o->label);
			printf(",");
		}
		printf("\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"sessions\":%u,\"threads\":%u,\"block_size\":%u,"
		       "\"seconds\":%.3f,\"ios\":%" PRIu64 ",\"iops\":%.1f,\"mib_s\":%.2f,"
		       "\"lat_mean_us\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_max_us\":%.1f,"
		       "\"errors\":%" PRIu64 ",\"verify_mismatches\":%" PRIu64 ",\"client_cpu_s\":%.3f",
		       workload_names[o->rw], o->bs, o->qd, o->sessions, o->threads, run.block_size, secs,
		       run.total.ios,
		       iops, mib_s, mean_us, p50_us, p99_us, max_us, run.total.errors, run.total.verify_mismatches,
		       self_cpu);
		printf(",\"verified_reads\":%" PRIu64 ",\"final_check_reads\":%" PRIu64
		       ",\"dead_sessions\":%u,\"logout_failures\":%" PRIu64,
		       run.total.verified_reads, run.total.sweep_reads, dead_sessions(&run.all), run.logout_failures);
		if (have_cpu)
			printf(",\"daemon_pid\":%ld,\"daemon_cpu_s\":%.3f,\"daemon_cpu_us_per_io\":%.3f",
			       o->pid, daemon_cpu, cpu_us_per_io);
		printf("}\n");
	} else {
		printf("iscsi-load: %s bs=%u qd=%u sessions=%u threads=%u over %.2f s (LUN block %u B)\n",
		       workload_names[o->rw], o->bs, o->qd, o->sessions, o->threads, secs,
		       run.block_size);
		printf("  %" PRIu64 " I/Os  %.0f IOPS  %.1f MiB/s\n", run.total.ios, iops, mib_s);
		printf("  latency us: mean %.1f  p50 %.1f  p99 %.1f  max %.1f\n", mean_us, p50_us, p99_us,
		       max_us);
		if (have_cpu)
			printf("  daemon pid %ld: %.2f CPU-s (%.2f CPU-s/s, %.2f CPU-us per I/O)\n", o->pid,
			       daemon_cpu, daemon_cpu / secs, cpu_us_per_io);
		else if (o->pid)
			printf("  daemon pid %ld: CPU time unreadable\n", o->pid);
		printf("  client: %.2f CPU-s\n", self_cpu);
		printf("  errors %" PRIu64 "%s", run.total.errors, o->verify ? "" : "\n");
		if (o->verify)
			printf("  verify mismatches %" PRIu64 "\n", run.total.verify_mismatches);
		if (o->verify)
			printf("  verified reads %" PRIu64 " (final check %" PRIu64 ")\n",
			       run.total.verified_reads, run.total.sweep_reads);
		if (dead_sessions(&run.all) || run.logout_failures)
			printf("  failed sessions %u, failed logouts %" PRIu64 "\n", dead_sessions(&run.all),
			       run.logout_failures);
	}
	if (o->once && !run.total.errors && run.total.ios != run.units) {
		fprintf(stderr, "iscsi-load: --once completed %" PRIu64 " of %" PRIu64 " I/Os\n", run.total.ios,
			run.units);
		return 1;
	}
	return (run.total.errors || run.total.verify_mismatches || dead_sessions(&run.all) || run.logout_failures)
		       ? 1
		       : 0;
}
