/* Setup shared by unit tests that drive commands through one target: its LUN table, its nexuses, and assert wrappers. */
#ifndef TG_TEST_FIXTURE_H
#define TG_TEST_FIXTURE_H

#include "fake_transport.h"

/* Names target and gives initiators no access rule names the LUN table entries[0..count). */
static inline void fixture_target_init(struct tg_target *target, const char *name,
				       struct tg_lun_entry *entries, size_t count)
{
	target->name = (char *)name;
	target->luns = (struct tg_lun_map){ count, entries };
}

/* An iSCSI nexus of initiator (initiator_port may be NULL) on target; no test can go on without it. */
static inline struct tg_nexus *fixture_nexus(struct tg_target *target, const char *initiator,
					     const char *initiator_port)
{
	struct tg_nexus *nexus = tg_nexus_create(target, TG_TRANSPORT_ISCSI, initiator, initiator_port);
	assert_non_null(nexus);
	return nexus;
}

/* The assert macros evaluate their argument more than once: commands go through these. */
static inline void want_good(const struct fake_response *r) { assert_good(r); }

static inline void want_check(const struct fake_response *r, uint8_t key, uint8_t asc,
			      uint8_t ascq)
{
	assert_check(r, key, asc, ascq);
}

#endif
