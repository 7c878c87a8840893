/* Unit tests for access rules and LUN views: rule matching, groups, default LUNs, shared devices, write-class flags and tg_nexus_remap. */
#include "fixture.h"

#include <unistd.h>

#include "config/config.h"
#include "core/runtime.h"

/* ---- rule matching on hand-built targets ---- */

struct rules_fixture {
	struct tg_device dev_a, dev_b;
	struct tg_lun_entry first_entries[1], second_entries[2], default_entries[1];
	char *first_names[2], *second_names[2];
	struct tg_access_rule rules[2];
	struct tg_target target;
};

static void rules_init(struct rules_fixture *f, bool with_default_luns)
{
	memset(f, 0, sizeof(*f));
	f->first_entries[0] = (struct tg_lun_entry){ 4, &f->dev_a, true };
	f->second_entries[0] = (struct tg_lun_entry){ 0, &f->dev_b, false };
	f->second_entries[1] = (struct tg_lun_entry){ 9, &f->dev_a, false };
	f->default_entries[0] = (struct tg_lun_entry){ 0, &f->dev_a, false };
	/* Config-loaded names are lowercase; "shared" is named by both rules. */
	f->first_names[0] = "iqn.2026-11.org.test:shared";
	f->first_names[1] = "iqn.2026-11.org.test:first-only";
	f->second_names[0] = "iqn.2026-11.org.test:second-only";
	f->second_names[1] = "iqn.2026-11.org.test:shared";
	f->rules[0] = (struct tg_access_rule){ f->first_names, 2, { 1, f->first_entries } };
	f->rules[1] = (struct tg_access_rule){ f->second_names, 2, { 2, f->second_entries } };
	f->target.name = "iqn.2026-11.org.targe:rules";
	f->target.rules = f->rules;
	f->target.rule_count = 2;
	if (with_default_luns)
		f->target.luns = (struct tg_lun_map){ 1, f->default_entries };
}

static void test_first_matching_rule_wins(void **state)
{
	struct rules_fixture f;
	rules_init(&f, true);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:shared"),
			 &f.rules[0].map);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:first-only"),
			 &f.rules[0].map);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:second-only"),
			 &f.rules[1].map);

	/* Swapping the rules swaps the winner: order, not specificity, decides. */
	struct tg_access_rule swapped[2] = { f.rules[1], f.rules[0] };
	f.target.rules = swapped;
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:shared"),
			 &swapped[0].map);
}

static void test_initiator_names_match_case_insensitively(void **state)
{
	struct rules_fixture f;
	rules_init(&f, true);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "IQN.2026-11.ORG.TEST:Second-Only"),
			 &f.rules[1].map);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:SHARED"),
			 &f.rules[0].map);
	/* A prefix or an extension of a named initiator is another initiator. */
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:share"),
			 &f.target.luns);
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:shared2"),
			 &f.target.luns);
}

static void test_unnamed_initiator_sees_default_luns(void **state)
{
	struct rules_fixture f;
	rules_init(&f, true);
	const struct tg_lun_map *map = tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:x");
	assert_ptr_equal(map, &f.target.luns);
	assert_int_equal(map->count, 1);
	assert_ptr_equal(map->entries[0].dev, &f.dev_a);

	/* With no rules at all everyone sees the default LUNs. */
	f.target.rule_count = 0;
	assert_ptr_equal(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:shared"),
			 &f.target.luns);
}

static void test_unnamed_initiator_refused_without_default_luns(void **state)
{
	struct rules_fixture f;
	rules_init(&f, false);
	assert_null(tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:stranger"));
	assert_null(tg_nexus_create(&f.target, TG_TRANSPORT_ISCSI, "iqn.2026-11.org.test:stranger",
				    NULL));
	/* Named initiators still get their rule's view, and a nexus built on it. */
	struct tg_nexus *nexus = tg_nexus_create(&f.target, TG_TRANSPORT_SRP,
						 "iqn.2026-11.org.test:second-only", NULL);
	assert_non_null(nexus);
	assert_ptr_equal(nexus->map, &f.rules[1].map);
	assert_ptr_equal(nexus->target, &f.target);
	assert_int_equal(nexus->transport, TG_TRANSPORT_SRP);
	tg_nexus_destroy(nexus);
}

static void test_rule_without_luns_admits_but_hides_everything(void **state)
{
	struct rules_fixture f;
	rules_init(&f, false);
	f.rules[1].map.count = 0; /* luns = () */
	const struct tg_lun_map *map =
		tg_target_resolve_view(&f.target, "iqn.2026-11.org.test:second-only");
	assert_ptr_equal(map, &f.rules[1].map);
	assert_int_equal(map->count, 0);
	struct tg_nexus *nexus = tg_nexus_create(&f.target, TG_TRANSPORT_ISCSI,
						 "iqn.2026-11.org.test:second-only", NULL);
	assert_non_null(nexus);
	assert_null(tg_lun_map_find(nexus->map, 0));
	tg_nexus_destroy(nexus);
}

static void test_lun_map_find(void **state)
{
	struct tg_device dev;
	struct tg_lun_entry entries[] = {
		{ 0, &dev, false }, { 3, &dev, false }, { 17, &dev, true },
		{ 255, &dev, false }, { 16383, &dev, false },
	};
	struct tg_lun_map map = { 5, entries };
	for (size_t i = 0; i < 5; i++)
		assert_ptr_equal(tg_lun_map_find(&map, entries[i].lun), &entries[i]);
	static const uint64_t absent[] = { 1, 2, 4, 16, 18, 254, 256, 16382, 16384, UINT64_MAX };
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		assert_null(tg_lun_map_find(&map, absent[i]));
	struct tg_lun_map empty = { 0, entries };
	assert_null(tg_lun_map_find(&empty, 0));
}

/* ---- views built from a config file ---- */

static char temp_dir[] = "/tmp/targe-test-access.XXXXXX";

/* Several paths may be in use at once (one format call names three images). */
static const char *temp_path(const char *name)
{
	static char paths[4][256];
	static unsigned next;
	char *path = paths[next++ % 4];
	snprintf(path, sizeof(paths[0]), "%s/%s", temp_dir, name);
	return path;
}

struct runtime_fixture {
	struct tg_config *config;
	struct tg_runtime *rt;
};

static void runtime_load(struct runtime_fixture *f)
{
	FILE *out = fopen(temp_path("access.conf"), "w");
	assert_non_null(out);
	/* LUNs deliberately out of order, a group with mixed-case names, d0 under five LUN
	 * numbers across two targets. */
	fprintf(out,
		"devices = (\n"
		"  { name = \"d0\"; backend = \"file\"; path = \"%s\"; size = \"1M\"; },\n"
		"  { name = \"d1\"; backend = \"file\"; path = \"%s\"; size = \"1M\"; },\n"
		"  { name = \"d2\"; backend = \"file\"; path = \"%s\"; size = \"1M\"; }\n"
		");\n"
		"initiator_groups = (\n"
		"  { name = \"web\"; initiators = [ \"iqn.2026-11.org.test:Web1\",\n"
		"                                  \"IQN.2026-11.ORG.TEST:WEB2\" ]; }\n"
		");\n"
		"targets = (\n"
		"  { name = \"iqn.2026-11.org.targe:shared\";\n"
		"    luns = ( { lun = 0; device = \"d0\"; } );\n"
		"    access = (\n"
		"      { group = \"web\";\n"
		"        luns = ( { lun = 7; device = \"d0\"; read_only = true; },\n"
		"                 { lun = 2; device = \"d1\"; } ); },\n"
		"      { initiators = [ \"iqn.2026-11.org.test:db\", \"iqn.2026-11.org.test:web1\" ];\n"
		"        luns = ( { lun = 5; device = \"d0\"; }, { lun = 1; device = \"d2\"; } ); }\n"
		"    );\n"
		"  },\n"
		"  { name = \"iqn.2026-11.org.targe:private\";\n"
		"    access = ( { initiators = [ \"iqn.2026-11.org.test:db\" ];\n"
		"                 luns = ( { lun = 300; device = \"d0\"; },\n"
		"                          { lun = 0; device = \"d1\"; read_only = true; } ); } );\n"
		"  }\n"
		");\n",
		temp_path("d0.img"), temp_path("d1.img"), temp_path("d2.img"));
	assert_int_equal(fclose(out), 0);
	char err[512] = "";
	if (tg_config_load(temp_path("access.conf"), &f->config, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	if (tg_runtime_build(f->config, &f->rt, err, sizeof(err)) != 0)
		fail_msg("runtime: %s", err);
}

static void runtime_unload(struct runtime_fixture *f)
{
	tg_runtime_destroy(f->rt);
	tg_config_free(f->config);
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "d%d.img", i);
		unlink(temp_path(name));
	}
	unlink(temp_path("access.conf"));
}

static struct tg_device *runtime_device(const struct tg_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->device_count; i++)
		if (strcmp(rt->devices[i]->name, name) == 0)
			return rt->devices[i];
	fail_msg("no device %s", name);
	return NULL;
}

/* Asserts that map holds exactly the given LUN numbers, in ascending order. */
static void assert_luns(const struct tg_lun_map *map, size_t count, const uint64_t *luns)
{
	assert_non_null(map);
	assert_int_equal(map->count, count);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(map->entries[i].lun, luns[i]);
}

static void test_group_rule_expands_to_its_members(void **state)
{
	struct runtime_fixture f;
	runtime_load(&f);
	struct tg_target *shared = tg_runtime_find_target(f.rt, "iqn.2026-11.org.targe:shared");
	assert_non_null(shared);
	assert_int_equal(shared->rule_count, 2);
	const struct tg_access_rule *group_rule = &shared->rules[0];
	assert_int_equal(group_rule->initiator_count, 2);

	/* Both members, in any case, get the group rule's view, sorted by LUN. */
	static const uint64_t group_luns[] = { 2, 7 };
	static const char *const members[] = {
		"iqn.2026-11.org.test:web1", "iqn.2026-11.org.test:WEB1",
		"iqn.2026-11.org.test:web2", "Iqn.2026-11.Org.Test:Web2",
	};
	for (size_t i = 0; i < 4; i++) {
		const struct tg_lun_map *map = tg_target_resolve_view(shared, members[i]);
		assert_ptr_equal(map, &group_rule->map);
		assert_luns(map, 2, group_luns);
	}
	/* web1 is named again by the second rule, which never wins for it; db gets that rule. */
	static const uint64_t db_luns[] = { 1, 5 };
	const struct tg_lun_map *db = tg_target_resolve_view(shared, "iqn.2026-11.org.test:db");
	assert_ptr_equal(db, &shared->rules[1].map);
	assert_luns(db, 2, db_luns);
	/* A name not in the group nor a rule sees the default LUNs. */
	static const uint64_t default_luns[] = { 0 };
	const struct tg_lun_map *other = tg_target_resolve_view(shared, "iqn.2026-11.org.test:web3");
	assert_ptr_equal(other, &shared->luns);
	assert_luns(other, 1, default_luns);
	runtime_unload(&f);
}

static void test_target_without_luns_refuses_unnamed(void **state)
{
	struct runtime_fixture f;
	runtime_load(&f);
	struct tg_target *private = tg_runtime_find_target(f.rt, "iqn.2026-11.org.targe:private");
	assert_non_null(private);
	assert_int_equal(private->luns.count, 0);
	assert_null(tg_target_resolve_view(private, "iqn.2026-11.org.test:web1"));
	assert_null(tg_target_resolve_view(private, "iqn.2026-11.org.test:stranger"));
	static const uint64_t db_luns[] = { 0, 300 };
	assert_luns(tg_target_resolve_view(private, "IQN.2026-11.ORG.TEST:DB"), 2, db_luns);
	runtime_unload(&f);
}

static void test_same_device_under_many_luns_is_one_device(void **state)
{
	struct runtime_fixture f;
	runtime_load(&f);
	struct tg_device *d0 = runtime_device(f.rt, "d0");
	struct tg_device *d1 = runtime_device(f.rt, "d1");
	struct tg_target *shared = tg_runtime_find_target(f.rt, "iqn.2026-11.org.targe:shared");
	struct tg_target *private = tg_runtime_find_target(f.rt, "iqn.2026-11.org.targe:private");

	/* d0: default LUN 0, web LUN 7 (read-only), db LUN 5 on one target; db LUN 300 on the
	 * other. Every one is the same struct tg_device, so reservations, UAs and data are one. */
	const struct tg_lun_entry *seen[] = {
		tg_lun_map_find(&shared->luns, 0),
		tg_lun_map_find(&shared->rules[0].map, 7),
		tg_lun_map_find(&shared->rules[1].map, 5),
		tg_lun_map_find(&private->rules[0].map, 300),
	};
	for (size_t i = 0; i < 4; i++) {
		assert_non_null(seen[i]);
		assert_ptr_equal(seen[i]->dev, d0);
	}
	assert_true(seen[1]->read_only);
	assert_false(seen[0]->read_only || seen[2]->read_only || seen[3]->read_only);
	/* read_only belongs to the mapping, not the device: d1 is read-only on one target only. */
	const struct tg_lun_entry *d1_shared = tg_lun_map_find(&shared->rules[0].map, 2);
	const struct tg_lun_entry *d1_private = tg_lun_map_find(&private->rules[0].map, 0);
	assert_ptr_equal(d1_shared->dev, d1);
	assert_ptr_equal(d1_private->dev, d1);
	assert_false(d1_shared->read_only);
	assert_true(d1_private->read_only);
	assert_false(d1->backend_read_only);

	/* A device-wide UA reaches every nexus that maps d0, at the LUN it maps it under. */
	struct tg_nexus *web = tg_nexus_create(shared, TG_TRANSPORT_ISCSI,
					       "iqn.2026-11.org.test:web2", NULL);
	struct tg_nexus *db = tg_nexus_create(private, TG_TRANSPORT_ISCSI,
					      "iqn.2026-11.org.test:db", NULL);
	assert_non_null(web);
	assert_non_null(db);
	tg_ua_establish_device(d0, TG_SR_UA_CAPACITY_CHANGED, NULL);
	size_t web_index = (size_t)(tg_lun_map_find(web->map, 7) - web->map->entries);
	size_t db_index = (size_t)(tg_lun_map_find(db->map, 300) - db->map->entries);
	assert_int_equal(tg_ua_take(web, web_index), TG_SR_UA_CAPACITY_CHANGED);
	assert_int_equal(tg_ua_take(db, db_index), TG_SR_UA_CAPACITY_CHANGED);
	assert_false(tg_ua_pending(web, 1 - web_index));
	assert_false(tg_ua_pending(db, 1 - db_index));
	tg_nexus_destroy(web);
	tg_nexus_destroy(db);
	runtime_unload(&f);
}

/* ---- write-class flags: what a read-only mapping refuses ---- */

static void test_medium_changing_opcodes_are_write_class(void **state)
{
	/* Every command that can change the medium, by SBC-4; the ones a command set implements
	 * must carry TG_CMD_WRITE_CLASS or a read-only mapping would let them through. */
	static const uint8_t medium_changing[] = {
		SCSI_FORMAT_UNIT, SCSI_WRITE_6, SCSI_WRITE_10, SCSI_WRITE_VERIFY_10,
		SCSI_WRITE_SAME_10, SCSI_UNMAP, SCSI_SANITIZE, SCSI_COMPARE_AND_WRITE,
		SCSI_WRITE_16, SCSI_ORWRITE_16, SCSI_WRITE_VERIFY_16, SCSI_WRITE_SAME_16,
		SCSI_WRITE_12, SCSI_WRITE_VERIFY_12,
		0x9c, /* WRITE ATOMIC(16) */
	};
	unsigned implemented = 0;
	for (size_t i = 0; i < sizeof(medium_changing); i++) {
		const struct tg_cmd_desc *d = &tg_sbc_cmds[medium_changing[i]];
		if (!d->name)
			continue;
		implemented++;
		if (!(d->flags & TG_CMD_WRITE_CLASS))
			fail_msg("%s (%02Xh) changes the medium but lacks TG_CMD_WRITE_CLASS", d->name,
				 medium_changing[i]);
	}
	/* The four WRITEs at least exist, so this check is never vacuous. */
	assert_true(implemented >= 4);

	/* And nothing that only reads or reports is refused on a read-only mapping. */
	static const uint8_t reading[] = {
		SCSI_TEST_UNIT_READY, SCSI_REQUEST_SENSE, SCSI_READ_6, SCSI_INQUIRY,
		SCSI_MODE_SENSE_6, SCSI_READ_CAPACITY_10, SCSI_READ_10, SCSI_VERIFY_10,
		SCSI_SYNCHRONIZE_CACHE_10, SCSI_MODE_SENSE_10, SCSI_READ_16, SCSI_VERIFY_16,
		SCSI_SYNCHRONIZE_CACHE_16, SCSI_SERVICE_ACTION_IN_16, SCSI_REPORT_LUNS,
		SCSI_READ_12, SCSI_VERIFY_12, SCSI_PERSISTENT_RESERVE_IN, SCSI_MAINTENANCE_IN,
	};
	for (size_t i = 0; i < sizeof(reading); i++) {
		const struct tg_cmd_desc *d = &tg_sbc_cmds[reading[i]];
		if (d->name && (d->flags & TG_CMD_WRITE_CLASS))
			fail_msg("%s (%02Xh) does not change the medium but is write-class", d->name,
				 reading[i]);
	}
}

/* ---- tg_nexus_remap ---- */

static const struct fixture_spec remap_spec = {
	.target = "iqn.2026-11.org.targe:remap",
	.disks = { { "d0", 512, 64 }, { "d1", 512, 64 } },
	.luns = { { 0, 0, false }, { 1, 1, false } },
	.lun_count = 2,
	.initiators = { { "iqn.2026-11.org.test:i", NULL, false } },
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&remap_spec);
	/* Start from empty queues whatever a new nexus is given (e.g. POWER ON RESET). */
	for (size_t i = 0; i < f->target.luns.count; i++)
		while (tg_ua_take(f->nexus[0], i) != TG_SR_OK)
			;
	*state = f;
	return 0;
}

static struct fake_response *test_unit_ready(struct fixture *f, uint64_t lun)
{
	static const uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
}

/* The assert macros evaluate their argument more than once: submit first, then check. */
#define assert_tur_check(f, lun, key, asc, ascq)                                           \
	do {                                                                               \
		struct fake_response *r_ = test_unit_ready(f, lun);                       \
		assert_check(r_, key, asc, ascq);                                          \
	} while (0)
#define assert_tur_good(f, lun)                                                            \
	do {                                                                               \
		struct fake_response *r_ = test_unit_ready(f, lun);                       \
		assert_good(r_);                                                           \
	} while (0)

static size_t index_of(const struct tg_nexus *nexus, uint64_t lun)
{
	const struct tg_lun_entry *e = tg_lun_map_find(nexus->map, lun);
	assert_non_null(e);
	return (size_t)(e - nexus->map->entries);
}

static void test_remap_reports_luns_changed_on_every_lun(void **state)
{
	struct fixture *f = *state;
	/* LUN 1 goes away, d1 comes back as LUN 2; LUN 0 stays d0. */
	f->view_entries[0] = (struct tg_lun_entry){ 0, &f->dev[0], false };
	f->view_entries[1] = (struct tg_lun_entry){ 2, &f->dev[1], false };
	tg_ua_establish(f->nexus[0], index_of(f->nexus[0], 0), TG_SR_UA_POWER_ON_RESET);
	tg_ua_establish(f->nexus[0], index_of(f->nexus[0], 1), TG_SR_UA_BUS_RESET);

	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	assert_ptr_equal(f->nexus[0]->map, &f->view);
	assert_true(tg_ua_pending(f->nexus[0], index_of(f->nexus[0], 0)));
	assert_true(tg_ua_pending(f->nexus[0], index_of(f->nexus[0], 2)));

	/* LUN 2 is new to this nexus: only the inventory change, not LUN 1's old reset. */
	assert_int_equal(tg_ua_take(f->nexus[0], index_of(f->nexus[0], 2)),
			 TG_SR_UA_REPORTED_LUNS_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[0], index_of(f->nexus[0], 2)), TG_SR_OK);
	/* LUN 0 is the same unit and keeps its reset; the inventory change, reported once on
	 * LUN 2, is not reported again (SAM-5, LUICLR). */
	assert_int_equal(tg_ua_take(f->nexus[0], index_of(f->nexus[0], 0)),
			 TG_SR_UA_POWER_ON_RESET);
	assert_int_equal(tg_ua_take(f->nexus[0], index_of(f->nexus[0], 0)), TG_SR_OK);

	/* Commands now resolve through the new view. */
	assert_tur_check(f, 1, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	assert_tur_good(f, 2);
}

static void test_remap_ua_reported_by_commands_and_cleared_by_report_luns(void **state)
{
	struct fixture *f = *state;
	f->view_entries[0] = (struct tg_lun_entry){ 0, &f->dev[0], false };
	f->view_entries[1] = (struct tg_lun_entry){ 5, &f->dev[0], true };
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);

	/* The first command to any LUN of the new view sees 3F/0E. */
	assert_tur_check(f, 5, SCSI_SK_UNIT_ATTENTION, 0x3f, 0x0e);
	assert_tur_good(f, 5);
	assert_tur_good(f, 0);

	/* Again, but now REPORT LUNS (which never reports a UA itself) comes first: it answers
	 * with the new inventory and the condition is gone from every LUN (SPC-4 6.33). */
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->target.luns), 0);
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	static const uint8_t report_luns[12] = { SCSI_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0, 64 };
	struct fake_response *r = fake_submit(&f->cmd, f->nexus[0], 0, report_luns,
					      sizeof(report_luns), TG_DIR_READ, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 24);
	assert_int_equal(get_be32(r->data), 16);
	assert_int_equal(r->data[8 + 1], 0);
	assert_int_equal(r->data[16 + 1], 5);
	assert_tur_good(f, 0);
	assert_tur_good(f, 5);
}

static void test_remap_same_inventory(void **state)
{
	struct fixture *f = *state;
	/* A reload that rebuilt the same view: no UA at all, pending ones stay. */
	f->view_entries[0] = f->entries[0];
	f->view_entries[1] = f->entries[1];
	tg_ua_establish(f->nexus[0], 1, TG_SR_UA_BUS_RESET);
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	assert_ptr_equal(f->nexus[0]->map, &f->view);
	assert_false(tg_ua_pending(f->nexus[0], 0));
	assert_int_equal(tg_ua_take(f->nexus[0], 1), TG_SR_UA_BUS_RESET);
	assert_false(tg_ua_pending(f->nexus[0], 1));

	/* Only read_only flips on LUN 1: its WP bit changed, the inventory did not. */
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->target.luns), 0);
	f->view_entries[1].read_only = true;
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	assert_false(tg_ua_pending(f->nexus[0], 0));
	assert_int_equal(tg_ua_take(f->nexus[0], 1), TG_SR_UA_MODE_PARAMETERS_CHANGED);
	assert_false(tg_ua_pending(f->nexus[0], 1));
	uint8_t block[512] = { 0 };
	static const uint8_t write10[10] = { SCSI_WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct fake_response *r = fake_submit_write(&f->cmd, f->nexus[0], 1, write10,
						    sizeof(write10), block, sizeof(block));
	assert_check(r, SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	assert_int_equal(f->disk[1].submitted[TG_IO_WRITE], 0);
}

static void test_remap_device_swapped_under_same_lun(void **state)
{
	struct fixture *f = *state;
	/* LUN 1 now leads to d0: another logical unit, so LUN 1's pending UA is dropped. */
	f->view_entries[0] = f->entries[0];
	f->view_entries[1] = (struct tg_lun_entry){ 1, &f->dev[0], false };
	tg_ua_establish(f->nexus[0], 1, TG_SR_UA_BUS_RESET);
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	assert_true(tg_ua_pending(f->nexus[0], 0));
	assert_int_equal(tg_ua_take(f->nexus[0], 1), TG_SR_UA_REPORTED_LUNS_CHANGED);
	assert_false(tg_ua_pending(f->nexus[0], 1));
	assert_false(tg_ua_pending(f->nexus[0], 0));

	/* Device-wide UAs follow the new view: d1 is no longer mapped, d0 is mapped twice. */
	tg_ua_establish_device(&f->dev[1], TG_SR_UA_CAPACITY_CHANGED, NULL);
	assert_false(tg_ua_pending(f->nexus[0], 0));
	assert_false(tg_ua_pending(f->nexus[0], 1));
	tg_ua_establish_device(&f->dev[0], TG_SR_UA_CAPACITY_CHANGED, NULL);
	assert_int_equal(tg_ua_take(f->nexus[0], 0), TG_SR_UA_CAPACITY_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[0], 1), TG_SR_UA_CAPACITY_CHANGED);
}

static void test_remap_to_empty_view_and_back(void **state)
{
	struct fixture *f = *state;
	f->view.count = 0;
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->view), 0);
	assert_ptr_equal(f->nexus[0]->map, &f->view);
	assert_tur_check(f, 0, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	/* And back: the first command on either LUN reports the change, once. */
	assert_int_equal(tg_nexus_remap(f->nexus[0], &f->target.luns), 0);
	assert_true(tg_ua_pending(f->nexus[0], 0));
	assert_true(tg_ua_pending(f->nexus[0], 1));
	assert_tur_check(f, 1, SCSI_SK_UNIT_ATTENTION, 0x3f, 0x0e);
	assert_tur_good(f, 0);
	assert_tur_good(f, 1);
}

static int make_temp_dir(void **state)
{
	return mkdtemp(temp_dir) ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
	return rmdir(temp_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_matching_rule_wins),
		cmocka_unit_test(test_initiator_names_match_case_insensitively),
		cmocka_unit_test(test_unnamed_initiator_sees_default_luns),
		cmocka_unit_test(test_unnamed_initiator_refused_without_default_luns),
		cmocka_unit_test(test_rule_without_luns_admits_but_hides_everything),
		cmocka_unit_test(test_lun_map_find),
		cmocka_unit_test(test_group_rule_expands_to_its_members),
		cmocka_unit_test(test_target_without_luns_refuses_unnamed),
		cmocka_unit_test(test_same_device_under_many_luns_is_one_device),
		cmocka_unit_test(test_medium_changing_opcodes_are_write_class),
		fixture_test(test_remap_reports_luns_changed_on_every_lun),
		fixture_test(test_remap_ua_reported_by_commands_and_cleared_by_report_luns),
		fixture_test(test_remap_same_inventory),
		fixture_test(test_remap_device_swapped_under_same_lun),
		fixture_test(test_remap_to_empty_view_and_back),
	};
	return cmocka_run_group_tests_name("access", tests, make_temp_dir, remove_temp_dir);
}
