/* LBA-range locks: writers pass on an atomic count until an exclusive (read-compare-write) request needs them listed. */
#include "core/lba_lock.h"

#include <stddef.h>

#include "core/device.h"
#include "core/nexus.h"
#include "core/task.h"

static bool ranges_overlap(const struct tg_lba_lock *a, const struct tg_lba_lock *b)
{
	/* Written without lba + nblocks so that a range ending at 2^64 cannot wrap. */
	if (a->lba <= b->lba)
		return b->lba - a->lba < a->nblocks;
	return a->lba - b->lba < b->nblocks;
}

static bool locks_conflict(const struct tg_lba_lock *a, const struct tg_lba_lock *b)
{
	return (a->exclusive || b->exclusive) && ranges_overlap(a, b);
}

/*
 * A request may go ahead when nothing held conflicts with it and no conflicting request queued
 * before it is still waiting (first come, first served between overlapping requests, so a
 * stream of writers cannot starve a COMPARE AND WRITE). `lock` may or may not be queued yet.
 */
static bool grantable(struct tg_lba_lock_state *s, const struct tg_lba_lock *lock)
{
	if (lock->exclusive && atomic_load(&s->counted_writers) != 0)
		return false;
	for (const struct tg_lba_lock *h = s->held; h; h = h->next)
		if (locks_conflict(h, lock))
			return false;
	for (const struct tg_lba_lock *w = s->waiting; w && w != lock; w = w->next)
		if (locks_conflict(w, lock))
			return false;
	return true;
}

static void push_held(struct tg_lba_lock_state *s, struct tg_lba_lock *lock)
{
	lock->held = true;
	lock->next = s->held;
	s->held = lock;
}

static void unlink_from(struct tg_lba_lock **list, struct tg_lba_lock *lock)
{
	for (struct tg_lba_lock **p = list; *p; p = &(*p)->next)
		if (*p == lock) {
			*p = lock->next;
			lock->next = NULL;
			return;
		}
}

/*
 * Moves the waiting requests that can now go ahead to the held list and resumes them once the
 * mutex is released: a resumed request may complete at once and release again, and that must
 * not happen under the mutex. A bounded batch at a time keeps this off the heap.
 */
static void grant_waiters(struct tg_device *dev)
{
	struct tg_lba_lock_state *s = &dev->lba_locks;
	struct tg_lba_lock *ready[32];
	size_t count;
	do {
		count = 0;
		pthread_mutex_lock(&s->mutex);
		struct tg_lba_lock **p = &s->waiting;
		while (*p && count < sizeof(ready) / sizeof(ready[0])) {
			struct tg_lba_lock *w = *p;
			if (!grantable(s, w)) {
				p = &w->next;
				continue;
			}
			*p = w->next;
			push_held(s, w);
			ready[count++] = w;
		}
		bool more = *p != NULL && count == sizeof(ready) / sizeof(ready[0]);
		pthread_mutex_unlock(&s->mutex);
		for (size_t i = 0; i < count; i++)
			ready[i]->granted(ready[i]);
		if (!more)
			break;
	} while (count);
}

static void counted_writer_done(struct tg_device *dev)
{
	struct tg_lba_lock_state *s = &dev->lba_locks;
	/* The last counted writer lets a waiting exclusive request in. */
	if (atomic_fetch_sub(&s->counted_writers, 1) == 1 &&
	    atomic_load(&s->exclusive_requests) != 0)
		grant_waiters(dev);
}

bool tg_lba_lock_acquire(struct tg_device *dev, struct tg_lba_lock *lock, uint64_t lba,
			 uint64_t nblocks, bool exclusive, void (*granted)(struct tg_lba_lock *lock))
{
	struct tg_lba_lock_state *s = &dev->lba_locks;
	lock->lba = lba;
	lock->nblocks = nblocks;
	lock->exclusive = exclusive;
	lock->granted = granted;
	lock->held = false;
	lock->counted_only = false;
	lock->next = NULL;
	if (!exclusive) {
		/*
		 * Count first, then look: an exclusive request increments its count before it looks
		 * at ours, so at least one of the two sees the other (both orders are seq_cst).
		 */
		atomic_fetch_add(&s->counted_writers, 1);
		if (atomic_load(&s->exclusive_requests) == 0) {
			lock->held = true;
			lock->counted_only = true;
			return true;
		}
		counted_writer_done(dev);
	}

	pthread_mutex_lock(&s->mutex);
	if (exclusive)
		atomic_fetch_add(&s->exclusive_requests, 1);
	bool now = grantable(s, lock);
	if (now) {
		push_held(s, lock);
	} else {
		struct tg_lba_lock **tail = &s->waiting;
		while (*tail)
			tail = &(*tail)->next;
		*tail = lock;
	}
	pthread_mutex_unlock(&s->mutex);
	return now;
}

void tg_lba_lock_release(struct tg_device *dev, struct tg_lba_lock *lock)
{
	if (!lock->held)
		return;
	lock->held = false;
	if (lock->counted_only) {
		lock->counted_only = false;
		counted_writer_done(dev);
		return;
	}
	struct tg_lba_lock_state *s = &dev->lba_locks;
	pthread_mutex_lock(&s->mutex);
	unlink_from(&s->held, lock);
	if (lock->exclusive)
		atomic_fetch_sub(&s->exclusive_requests, 1);
	bool anyone_waiting = s->waiting != NULL;
	pthread_mutex_unlock(&s->mutex);
	if (anyone_waiting)
		grant_waiters(dev);
}

static void task_resume_granted(struct tg_task *task)
{
	/* Task management of another loop sets the flag under the nexus lock. */
	bool aborted;
	if (task->nexus) {
		pthread_mutex_lock(&task->nexus->lock);
		aborted = task->abort_requested;
		pthread_mutex_unlock(&task->nexus->lock);
	} else {
		aborted = task->abort_requested;
	}
	if (aborted) {
		/* Never started: nothing is half done. tg_task_complete releases the lock. */
		tg_task_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	task->lba_lock.task_then(task);
}

/* Runs on the thread that released the conflicting range, which with several I/O threads may
 * be another loop's: the task goes on on its own. */
static void task_lock_granted(struct tg_lba_lock *lock)
{
	struct tg_task *task = (struct tg_task *)((char *)lock - offsetof(struct tg_task, lba_lock));
	tg_task_run_on_own_loop(task, task_resume_granted);
}

void tg_task_lock_range(struct tg_task *task, uint64_t lba, uint64_t nblocks, bool exclusive,
			void (*then)(struct tg_task *task))
{
	task->lba_lock.task_then = then;
	if (tg_lba_lock_acquire(task->dev, &task->lba_lock, lba, nblocks, exclusive,
				task_lock_granted))
		then(task);
}

void tg_task_unlock_range(struct tg_task *task)
{
	if (task->dev && task->lba_lock.held)
		tg_lba_lock_release(task->dev, &task->lba_lock);
}
