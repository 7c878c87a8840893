/* Per-device counters of completed medium reads and writes, kept lock-free for targectl's stats. */
#ifndef TG_IOSTATS_H
#define TG_IOSTATS_H

#include <stdatomic.h>
#include <stdint.h>

struct tg_task;

/* Relaxed atomics: bumped by whichever I/O thread completes the command, read at any time. */
struct tg_io_counters {
	atomic_uint_fast64_t read_commands;
	atomic_uint_fast64_t read_bytes;
	atomic_uint_fast64_t write_commands;
	atomic_uint_fast64_t write_bytes;
};

struct tg_io_counts {
	uint64_t read_commands, read_bytes, write_commands, write_bytes;
};

/*
 * Counts a task that completed with GOOD status and moved logical blocks: a read (data-in
 * with a block count) or a write-class command with data-out. Bytes are those that crossed
 * the wire (WRITE SAME sends one block for many). Other commands are not counted.
 */
void tg_io_count_task(const struct tg_task *task);
void tg_io_counters_read(const struct tg_io_counters *counters, struct tg_io_counts *out);

#endif
