/* libFuzzer target: control-socket requests, initiator names in session replies, and JSON writer call sequences; every document produced must be valid JSON. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/control.h"
#include "core/device.h"
#include "core/json.h"
#include "core/log.h"
#include "core/nexus.h"
#include "core/runtime.h"
#include "harness.h"
#include "tests/unit/json_check.h"

/*
 * Byte 0 picks the part: 0 a request line (the rest, as a client would send it up to its
 * newline), 1 a session whose initiator name and port are the rest (split at the first 0xff)
 * listed by "sessions", 2 a sequence of JSON writer calls encoded in the rest.
 */
enum part { PART_REQUEST = 0, PART_SESSION = 1, PART_WRITER = 2, PART_COUNT = 3 };

static const struct dev_backend_ops fake_ops = { .name = "file" };
static struct tg_device dev = { .name = "disk0", .ops = &fake_ops, .block_size = 512,
				.num_blocks = 2048 };
static struct tg_device *devices[] = { &dev };
static struct tg_lun_entry entries[] = { { 0, &dev, false }, { 3, &dev, true } };
static struct tg_target target = { .name = "iqn.2026-11.org.targe:fuzz",
				   .transports = TG_TRANSPORT_ISCSI,
				   .tpgt = 1,
				   .luns = { 2, entries } };
static struct tg_runtime runtime = { .devices = devices, .device_count = 1, .targets = &target,
				     .target_count = 1 };
static const struct tg_control_context ctx = { .runtime = &runtime, .started = 1, .now = 2 };

static char *check_reply(const char *line, size_t len, size_t *reply_len)
{
	char *reply = tg_control_reply(&ctx, line, len, reply_len);
	CHECK(reply, "no reply to a %zu-byte request", len);
	CHECK(*reply_len == strlen(reply), "reply length %zu vs %zu", *reply_len, strlen(reply));
	CHECK(*reply_len > 1 && reply[*reply_len - 1] == '\n', "reply without its newline");
	CHECK(memchr(reply, '\n', *reply_len - 1) == NULL, "reply spans several lines");
	CHECK(json_check_document(reply, *reply_len), "invalid JSON: %s", reply);
	return reply;
}

static void fuzz_request(const uint8_t *data, size_t size)
{
	/* What the server hands over: up to the newline, or everything it read. */
	const uint8_t *newline = memchr(data, '\n', size);
	size_t len = newline ? (size_t)(newline - data) : size;
	struct tg_control_request req;
	const char *error = NULL;
	int rc = tg_control_parse_request((const char *)data, len, &req, &error);
	CHECK(rc == 0 || (rc == -1 && error), "rc %d without an error", rc);
	if (rc == 0)
		CHECK(req.args >= (const char *)data && req.args + req.args_len <= (const char *)data + len,
		      "arguments outside the line");
	size_t reply_len;
	char *reply = check_reply((const char *)data, len, &reply_len);
	bool ok = strncmp(reply, "{\"ok\":true,", 11) == 0;
	bool reserved = rc == 0 && (req.verb == TG_CONTROL_ADD_LUN ||
				    req.verb == TG_CONTROL_REMOVE_LUN || req.verb == TG_CONTROL_RELOAD);
	CHECK(ok == (rc == 0 && !reserved), "parse %d, reply %s", rc, reply);
	free(reply);
}

static void fuzz_session(const uint8_t *data, size_t size)
{
	char name[256], port[300];
	const uint8_t *split = memchr(data, 0xff, size);
	size_t name_len = split ? (size_t)(split - data) : size;
	if (name_len >= sizeof(name))
		name_len = sizeof(name) - 1;
	memcpy(name, data, name_len);
	name[name_len] = '\0';
	size_t port_len = split ? size - (size_t)(split - data) - 1 : 0;
	if (port_len >= sizeof(port))
		port_len = sizeof(port) - 1;
	if (split)
		memcpy(port, split + 1, port_len);
	port[port_len] = '\0';
	struct tg_nexus *nexus = tg_nexus_create(&target, TG_TRANSPORT_SRP, name, split ? port : NULL);
	CHECK(nexus, "no nexus");
	size_t reply_len;
	char *reply = check_reply("sessions", 8, &reply_len);
	CHECK(strstr(reply, "\"transport\":\"srp\""), "the session is missing: %s", reply);
	free(reply);
	tg_nexus_destroy(nexus);
	reply = check_reply("sessions", 8, &reply_len);
	CHECK(strcmp(reply, "{\"ok\":true,\"request\":\"sessions\",\"sessions\":[]}\n") == 0,
	      "a destroyed session is still listed: %s", reply);
	free(reply);
}

/*
 * Each op is one byte: low 3 bits the call, bit 3 "with a key", the high bits (plus, for
 * strings, the next bytes) the argument. A document that finishes must be valid JSON.
 */
static void fuzz_writer(const uint8_t *data, size_t size)
{
	struct tg_json j;
	tg_json_init(&j);
	size_t i = 0;
	while (i < size) {
		uint8_t op = data[i++];
		const char *key = (op & 8) ? "k\"\x01\xc3" : NULL;
		switch (op & 7) {
		case 0:
			tg_json_begin_object(&j, key);
			break;
		case 1:
			tg_json_end_object(&j);
			break;
		case 2:
			tg_json_begin_array(&j, key);
			break;
		case 3:
			tg_json_end_array(&j);
			break;
		case 4: {
			size_t len = op >> 4;
			if (len > size - i)
				len = size - i;
			tg_json_string_len(&j, key, (const char *)data + i, len);
			i += len;
			break;
		}
		case 5:
			tg_json_uint(&j, key, (uint64_t)op * 0x0101010101010101ull);
			break;
		case 6:
			tg_json_bool(&j, key, op & 0x10);
			break;
		case 7:
			tg_json_null(&j, key);
			break;
		}
	}
	size_t len = 0;
	char *text = tg_json_finish(&j, &len);
	if (text) {
		CHECK(len == strlen(text), "length %zu vs %zu", len, strlen(text));
		CHECK(json_check_document(text, len), "invalid JSON: %s", text);
		free(text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		tg_log_set_level(TG_LOG_ERROR);
		quiet = true;
	}
	if (size < 1)
		return 0;
	switch (data[0] % PART_COUNT) {
	case PART_REQUEST:
		fuzz_request(data + 1, size - 1);
		break;
	case PART_SESSION:
		fuzz_session(data + 1, size - 1);
		break;
	case PART_WRITER:
		fuzz_writer(data + 1, size - 1);
		break;
	}
	return 0;
}
