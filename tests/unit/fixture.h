/* Setup shared by unit tests that drive commands through one target: a target over in-memory disks with its nexuses, LBA CDBs, and assert wrappers. */
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

/*
 * A target over in-memory disks, with its initiators already connected: the common fixture of
 * the command-level tests. A test file describes it once in a fixture_spec; fixture_new builds
 * it and fixture_teardown (a cmocka teardown) takes it apart.
 */
enum { FIXTURE_DISKS = 4, FIXTURE_LUNS = 6, FIXTURE_INITIATORS = 4 };

struct fixture_disk_spec {
	const char *name; /* NULL ends the list */
	uint32_t block_size;
	uint64_t blocks;
};

struct fixture_lun_spec {
	uint64_t lun;
	unsigned disk; /* index into fixture_spec.disks */
	bool read_only;
};

struct fixture_initiator_spec {
	const char *name; /* NULL ends the list */
	const char *port; /* NULL: none */
	bool of_other_target;
};

struct fixture_spec {
	const char *target;
	uint16_t tpgt; /* of both targets */
	struct fixture_disk_spec disks[FIXTURE_DISKS];
	struct fixture_lun_spec luns[FIXTURE_LUNS];
	unsigned lun_count;
	/* A second target (NULL: none), for functions whose reach crosses targets. */
	const char *other_target;
	struct fixture_lun_spec other_luns[FIXTURE_LUNS];
	unsigned other_lun_count;
	struct fixture_initiator_spec initiators[FIXTURE_INITIATORS];
};

struct fixture {
	struct fake_disk disk[FIXTURE_DISKS];
	struct tg_device dev[FIXTURE_DISKS];
	unsigned disk_count;
	struct tg_lun_entry entries[FIXTURE_LUNS], other_entries[FIXTURE_LUNS];
	struct tg_target target, other_target;
	/* In the order of fixture_spec.initiators; a test that destroys one sets it to NULL. */
	struct tg_nexus *nexus[FIXTURE_INITIATORS];
	/* Another view of the target's LUNs, as many as it has, for a test to fill and remap a
	 * nexus to (tg_nexus_remap): a nexus may look at its view until teardown. */
	struct tg_lun_entry view_entries[FIXTURE_LUNS];
	struct tg_lun_map view;
	struct fake_cmd cmd, cmd2, cmd3, cmd4;
};

struct fixture *fixture_new(const struct fixture_spec *spec);
int fixture_teardown(void **state);

/*
 * Builds the 6/10/12/16-byte CDB of an LBA-addressed opcode (READ, WRITE, VERIFY, ...), sized
 * by its group code, with lba and length where those commands keep them and byte1 in byte 1
 * (6-byte CDBs have LBA bits there instead); returns its length.
 */
size_t lba_cdb(uint8_t *cdb, uint8_t opcode, uint8_t byte1, uint64_t lba, uint32_t length);

/* len bytes (malloc'ed) that differ from block to block and byte to byte, by seed. */
uint8_t *pattern(size_t len, uint8_t seed);

/* A test on a fresh fixture, built by the `setup` its file defines from its spec. */
#define fixture_test(test) cmocka_unit_test_setup_teardown(test, setup, fixture_teardown)

/* The assert macros evaluate their argument more than once: commands go through these. */
static inline void want_good(const struct fake_response *r) { assert_good(r); }

static inline void want_check(const struct fake_response *r, uint8_t key, uint8_t asc,
			      uint8_t ascq)
{
	assert_check(r, key, asc, ascq);
}

#endif
