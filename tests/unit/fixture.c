/* Builds and takes apart the shared command-level fixture of fixture.h from a test file's fixture_spec. */
#include "fixture.h"

#include "core/reservation.h"

static void map_luns(struct tg_lun_entry *entries, struct fixture *f,
		     const struct fixture_lun_spec *luns, unsigned count)
{
	assert_true(count <= FIXTURE_LUNS);
	for (unsigned i = 0; i < count; i++) {
		assert_true(luns[i].disk < f->disk_count);
		entries[i] = (struct tg_lun_entry){ luns[i].lun, &f->dev[luns[i].disk],
						    luns[i].read_only };
	}
}

struct fixture *fixture_new(const struct fixture_spec *spec)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	for (const struct fixture_disk_spec *d = spec->disks;
	     d < spec->disks + FIXTURE_DISKS && d->name; d++, f->disk_count++)
		fake_device_init(&f->dev[f->disk_count], &f->disk[f->disk_count], d->name,
				 d->block_size, d->blocks);
	map_luns(f->entries, f, spec->luns, spec->lun_count);
	fixture_target_init(&f->target, spec->target, f->entries, spec->lun_count);
	f->view = (struct tg_lun_map){ spec->lun_count, f->view_entries };
	f->target.tpgt = spec->tpgt;
	if (spec->other_target) {
		map_luns(f->other_entries, f, spec->other_luns, spec->other_lun_count);
		fixture_target_init(&f->other_target, spec->other_target, f->other_entries,
				    spec->other_lun_count);
		f->other_target.tpgt = spec->tpgt;
	}
	for (unsigned i = 0; i < FIXTURE_INITIATORS && spec->initiators[i].name; i++) {
		const struct fixture_initiator_spec *in = &spec->initiators[i];
		assert_true(!in->of_other_target || spec->other_target);
		f->nexus[i] = fixture_nexus(in->of_other_target ? &f->other_target : &f->target,
					    in->name, in->port);
	}
	return f;
}

int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	fake_cmd_reset(&f->cmd);
	fake_cmd_reset(&f->cmd2);
	fake_cmd_reset(&f->cmd3);
	fake_cmd_reset(&f->cmd4);
	for (unsigned i = 0; i < FIXTURE_INITIATORS; i++)
		if (f->nexus[i])
			tg_nexus_destroy(f->nexus[i]);
	/* Reservation state outlives the nexuses; it belongs to the device. */
	for (unsigned i = 0; i < f->disk_count; i++) {
		tg_pr_detach(&f->dev[i]);
		fake_device_fini(&f->disk[i]);
	}
	free(f);
	return 0;
}

size_t lba_cdb(uint8_t *cdb, uint8_t opcode, uint8_t byte1, uint64_t lba, uint32_t length)
{
	memset(cdb, 0, 16);
	cdb[0] = opcode;
	switch (opcode >> 5) {
	case 0:
		put_be24(cdb + 1, (uint32_t)lba & 0x1fffff);
		cdb[4] = (uint8_t)length;
		return 6;
	case 1:
	case 2:
		cdb[1] = byte1;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)length);
		return 10;
	case 5:
		cdb[1] = byte1;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be32(cdb + 6, length);
		return 12;
	default:
		cdb[1] = byte1;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, length);
		return 16;
	}
}

uint8_t *pattern(size_t len, uint8_t seed)
{
	uint8_t *p = malloc(len);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 31 + (i >> 9));
	return p;
}
