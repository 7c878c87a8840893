/* LBA-range locks that make COMPARE AND WRITE-style commands atomic against other writers. */
#ifndef TG_LBA_LOCK_H
#define TG_LBA_LOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct tg_device;
struct tg_task;

/*
 * One request for a range, embedded in the task that holds or awaits it. A writer lock is
 * shared with other writers; an exclusive lock (read-compare-write commands, SANITIZE) shuts out
 * every other writer of an overlapping range.
 */
struct tg_lba_lock {
	uint64_t lba;
	uint64_t nblocks;
	bool exclusive;
	bool held;
	bool counted_only; /* held on the fast path: only counted, not in the held list */
	void (*granted)(struct tg_lba_lock *lock);
	void (*task_then)(struct tg_task *task); /* tg_task_lock_range's continuation */
	struct tg_lba_lock *next;
};

/*
 * Per-device lock state, embedded in struct tg_device. Writers take the fast path — an atomic
 * count, no list, no mutex — as long as no exclusive request exists; an exclusive request
 * waits for those counted writers to drain and for overlapping listed writers to finish.
 * The lists have a mutex of their own, never held while a task runs, so that code holding
 * the device's shared-state lock may complete tasks. All zero is the empty state (glibc's
 * PTHREAD_MUTEX_INITIALIZER is all zero; tg_device_open initialises the mutex anyway).
 */
struct tg_lba_lock_state {
	atomic_uint exclusive_requests; /* exclusive locks held or waiting */
	atomic_uint counted_writers;    /* writers holding a fast-path lock */
	pthread_mutex_t mutex;
	struct tg_lba_lock *held;
	struct tg_lba_lock *waiting;    /* FIFO */
};

/*
 * Asks for [lba, lba + nblocks) on dev. Returns true when granted at once; otherwise
 * lock->granted(lock) runs once it is granted (on the thread that released the conflicting
 * lock, which may be another I/O thread's: tg_task_lock_range moves the task back to its own).
 */
bool tg_lba_lock_acquire(struct tg_device *dev, struct tg_lba_lock *lock, uint64_t lba,
			 uint64_t nblocks, bool exclusive, void (*granted)(struct tg_lba_lock *lock));
/* Releases a held lock and grants whatever it was holding up. No-op for a lock not held. */
void tg_lba_lock_release(struct tg_device *dev, struct tg_lba_lock *lock);

/*
 * Task form: takes task->lba_lock over the range and runs then(task) once granted (at once or
 * later); a task aborted while it waited completes with TASK ABORTED instead. tg_task_complete
 * releases the lock.
 */
void tg_task_lock_range(struct tg_task *task, uint64_t lba, uint64_t nblocks, bool exclusive,
			void (*then)(struct tg_task *task));
void tg_task_unlock_range(struct tg_task *task);

#endif
