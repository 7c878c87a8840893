/* Unit tests for the control protocol: request parsing, the JSON writer, replies from a live core, I/O counters, and the socket's start/stop rules. */
#include "fixture.h"

#include <ev.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"
#include "core/control.h"
#include "core/json.h"
#include "core/runtime.h"
#include "json_check.h"

/* ---- request parsing ---- */

static int parse(const char *line, struct tg_control_request *req, const char **error)
{
	*error = NULL;
	return tg_control_parse_request(line, strlen(line), req, error);
}

static void test_parse_known_verbs(void **state)
{
	struct tg_control_request req;
	const char *error;
	static const struct {
		const char *line;
		enum tg_control_verb verb;
	} cases[] = {
		{ "targets", TG_CONTROL_TARGETS },   { "devices", TG_CONTROL_DEVICES },
		{ "sessions", TG_CONTROL_SESSIONS }, { "stats", TG_CONTROL_STATS },
		{ "  stats\t ", TG_CONTROL_STATS },  { "sessions\r", TG_CONTROL_SESSIONS },
		{ "reload", TG_CONTROL_RELOAD },     { "remove-lun t 1", TG_CONTROL_REMOVE_LUN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].line, &req, &error), 0);
		assert_int_equal(req.verb, cases[i].verb);
	}
	assert_int_equal(parse("add-lun  iqn.x 3 disk0 ", &req, &error), 0);
	assert_int_equal(req.verb, TG_CONTROL_ADD_LUN);
	assert_int_equal(req.args_len, strlen("iqn.x 3 disk0"));
	assert_memory_equal(req.args, "iqn.x 3 disk0", req.args_len);
}

static void test_parse_refusals(void **state)
{
	struct tg_control_request req;
	const char *error;
	assert_int_equal(parse("", &req, &error), -1);
	assert_string_equal(error, "empty request");
	assert_int_equal(parse(" \t ", &req, &error), -1);
	assert_string_equal(error, "empty request");
	assert_int_equal(parse("TARGETS", &req, &error), -1); /* verbs are lowercase */
	assert_non_null(strstr(error, "unknown request"));
	assert_int_equal(parse("stat", &req, &error), -1);
	assert_int_equal(parse("statsx", &req, &error), -1);
	assert_int_equal(parse("stats now", &req, &error), -1);
	assert_string_equal(error, "this request takes no arguments");
	assert_int_equal(parse("stats\xc3\xa9", &req, &error), -1);
	assert_string_equal(error, "request is not printable ASCII text");
	assert_int_equal(tg_control_parse_request("stats\0x", 7, &req, &error), -1);
	assert_string_equal(error, "request is not printable ASCII text");

	char line[TG_CONTROL_REQUEST_MAX + 2];
	memset(line, ' ', sizeof(line));
	memcpy(line, "stats", 5);
	assert_int_equal(tg_control_parse_request(line, TG_CONTROL_REQUEST_MAX, &req, &error), 0);
	assert_int_equal(tg_control_parse_request(line, TG_CONTROL_REQUEST_MAX + 1, &req, &error), -1);
	assert_string_equal(error, "request too long");
}

/* ---- JSON writer ---- */

static char *finish(struct tg_json *j)
{
	size_t len = 0;
	char *text = tg_json_finish(j, &len);
	if (text) {
		assert_int_equal(len, strlen(text));
		assert_true(json_check_document(text, len));
	}
	return text;
}

static void test_json_structure(void **state)
{
	struct tg_json j;
	tg_json_init(&j);
	tg_json_begin_object(&j, NULL);
	tg_json_bool(&j, "ok", true);
	tg_json_begin_array(&j, "list");
	tg_json_uint(&j, NULL, 0);
	tg_json_uint(&j, NULL, UINT64_MAX);
	tg_json_begin_object(&j, NULL);
	tg_json_end_object(&j);
	tg_json_begin_array(&j, NULL);
	tg_json_end_array(&j);
	tg_json_null(&j, NULL);
	tg_json_end_array(&j);
	tg_json_string(&j, "none", NULL);
	tg_json_end_object(&j);
	char *text = finish(&j);
	assert_string_equal(text, "{\"ok\":true,\"list\":[0,18446744073709551615,{},[],null],"
				  "\"none\":null}\n");
	free(text);
}

static void test_json_escapes_and_repairs_strings(void **state)
{
	struct tg_json j;
	tg_json_init(&j);
	tg_json_begin_array(&j, NULL);
	tg_json_string(&j, NULL, "q\"b\\s/\n\t\x01\x7f");
	tg_json_string(&j, NULL, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe");         /* kept */
	tg_json_string(&j, NULL, "\xc3");                                             /* cut */
	tg_json_string(&j, NULL, "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xff|\x80"); /* invalid */
	tg_json_string_len(&j, NULL, "a\0b", 3);
	tg_json_end_array(&j);
	char *text = finish(&j);
	assert_string_equal(text, "[\"q\\\"b\\\\s/\\u000a\\u0009\\u0001\\u007f\","
				  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe\","
				  "\"\\ufffd\","
				  "\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|"
				  "\\ufffd|\\ufffd\","
				  "\"a\\u0000b\"]\n");
	free(text);
}

/* Drives the writer from a script: { } [ ] open and close, v a value, m a named value. */
static void json_run(struct tg_json *j, const char *script)
{
	tg_json_init(j);
	for (uint64_t n = 1; *script; script++, n++) {
		switch (*script) {
		case '{':
			tg_json_begin_object(j, NULL);
			break;
		case '}':
			tg_json_end_object(j);
			break;
		case '[':
			tg_json_begin_array(j, NULL);
			break;
		case ']':
			tg_json_end_array(j);
			break;
		case 'v':
			tg_json_uint(j, NULL, n);
			break;
		case 'm':
			tg_json_uint(j, "n", n);
			break;
		default:
			fail_msg("no script step '%c'", *script);
		}
	}
}

/* depth arrays opened, then as many closed. */
static const char *nested(char *script, int depth)
{
	memset(script, '[', depth);
	memset(script + depth, ']', depth);
	script[2 * depth] = '\0';
	return script;
}

static void test_json_misuse_yields_nothing(void **state)
{
	static const char *const misuse[] = {
		"{v}", /* a member without a name */
		"[m]", /* a named array element */
		"{",   /* unclosed */
		"{]",  /* mismatched */
		"vv",  /* doubled */
	};
	struct tg_json j;
	for (size_t i = 0; i < sizeof(misuse) / sizeof(misuse[0]); i++) {
		json_run(&j, misuse[i]);
		if (finish(&j))
			fail_msg("\"%s\" gave a document", misuse[i]);
	}
	char script[2 * (TG_JSON_DEPTH_MAX + 1) + 1];
	/* Too deep... */
	json_run(&j, nested(script, TG_JSON_DEPTH_MAX + 1));
	assert_null(finish(&j));
	/* ...but exactly the limit is fine. */
	json_run(&j, nested(script, TG_JSON_DEPTH_MAX));
	char *text = finish(&j);
	assert_non_null(text);
	free(text);
}

/* ---- replies from a hand-built runtime ---- */

struct control_fixture {
	struct fake_disk disk0, disk1;
	struct tg_device dev0, dev1;
	struct tg_device *devices[2];
	struct tg_lun_entry defaults[1], rule_entries[2];
	char *rule_names[2];
	struct tg_access_rule rule;
	struct tg_target target;
	struct cfg_device cfg_devices[2];
	struct cfg_access cfg_access;
	struct cfg_target cfg_target;
	struct tg_config config;
	struct tg_runtime runtime;
	struct tg_control_context ctx;
	struct tg_nexus *a, *b;
	struct fake_cmd cmd;
};

static int setup(void **state)
{
	struct control_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_device_init(&f->dev0, &f->disk0, "disk0", 512, 2048);
	fake_device_init(&f->dev1, &f->disk1, "pi\"0", 4096, 16);
	f->dev1.protection_type = 2;
	f->dev1.removable = true;
	f->devices[0] = &f->dev0;
	f->devices[1] = &f->dev1;
	f->defaults[0] = (struct tg_lun_entry){ 0, &f->dev0, false };
	f->rule_entries[0] = (struct tg_lun_entry){ 0, &f->dev0, false };
	f->rule_entries[1] = (struct tg_lun_entry){ 5, &f->dev1, true };
	f->rule_names[0] = "iqn.2026-11.test:db1";
	f->rule_names[1] = "iqn.2026-11.test:db2";
	f->rule = (struct tg_access_rule){ f->rule_names, 2, { 2, f->rule_entries } };
	fixture_target_init(&f->target, "iqn.2026-11.org.targe:ctl", f->defaults, 1);
	f->target.transports = TG_TRANSPORT_ISCSI | TG_TRANSPORT_SRP;
	f->target.tpgt = 1;
	f->target.rules = &f->rule;
	f->target.rule_count = 1;
	f->cfg_devices[0] = (struct cfg_device){ .name = "disk0", .path = "var/disk0.img" };
	f->cfg_devices[1] = (struct cfg_device){ .name = "pi\"0", .path = "/dev/sdz" };
	f->cfg_access = (struct cfg_access){ .group = "db" };
	f->cfg_target = (struct cfg_target){ .name = f->target.name, .access = &f->cfg_access,
					     .access_count = 1 };
	f->config = (struct tg_config){ .io_threads = 3, .devices = f->cfg_devices, .device_count = 2,
					.targets = &f->cfg_target, .target_count = 1 };
	f->runtime = (struct tg_runtime){ .config = &f->config, .devices = f->devices,
					  .device_count = 2, .targets = &f->target,
					  .target_count = 1 };
	f->ctx = (struct tg_control_context){ .runtime = &f->runtime, .started = 100, .now = 163.9 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct control_fixture *f = *state;
	fake_cmd_reset(&f->cmd);
	tg_nexus_destroy(f->a);
	tg_nexus_destroy(f->b);
	fake_device_fini(&f->disk0);
	fake_device_fini(&f->disk1);
	free(f);
	return 0;
}

/* The reply to line, checked to be one valid JSON document ending in a newline. */
static char *reply(struct control_fixture *f, const char *line)
{
	size_t len = 0;
	char *text = tg_control_reply(&f->ctx, line, strlen(line), &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_true(len > 1 && text[len - 1] == '\n');
	assert_true(json_check_document(text, len));
	return text;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("expected %s in %s", part, text);
}

static void test_reply_targets(void **state)
{
	struct control_fixture *f = *state;
	char *text = reply(f, "targets");
	assert_string_equal(
		text,
		"{\"ok\":true,\"request\":\"targets\",\"targets\":[{\"name\":\"iqn.2026-11.org.targe:ctl\","
		"\"tpgt\":1,\"transports\":[\"iscsi\",\"srp\"],\"chap\":false,"
		"\"luns\":[{\"lun\":0,\"device\":\"disk0\",\"read_only\":false}],"
		"\"access\":[{\"group\":\"db\",\"initiators\":[\"iqn.2026-11.test:db1\","
		"\"iqn.2026-11.test:db2\"],\"luns\":[{\"lun\":0,\"device\":\"disk0\",\"read_only\":false},"
		"{\"lun\":5,\"device\":\"pi\\\"0\",\"read_only\":true}]}]}]}\n");
	free(text);
}

static void test_reply_devices(void **state)
{
	struct control_fixture *f = *state;
	char *text = reply(f, "devices");
	assert_contains(text, "{\"name\":\"disk0\",\"backend\":\"fake\",\"path\":\"var/disk0.img\","
			      "\"type\":\"disk\",\"size\":1048576,\"block_size\":512,\"blocks\":2048,"
			      "\"protection\":0,\"removable\":false,\"read_only\":false,");
	assert_contains(text, "{\"name\":\"pi\\\"0\",\"backend\":\"fake\",\"path\":\"/dev/sdz\","
			      "\"type\":\"disk\",\"size\":65536,\"block_size\":4096,\"blocks\":16,"
			      "\"protection\":2,\"removable\":true,");
	free(text);
}

static void test_reply_sessions_follow_the_registry(void **state)
{
	struct control_fixture *f = *state;
	char *text = reply(f, "sessions");
	assert_string_equal(text, "{\"ok\":true,\"request\":\"sessions\",\"sessions\":[]}\n");
	free(text);

	f->a = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:db1",
			       "iqn.2026-11.test:db1,i,0x023d00000001");
	/* Initiator names come off the wire: whatever bytes they hold, the reply stays JSON. */
	f->b = tg_nexus_create(&f->target, TG_TRANSPORT_SRP, "0x\xff\"odd", NULL);
	assert_non_null(f->a);
	assert_non_null(f->b);
	text = reply(f, "sessions");
	char expect_a[512];
	snprintf(expect_a, sizeof(expect_a),
		 "{\"id\":%llu,\"transport\":\"iscsi\",\"initiator\":\"iqn.2026-11.test:db1\","
		 "\"initiator_port\":\"iqn.2026-11.test:db1,i,0x023d00000001\","
		 "\"target\":\"iqn.2026-11.org.targe:ctl\",\"luns\":[{\"lun\":0,\"device\":\"disk0\","
		 "\"read_only\":false},{\"lun\":5,\"device\":\"pi\\\"0\",\"read_only\":true}],"
		 "\"tasks\":0}",
		 (unsigned long long)f->a->id);
	assert_contains(text, expect_a);
	assert_contains(text, "\"transport\":\"srp\",\"initiator\":\"0x\\ufffd\\\"odd\","
			      "\"initiator_port\":\"0x\\ufffd\\\"odd\",\"target\":\"iqn.2026-11.org."
			      "targe:ctl\",\"luns\":[{\"lun\":0,\"device\":\"disk0\",\"read_only\":false}]");
	free(text);

	tg_nexus_destroy(f->a);
	f->a = NULL;
	text = reply(f, "sessions");
	assert_null(strstr(text, "db1"));
	assert_contains(text, "\"transport\":\"srp\"");
	free(text);
}

static uint8_t *put_rw16(uint8_t *cdb, uint8_t opcode, uint64_t lba, uint32_t blocks)
{
	lba_cdb(cdb, opcode, 0, lba, blocks);
	return cdb;
}

static void test_stats_count_completed_reads_and_writes(void **state)
{
	struct control_fixture *f = *state;
	f->a = fixture_nexus(&f->target, "iqn.2026-11.test:other", NULL);
	uint8_t cdb[16];
	static uint8_t payload[8 * 512];
	want_good(fake_submit(&f->cmd, f->a, 0, put_rw16(cdb, 0x88, 0, 8), 16, TG_DIR_READ, 4096));
	want_good(fake_submit(&f->cmd, f->a, 0, put_rw16(cdb, 0x88, 8, 2), 16, TG_DIR_READ, 1024));
	want_good(fake_submit_write(&f->cmd, f->a, 0, put_rw16(cdb, 0x8a, 0, 8), 16, payload,
				    sizeof(payload)));
	/* Failures and commands that move no blocks are not reads or writes. */
	want_check(fake_submit(&f->cmd, f->a, 0, put_rw16(cdb, 0x88, 4000, 8), 16, TG_DIR_READ,
			       4096),
		   0x05, 0x21, 0x00);
	uint8_t tur[16] = { 0 };
	want_good(fake_submit(&f->cmd, f->a, 0, tur, 16, TG_DIR_NONE, 0));
	uint8_t inquiry[16] = { 0x12, 0, 0, 0, 96 };
	want_good(fake_submit(&f->cmd, f->a, 0, inquiry, 16, TG_DIR_READ, 96));

	struct tg_io_counts counts;
	tg_io_counters_read(&f->dev0.io_counters, &counts);
	assert_int_equal(counts.read_commands, 2);
	assert_int_equal(counts.read_bytes, 5120);
	assert_int_equal(counts.write_commands, 1);
	assert_int_equal(counts.write_bytes, 4096);
	tg_io_counters_read(&f->dev1.io_counters, &counts);
	assert_int_equal(counts.read_commands + counts.write_commands, 0);

	char *text = reply(f, "stats");
	assert_contains(text, "\"uptime_seconds\":63,\"io_threads\":3,\"io_thread_cpus\":[],\"sessions\":1,");
	assert_contains(text, "{\"name\":\"disk0\",\"read_commands\":2,\"read_bytes\":5120,"
			      "\"write_commands\":1,\"write_bytes\":4096}");
	assert_contains(text, "{\"name\":\"pi\\\"0\",\"read_commands\":0,\"read_bytes\":0,"
			      "\"write_commands\":0,\"write_bytes\":0}");
	assert_contains(text, "\"buffers\":{\"in_flight_bytes\":");
	free(text);

	const unsigned cpus[] = { 1, 0 };
	f->config.io_thread_cpus = (unsigned *)cpus;
	f->config.io_thread_cpu_count = 2;
	text = reply(f, "stats");
	assert_contains(text, "\"io_threads\":3,\"io_thread_cpus\":[1,0],\"sessions\":1,");
	free(text);
	f->config.io_thread_cpus = NULL;
	f->config.io_thread_cpu_count = 0;
}

static void test_reply_errors(void **state)
{
	struct control_fixture *f = *state;
	char *text = reply(f, "frobnicate");
	assert_string_equal(text, "{\"ok\":false,\"error\":\"unknown request (known: targets, "
				  "devices, sessions, stats)\"}\n");
	free(text);
	text = reply(f, "add-lun iqn.x 1 disk0");
	assert_string_equal(text, "{\"ok\":false,\"error\":\"add-lun is not implemented yet\","
				  "\"not_implemented\":true}\n");
	free(text);
	text = reply(f, "reload");
	assert_contains(text, "\"error\":\"reload is not implemented yet\"");
	free(text);
	size_t len;
	char junk[] = { 0x00, (char)0xff, '{', '"', '\n' };
	text = tg_control_reply(&f->ctx, junk, sizeof(junk), &len);
	assert_non_null(text);
	assert_true(json_check_document(text, len));
	assert_contains(text, "\"ok\":false");
	free(text);
}

/* ---- the socket ---- */

struct sock_dir {
	char dir[64];
	char path[128];
};

static void sock_dir_init(struct sock_dir *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/targe-ctl-unit.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/ctl.sock", s->dir);
}

static void sock_dir_fini(struct sock_dir *s)
{
	unlink(s->path);
	assert_int_equal(rmdir(s->dir), 0);
}

static int client_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(addr.sun_path));
	memcpy(addr.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends request and runs the loop until the daemon side closed; returns what came back. */
static size_t round_trip(struct ev_loop *loop, const char *path, const char *request, char *out,
			 size_t cap)
{
	int fd = client_connect(path);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	size_t len = 0;
	for (int turns = 0; turns < 2000; turns++) {
		ev_run(loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else
			usleep(1000);
	}
	close(fd);
	out[len] = '\0';
	return len;
}

static void test_socket_serves_and_cleans_up(void **state)
{
	struct control_fixture *f = *state;
	struct sock_dir s;
	sock_dir_init(&s);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct tg_control *control = NULL;
	char err[256];
	assert_int_equal(tg_control_start(loop, &f->runtime, s.path, &control, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A second daemon on the same socket is refused while the first answers. */
	struct tg_control *second = NULL;
	assert_int_equal(tg_control_start(loop, &f->runtime, s.path, &second, err, sizeof(err)), -1);
	assert_null(second);
	assert_contains(err, "global.control_socket");
	assert_contains(err, "in use");

	char buf[8192];
	size_t len = round_trip(loop, s.path, "devices\n", buf, sizeof(buf));
	assert_true(json_check_document(buf, len));
	assert_contains(buf, "\"request\":\"devices\"");
	assert_contains(buf, "\"path\":\"var/disk0.img\"");
	/* No newline, just the end of the client's writing. */
	int fd = client_connect(s.path);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, "stats", 5, 0), 5);
	shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	len = 0;
	for (int turns = 0; turns < 2000; turns++) {
		ev_run(loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else
			usleep(1000);
	}
	close(fd);
	buf[len] = '\0';
	assert_contains(buf, "\"request\":\"stats\"");

	/* Longer than any request: refused by length, no matter how much more follows. */
	char longline[3 * TG_CONTROL_REQUEST_MAX];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	len = round_trip(loop, s.path, longline, buf, sizeof(buf));
	assert_true(json_check_document(buf, len));
	assert_contains(buf, "\"error\":\"request too long\"");

	tg_control_stop(control);
	assert_int_equal(stat(s.path, &st), -1);
	assert_int_equal(errno, ENOENT);
	ev_loop_destroy(loop);
	sock_dir_fini(&s);
}

static void test_socket_start_rules(void **state)
{
	struct control_fixture *f = *state;
	struct sock_dir s;
	sock_dir_init(&s);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct tg_control *control = NULL;
	char err[256];

	/* A regular file in the way is the user's, not ours to remove. */
	int file = open(s.path, O_CREAT | O_WRONLY, 0644);
	assert_true(file >= 0);
	close(file);
	assert_int_equal(tg_control_start(loop, &f->runtime, s.path, &control, err, sizeof(err)), -1);
	assert_contains(err, "global.control_socket");
	assert_contains(err, "not a socket");
	assert_int_equal(access(s.path, F_OK), 0);
	unlink(s.path);

	/* A socket file nobody listens on is what a killed daemon leaves: replaced. */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	assert_true(strlen(s.path) < sizeof(addr.sun_path));
	memcpy(addr.sun_path, s.path, strlen(s.path));
	assert_int_equal(bind(stale, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(stale);
	assert_int_equal(access(s.path, F_OK), 0);
	assert_int_equal(tg_control_start(loop, &f->runtime, s.path, &control, err, sizeof(err)), 0);
	char buf[4096];
	size_t len = round_trip(loop, s.path, "targets\n", buf, sizeof(buf));
	assert_true(json_check_document(buf, len));
	assert_contains(buf, "\"ok\":true");
	tg_control_stop(control);

	/* A directory that does not exist is not created: the error names the key. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such/dir.sock", s.dir);
	assert_int_equal(tg_control_start(loop, &f->runtime, missing, &control, err, sizeof(err)),
			 -1);
	assert_contains(err, "global.control_socket: cannot bind");
	assert_contains(err, "No such file or directory");

	ev_loop_destroy(loop);
	sock_dir_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_known_verbs),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_json_structure),
		cmocka_unit_test(test_json_escapes_and_repairs_strings),
		cmocka_unit_test(test_json_misuse_yields_nothing),
		cmocka_unit_test_setup_teardown(test_reply_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_sessions_follow_the_registry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stats_count_completed_reads_and_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reply_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_serves_and_cleans_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_start_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
