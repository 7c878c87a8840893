/* Unit tests for config/config.c: every rejected mistake names FILE:LINE: KEY, and valid files fill the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/target.h"
#include "allowed_cpus.h"

static char temp_dir[] = "/tmp/targe-test-config-XXXXXX";

static const char *temp_path(const char *name)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", temp_dir, name);
	return path;
}

static const char *write_temp(const char *name, const char *text)
{
	const char *path = temp_path(name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

/* Loads text and demands failure with exactly "PATH:LINE: KEY: " followed by text holding fragment. */
static void expect_error_in(const char *path, int line, const char *key, const char *fragment)
{
	char err[1024], prefix[700];
	struct tg_config *config = NULL;
	assert_int_equal(tg_config_load(path, &config, err, sizeof(err)), -1);
	assert_null(config);
	snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", path, line, key);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err + strlen(prefix), fragment)) {
		print_error("got:  %s\nwant: %s...%s...\n", err, prefix, fragment);
		fail();
	}
}

static struct tg_config *load_ok(const char *path)
{
	char err[1024] = "";
	struct tg_config *config = NULL;
	if (tg_config_load(path, &config, err, sizeof(err)) != 0) {
		print_error("unexpected error: %s\n", err);
		fail();
	}
	assert_non_null(config);
	return config;
}

/* ---- the error cases: one per kind of mistake ---- */

struct error_case {
	const char *name;
	const char *text;
	int line;
	const char *key;
	const char *fragment;
};

/* One valid device on one line, for cases that need something to point at. */
#define DEV0 "devices = ( { name = \"d0\"; backend = \"file\"; path = \"var/d0.img\"; size = \"1M\"; } );\n"
#define TGT_OPEN "targets = ( { name = \"iqn.2026-11.org.targe:t\";\n"

static const struct error_case error_cases[] = {
	{ "syntax_error", "global = {\n  log_level = \"info\";\n  io_threads = ;\n};\n",
	  3, "(syntax)", "syntax error" },
	{ "syntax_duplicate_setting", "global = {\n  io_threads = 1;\n  io_threads = 2;\n};\n",
	  3, "(syntax)", "duplicate setting name" },

	{ "unknown_key_top", "\nglobl = { };\n", 2, "globl", "unknown key" },
	{ "unknown_key_global", "global = {\n  threads = 2;\n};\n", 2, "global.threads",
	  "unknown key (known here: log_level, control_socket, io_threads, io_thread_cpus, buffer_memory, "
	  "discovery_auth)" },
	{ "unknown_key_device",
	  "devices = (\n  { name = \"d0\"; backend = \"file\"; path = \"x\";\n    sise = \"1M\"; }\n);\n",
	  3, "devices[0].sise", "unknown key" },
	{ "unknown_key_protection",
	  "devices = (\n  { name = \"d0\"; backend = \"file\"; path = \"x\";\n"
	  "    protection = { type = 1;\n      path = \"y\"; }; }\n);\n",
	  4, "devices[0].protection.path", "unknown key" },
	{ "unknown_key_transport",
	  "transports = {\n  iscsi = { listen = [ \"127.0.0.1\" ]; port = 1; };\n};\n",
	  2, "transports.iscsi.port", "unknown key" },
	{ "unknown_key_lun", DEV0 TGT_OPEN "  luns = ( { lun = 0; device = \"d0\"; ro = true; } ); } );\n",
	  3, "targets[0].luns[0].ro", "unknown key" },
	{ "unknown_key_chap",
	  "global = { discovery_auth = {\n  user = \"u\"; secret = \"123456789012\"; pass = \"x\"; }; };\n",
	  2, "global.discovery_auth.pass", "unknown key" },

	{ "type_string_for_integer", "global = {\n  io_threads = \"2\";\n};\n", 2,
	  "global.io_threads", "expected an integer, got a string" },
	{ "type_integer_for_bool",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  direct = 1; } );\n",
	  2, "devices[0].direct", "expected a boolean" },
	{ "type_group_for_list", "\ndevices = { name = \"d0\"; };\n", 2, "devices",
	  "expected a list ( ... ) of groups, got a group" },
	{ "type_scalar_for_group", "global = 5;\n", 1, "global",
	  "expected a group { ... }, got an integer" },
	{ "type_array_element",
	  "initiator_groups = ( { name = \"g\";\n  initiators = [ 1, 2 ]; } );\n",
	  2, "initiator_groups[0].initiators[0]", "expected a string, got an integer" },
	{ "type_float_for_size",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = 1.5; } );\n",
	  2, "devices[0].size", "got a floating-point number" },

	{ "size_garbage",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = \"12Q\"; } );\n",
	  2, "devices[0].size", "invalid size \"12Q\"" },
	{ "size_overflow",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = \"99999999T\"; } );\n",
	  2, "devices[0].size", "is too large" },
	{ "size_zero",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = \"0\"; } );\n",
	  2, "devices[0].size", "size must be greater than 0" },
	{ "size_negative",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = -512; } );\n",
	  2, "devices[0].size", "must not be negative" },
	{ "size_integer_truncated_by_libconfig",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = 5000000000; } );\n",
	  2, "devices[0].size", "does not fit in 32 bits" },
	{ "block_size_invalid",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  block_size = 1000; } );\n",
	  2, "devices[0].block_size", "must be 512, 1024, 2048 or 4096, got 1000" },
	{ "size_not_multiple_of_block_size",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n"
	  "  size = \"6K\";\n  block_size = 4096; } );\n",
	  2, "devices[0].size", "size 6144 is not a multiple of the block size 4096" },
	{ "size_not_multiple_of_smallest_block",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  size = 1000; } );\n",
	  2, "devices[0].size", "not a multiple of the block size 512" },
	{ "chunk_size_not_thin",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  chunk_size = \"64K\"; } );\n",
	  2, "devices[0].chunk_size", "only valid for backend \"thin\"" },
	{ "size_on_passthrough",
	  "devices = ( { name = \"sg\"; backend = \"passthrough\"; path = \"/dev/sg1\";\n"
	  "  size = \"1G\"; } );\n",
	  2, "devices[0].size", "not supported by backend \"passthrough\"" },

	{ "duplicate_device_name",
	  "devices = (\n  { name = \"d0\"; backend = \"file\"; path = \"a\"; },\n"
	  "  { name = \"d0\"; backend = \"file\"; path = \"b\"; }\n);\n",
	  3, "devices[1].name", "duplicate device name \"d0\" (first defined at line 2)" },
	{ "duplicate_device_path",
	  "devices = (\n  { name = \"d0\"; backend = \"file\"; path = \"a\"; },\n"
	  "  { name = \"d1\"; backend = \"file\"; path = \"a\"; }\n);\n",
	  3, "devices[1].path", "already used by device \"d0\"" },
	{ "duplicate_target_name",
	  "targets = (\n  { name = \"iqn.2026-11.org.targe:t\"; },\n"
	  "  { name = \"iqn.2026-11.org.targe:T\"; }\n);\n",
	  3, "targets[1].name", "duplicate target name \"iqn.2026-11.org.targe:t\"" },
	{ "duplicate_group_name",
	  "initiator_groups = (\n  { name = \"g\"; initiators = [ \"iqn.2026-11.example:a\" ]; },\n"
	  "  { name = \"g\"; initiators = [ \"iqn.2026-11.example:b\" ]; }\n);\n",
	  3, "initiator_groups[1].name", "duplicate group name \"g\"" },
	{ "duplicate_lun",
	  DEV0 TGT_OPEN "  luns = ( { lun = 3; device = \"d0\"; },\n           { lun = 3; device = \"d0\"; } ); } );\n",
	  4, "targets[0].luns[1].lun", "duplicate LUN 3 (first mapped at line 3)" },
	{ "lun_out_of_range",
	  DEV0 TGT_OPEN "  luns = ( { lun = 16384; device = \"d0\"; } ); } );\n",
	  3, "targets[0].luns[0].lun", "LUN 16384 out of range 0..16383" },
	{ "lun_negative", DEV0 TGT_OPEN "  luns = ( { lun = -1; device = \"d0\"; } ); } );\n",
	  3, "targets[0].luns[0].lun", "LUN -1 out of range" },
	{ "lun_truncated_by_libconfig",
	  DEV0 TGT_OPEN "  luns = ( { lun = 4294967296; device = \"d0\"; } ); } );\n",
	  3, "targets[0].luns[0].lun", "out of range" },
	{ "dangling_device",
	  DEV0 TGT_OPEN "  luns = ( { lun = 0;\n             device = \"d9\"; } ); } );\n",
	  4, "targets[0].luns[0].device", "unknown device \"d9\"" },
	{ "dangling_group",
	  DEV0 TGT_OPEN "  access = ( { group = \"nobody\"; luns = (); } ); } );\n",
	  3, "targets[0].access[0].group", "unknown initiator group \"nobody\"" },
	{ "access_group_and_initiators",
	  "initiator_groups = ( { name = \"g\"; initiators = [ \"iqn.2026-11.example:a\" ]; } );\n"
	  TGT_OPEN "  access = (\n    { group = \"g\"; initiators = [ \"iqn.2026-11.example:b\" ]; luns = (); } ); } );\n",
	  4, "targets[0].access[0]", "give either group or initiators, not both" },
	{ "access_neither_group_nor_initiators",
	  TGT_OPEN "  access = (\n    { luns = (); } ); } );\n",
	  3, "targets[0].access[0]", "needs either group or initiators" },
	{ "access_empty_initiators",
	  TGT_OPEN "  access = ( { initiators = [ ]; luns = (); } ); } );\n",
	  2, "targets[0].access[0].initiators", "at least one initiator" },
	{ "access_missing_luns",
	  TGT_OPEN "  access = (\n    { initiators = [ \"iqn.2026-11.example:a\" ]; } ); } );\n",
	  3, "targets[0].access[0].luns", "missing required key" },
	{ "unknown_backend",
	  "devices = ( { name = \"d0\";\n  backend = \"nbd\"; path = \"x\"; } );\n",
	  2, "devices[0].backend", "unknown backend \"nbd\" (known: file, block, thin" },

	{ "missing_device_name", "devices = (\n  { backend = \"file\"; path = \"x\"; }\n);\n",
	  2, "devices[0].name", "missing required key" },
	{ "missing_device_backend", "devices = (\n  { name = \"d0\"; path = \"x\"; }\n);\n",
	  2, "devices[0].backend", "missing required key" },
	{ "missing_device_path", "devices = (\n  { name = \"d0\"; backend = \"file\"; }\n);\n",
	  2, "devices[0].path", "missing required key" },
	{ "missing_target_name", "targets = (\n  { transports = [ \"iscsi\" ]; }\n);\n",
	  2, "targets[0].name", "missing required key" },
	{ "missing_lun_number", DEV0 TGT_OPEN "  luns = (\n    { device = \"d0\"; } ); } );\n",
	  4, "targets[0].luns[0].lun", "missing required key" },
	{ "missing_lun_device", DEV0 TGT_OPEN "  luns = (\n    { lun = 0; } ); } );\n",
	  4, "targets[0].luns[0].device", "missing required key" },
	{ "missing_group_initiators", "initiator_groups = (\n  { name = \"g\"; }\n);\n",
	  2, "initiator_groups[0].initiators", "missing required key" },
	{ "empty_string", "devices = ( { name = \"d0\"; backend = \"file\";\n  path = \"\"; } );\n",
	  2, "devices[0].path", "must not be empty" },

	{ "log_level_invalid", "global = {\n  log_level = \"verbose\";\n};\n", 2,
	  "global.log_level", "invalid log level \"verbose\"" },
	{ "io_threads_zero", "global = {\n  io_threads = 0;\n};\n", 2, "global.io_threads",
	  "must be between 1 and 64, got 0" },
	{ "io_threads_too_many", "global = {\n  io_threads = 65;\n};\n", 2, "global.io_threads",
	  "must be between 1 and 64, got 65" },
	{ "io_thread_cpus_empty", "global = {\n  io_thread_cpus = [ ];\n};\n", 2,
	  "global.io_thread_cpus", "must list between 1 and 64 CPUs, got 0" },
	{ "io_thread_cpus_not_a_list", "global = {\n  io_thread_cpus = 1;\n};\n", 2,
	  "global.io_thread_cpus", "expected an array [ ... ] of CPU numbers, got an integer" },
	{ "io_thread_cpus_string", "global = {\n  io_thread_cpus = ( 0, \"1\" );\n};\n", 2,
	  "global.io_thread_cpus[1]", "expected a CPU number, got a string" },
	{ "io_thread_cpus_no_such_cpu", "global = {\n  io_thread_cpus = [ 100000 ];\n};\n", 2,
	  "global.io_thread_cpus[0]", "CPU 100000 is not one targed may run on here (allowed: " },
	{ "io_thread_cpus_negative", "global = {\n  io_thread_cpus = [ -1 ];\n};\n", 2,
	  "global.io_thread_cpus[0]", "CPU -1 is not one targed may run on here" },
	{ "login_timeout_negative", "transports = { iscsi = { listen = [ \"127.0.0.1\" ];\n  login_timeout = -1; }; };\n",
	  2, "transports.iscsi.login_timeout", "must be between 0 and 3600, got -1" },
	{ "max_sessions_too_many", "transports = { iscsi = { listen = [ \"127.0.0.1\" ];\n  max_sessions = 70000; }; };\n",
	  2, "transports.iscsi.max_sessions", "must be between 0 and 65535, got 70000" },
	{ "login_timeout_on_iser", "transports = { iser = { listen = [ \"127.0.0.1\" ];\n  login_timeout = 5; }; };\n",
	  2, "transports.iser.login_timeout", "unknown key" },
	{ "buffer_memory_too_small", "global = {\n  buffer_memory = \"8M\";\n};\n", 2,
	  "global.buffer_memory", "must be at least 16M (got 8388608 bytes)" },
	{ "control_socket_too_long",
	  "global = {\n  control_socket = \"var/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\";\n};\n",
	  2, "global.control_socket", "too long for a UNIX socket path" },

	{ "listen_port_zero", "transports = { iscsi = {\n  listen = [ \"127.0.0.1:3260\",\n \"127.0.0.1:0\" ]; }; };\n",
	  3, "transports.iscsi.listen[1]", "bad listen address \"127.0.0.1:0\": port must be" },
	{ "listen_port_too_big", "transports = { iscsi = { listen = [ \"127.0.0.1:65536\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "port must be a number from 1 to 65535" },
	{ "listen_port_garbage", "transports = { iscsi = { listen = [ \"127.0.0.1:32x\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "port must be a number from 1 to 65535" },
	{ "listen_ipv6_without_brackets", "transports = { iser = { listen = [ \"::1:3260\" ]; }; };\n",
	  1, "transports.iser.listen[0]", "IPv6 addresses must be in brackets" },
	{ "listen_unclosed_bracket", "transports = { iscsi = { listen = [ \"[::1:3260\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "missing ']'" },
	{ "listen_bad_ipv6", "transports = { iscsi = { listen = [ \"[fe80::zz]:3260\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "bad IPv6 address" },
	{ "listen_bad_ipv4", "transports = { iscsi = { listen = [ \"10.0.0.256:3260\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "bad IPv4 address" },
	{ "listen_bad_hostname", "transports = { iscsi = { listen = [ \"my_host:3260\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "bad host name" },
	{ "listen_missing_host", "transports = { iscsi = { listen = [ \":3260\" ]; }; };\n",
	  1, "transports.iscsi.listen[0]", "missing host" },
	{ "listen_srp_needs_port", "transports = { srp = { listen = [ \"10.0.2.15\" ]; }; };\n",
	  1, "transports.srp.listen[0]", "a port is required here" },
	{ "listen_duplicate",
	  "transports = { iscsi = { listen = [ \"127.0.0.1\",\n  \"127.0.0.1:3260\" ]; }; };\n",
	  2, "transports.iscsi.listen[1]", "duplicate listen address" },
	{ "listen_missing", "transports = {\n  iscsi = { };\n};\n", 2, "transports.iscsi.listen",
	  "missing required key" },

	{ "target_name_prefix", "targets = ( {\n  name = \"org.targe:disk\"; } );\n", 2,
	  "targets[0].name", "invalid iSCSI target name \"org.targe:disk\": must start with iqn., eui. or naa." },
	{ "target_name_too_long",
	  "targets = ( {\n  name = \"iqn.2026-11.org.targe:"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; } );\n",
	  2, "targets[0].name", "longer than 223 bytes" },
	{ "target_name_bad_date", "targets = ( {\n  name = \"iqn.26-11.org.targe:disk\"; } );\n", 2,
	  "targets[0].name", "iqn. names need a date" },
	{ "target_name_bad_character", "targets = ( {\n  name = \"iqn.2026-11.org.targe:my disk\"; } );\n",
	  2, "targets[0].name", "only letters, digits" },
	{ "target_name_eui_length", "targets = ( {\n  name = \"eui.02004567A425678\"; } );\n", 2,
	  "targets[0].name", "eui. names need exactly 16 hex digits" },
	{ "target_transport_unknown",
	  TGT_OPEN "  transports = [ \"iscsi\", \"fcp\" ]; } );\n", 2, "targets[0].transports[1]",
	  "unknown transport (known: iscsi, iser, srp)" },
	{ "target_transports_empty", TGT_OPEN "  transports = [ ]; } );\n", 2, "targets[0].transports",
	  "at least one transport" },

	{ "chap_secret_too_short",
	  TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"elevenchars\"; }; } );\n",
	  3, "targets[0].chap.secret", "CHAP secret is 11 bytes, needs at least 12" },
	{ "chap_hex_secret_too_short",
	  TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"0x0102030405060708090a0b\"; }; } );\n",
	  3, "targets[0].chap.secret", "CHAP secret is 11 bytes" },
	{ "chap_base64_secret_too_short",
	  TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"0bYWJjZGVmZ2hpams=\"; }; } );\n",
	  3, "targets[0].chap.secret", "CHAP secret is 11 bytes" },
	{ "chap_bad_hex", TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"0x0102030405060708090a0bxx\"; }; } );\n",
	  3, "targets[0].chap.secret", "invalid hex digit" },
	{ "chap_bad_base64", TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"0bYWJjZGVmZ2hp*mts\"; }; } );\n",
	  3, "targets[0].chap.secret", "invalid base64 character" },
	{ "chap_base64_bad_length", TGT_OPEN "  chap = { user = \"alice\";\n    secret = \"0bYWJjZGVmZ2hpamtsb\"; }; } );\n",
	  3, "targets[0].chap.secret", "length must be a multiple of 4" },
	{ "chap_mutual_secret_too_short",
	  TGT_OPEN "  chap = { user = \"alice\"; secret = \"twelve+chars\";\n"
	  "    mutual_user = \"tgt\";\n    mutual_secret = \"short\"; }; } );\n",
	  4, "targets[0].chap.mutual_secret", "CHAP secret is 5 bytes" },
	{ "chap_same_secret_both_ways",
	  TGT_OPEN "  chap = { user = \"alice\"; secret = \"twelve+chars\";\n"
	  "    mutual_user = \"tgt\";\n    mutual_secret = \"0x7477656c76652b6368617273\"; }; } );\n",
	  4, "targets[0].chap.mutual_secret", "must differ from secret" },
	{ "chap_missing_secret", TGT_OPEN "  chap = {\n    user = \"alice\"; }; } );\n",
	  2, "targets[0].chap.secret", "missing required key" },
	{ "chap_mutual_user_without_secret",
	  TGT_OPEN "  chap = { user = \"alice\"; secret = \"twelve+chars\";\n    mutual_user = \"tgt\"; }; } );\n",
	  2, "targets[0].chap.mutual_secret", "missing required key" },
	{ "discovery_auth_short_secret",
	  "global = {\n  discovery_auth = { user = \"d\";\n    secret = \"0x00\"; };\n};\n",
	  3, "global.discovery_auth.secret", "CHAP secret is 1 bytes" },

	{ "protection_type_invalid",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  protection = {\n    type = 4; }; } );\n",
	  3, "devices[0].protection.type", "protection type must be 1, 2 or 3, got 4" },
	{ "protection_type_missing",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  protection = { pi_path = \"y\"; }; } );\n",
	  2, "devices[0].protection.type", "missing required key" },
	{ "protection_unknown_host_guard",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  protection = { type = 1;\n    host_guard = \"crc32\"; }; } );\n",
	  3, "devices[0].protection.host_guard", "unknown PI profile \"crc32\"" },
	{ "protection_wrong_backend",
	  "devices = ( { name = \"cd\"; backend = \"cdrom\"; path = \"x.iso\";\n  protection = { type = 1; }; } );\n",
	  2, "devices[0].protection", "not supported by backend \"cdrom\"" },

	{ "srp_port_id_invalid",
	  TGT_OPEN "  transports = [ \"srp\" ];\n  srp_port_id = \"0x0002c9030001a2b4\"; } );\n",
	  3, "targets[0].srp_port_id", "must be 0x followed by 32 hex digits" },
	{ "srp_port_id_without_srp",
	  TGT_OPEN "  srp_port_id = \"0x0002c9030001a2b40000000000000001\"; } );\n",
	  2, "targets[0].srp_port_id", "transports does not include \"srp\"" },

	{ "group_initiator_invalid",
	  "initiator_groups = ( { name = \"g\";\n  initiators = [ \"iqn.2026-11.example:a\",\n  \"host1\" ]; } );\n",
	  3, "initiator_groups[0].initiators[1]",
	  "\"host1\" is neither an iSCSI name (must start with iqn., eui. or naa.) nor an SRP initiator id" },
	{ "rule_initiator_invalid_srp_id",
	  TGT_OPEN "  access = ( { initiators = [\n    \"0x1234\" ]; luns = (); } ); } );\n",
	  3, "targets[0].access[0].initiators[0]", "\"0x1234\" is neither an iSCSI name nor an SRP initiator id" },

	{ "device_name_characters",
	  "devices = ( {\n  name = \"disk 0\"; backend = \"file\"; path = \"x\"; } );\n",
	  2, "devices[0].name", "may only hold letters, digits" },
	{ "serial_with_space",
	  "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\";\n  serial = \"AB CD\"; } );\n",
	  2, "devices[0].serial", "printable ASCII without spaces" },
	{ "removable_tape",
	  "devices = ( { name = \"t0\"; backend = \"tape\"; path = \"x\";\n  removable = true; } );\n",
	  2, "devices[0].removable", "only valid for disk backends" },
};

static void run_error_case(void **state)
{
	const struct error_case *c = *state;
	expect_error_in(write_temp("case.conf", c->text), c->line, c->key, c->fragment);
}

static void test_unreadable_file(void **state)
{
	expect_error_in(temp_path("does-not-exist.conf"), 0, "(file)", "cannot read: No such file");
}

static void test_error_in_included_file_names_that_file(void **state)
{
	write_temp("devices.inc", "devices = (\n  { name = \"d0\"; backend = \"floppy\"; path = \"x\"; }\n);\n");
	char included[512];
	snprintf(included, sizeof(included), "%s", temp_path("devices.inc"));
	char main_path[512];
	snprintf(main_path, sizeof(main_path), "%s",
		 write_temp("main.conf", "global = { io_threads = 1; };\n@include \"devices.inc\"\n"));
	char err[1024];
	struct tg_config *config = NULL;
	assert_int_equal(tg_config_load(main_path, &config, err, sizeof(err)), -1);
	char prefix[700];
	snprintf(prefix, sizeof(prefix), "%s:2: devices[0].backend: unknown backend \"floppy\"", included);
	if (strncmp(err, prefix, strlen(prefix)) != 0) {
		print_error("got:  %s\nwant: %s\n", err, prefix);
		fail();
	}
}

static void test_error_message_truncates_safely(void **state)
{
	char err[16];
	struct tg_config *config = NULL;
	const char *path = write_temp("case.conf", "global = {\n  io_threads = 0;\n};\n");
	assert_int_equal(tg_config_load(path, &config, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(strncmp(err, path, sizeof(err) - 1), 0);
	assert_int_equal(tg_config_load(path, &config, NULL, 0), -1);
}

/* ---- accepted input ---- */

static void test_parse_size(void **state)
{
	static const struct {
		const char *text;
		bool ok;
		uint64_t value;
	} cases[] = {
		{ "512", true, 512 },
		{ "0", true, 0 },
		{ "4K", true, 4096 },
		{ "4k", true, 4096 },
		{ "256M", true, 256ull << 20 },
		{ "1G", true, 1ull << 30 },
		{ "2T", true, 2ull << 40 },
		{ "18446744073709551615", true, UINT64_MAX },
		{ "16777215T", true, 16777215ull << 40 },
		{ "18446744073709551616", false, 0 },
		{ "16777216T", false, 0 },
		{ "", false, 0 },
		{ "K", false, 0 },
		{ "1.5G", false, 0 },
		{ "1KB", false, 0 },
		{ "1P", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ " 1", false, 0 },
		{ "1 ", false, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t value = 12345;
		bool ok = tg_config_parse_size(cases[i].text, &value);
		if (ok != cases[i].ok || (ok && value != cases[i].value)) {
			print_error("\"%s\": ok=%d value=%llu\n", cases[i].text, ok,
				    (unsigned long long)value);
			fail();
		}
		if (!ok)
			assert_int_equal(value, 12345);
	}
}

static void test_decode_secret(void **state)
{
	static const struct {
		const char *text;
		const char *bytes;
		size_t len;
	} decoded[] = {
		{ "twelve+chars", "twelve+chars", 12 },
		/* An odd number of hex digits implies a leading zero nibble. */
		{ "0X1ff02", "\x01\xff\x02", 3 },
		{ "0bTXV0dWFsU2VjcmV0MTI=", "MutualSecret12", 14 },
		{ "0BYWJjZA==", "abcd", 4 },
	};
	uint8_t *bytes;
	size_t len;
	for (size_t i = 0; i < sizeof(decoded) / sizeof(decoded[0]); i++) {
		assert_int_equal(tg_config_decode_secret(decoded[i].text, &bytes, &len), 0);
		assert_int_equal(len, decoded[i].len);
		assert_memory_equal(bytes, decoded[i].bytes, decoded[i].len);
		free(bytes);
	}

	assert_int_equal(tg_config_decode_secret("0x", &bytes, &len), -1);
	assert_int_equal(tg_config_decode_secret("0xabg0", &bytes, &len), -1);
	assert_int_equal(tg_config_decode_secret("0bYWJjZA=", &bytes, &len), -1);
	assert_int_equal(tg_config_decode_secret("0bYW=jZA==", &bytes, &len), -1);
}

static const char *source_file(const char *relative)
{
	static char path[1024];
	const char *dir = getenv("TARGE_SOURCE_DIR");
	struct stat st;
	if (dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, relative);
		return path;
	}
	/* Run by hand from the repository root or from a build directory inside it. */
	snprintf(path, sizeof(path), "%s", relative);
	if (stat(path, &st) != 0)
		snprintf(path, sizeof(path), "../%s", relative);
	return path;
}

static void test_default_conf(void **state)
{
	struct tg_config *c = load_ok(source_file("config/default.conf"));
	assert_int_equal(c->iscsi_login_timeout, 15); /* the defaults of keys it leaves out */
	assert_int_equal(c->max_sessions, 0);
	assert_int_equal(c->buffer_memory, 0);
	assert_int_equal(c->log_level, TG_LOG_INFO);
	assert_string_equal(c->control_socket, "var/targed.sock");
	assert_int_equal(c->iscsi_listen.count, 1);
	assert_string_equal(c->iscsi_listen.items[0].host, "127.0.0.1");
	assert_int_equal(c->iscsi_listen.items[0].port, 3260);
	assert_int_equal(c->device_count, 1);
	const struct cfg_device *disk = tg_config_find_device(c, "disk0");
	assert_non_null(disk);
	assert_string_equal(disk->backend, "file");
	assert_string_equal(disk->path, "var/disk0.img");
	assert_int_equal(disk->size, 1ull << 30);
	assert_int_equal(c->target_count, 1);
	assert_string_equal(c->targets[0].name, "iqn.2026-11.org.targe:default");
	/* iSER and SRP too, served where `make run` finds an RDMA device and adds the portals
	 * (the file itself cannot know an RDMA address: it has none). */
	assert_int_equal(c->targets[0].transports,
			 TG_TRANSPORT_ISCSI | TG_TRANSPORT_ISER | TG_TRANSPORT_SRP);
	assert_int_equal(c->iser_listen.count, 0);
	assert_int_equal(c->srp_listen.count, 0);
	assert_false(c->targets[0].chap.present);
	assert_int_equal(c->targets[0].luns.count, 1);
	assert_int_equal(c->targets[0].luns.items[0].lun, 0);
	assert_string_equal(c->targets[0].luns.items[0].device, "disk0");
	assert_int_equal(c->targets[0].access_count, 0);
	tg_config_free(c);
}

static void test_io_thread_cpus(void **state)
{
	unsigned first, last;
	allowed_cpus(&first, &last);
	char text[200];
	snprintf(text, sizeof(text), "global = { io_threads = 3; io_thread_cpus = [ %u, %u ]; };\n",
		 last, first);
	struct tg_config *c = load_ok(write_temp("cpus.conf", text));
	assert_int_equal(c->io_threads, 3);
	assert_int_equal(c->io_thread_cpu_count, 2);
	assert_int_equal(c->io_thread_cpus[0], last);
	assert_int_equal(c->io_thread_cpus[1], first);
	tg_config_free(c);

	c = load_ok(write_temp("nocpus.conf", "global = { io_threads = 2; };\n"));
	assert_null(c->io_thread_cpus);
	assert_int_equal(c->io_thread_cpu_count, 0);
	tg_config_free(c);
}

static void test_example_conf(void **state)
{
	struct tg_config *c = load_ok(source_file("config/example.conf"));
	assert_int_equal(c->io_threads, 2);
	assert_int_equal(c->iscsi_login_timeout, 20);
	assert_int_equal(c->buffer_memory, 2ull << 30);
	assert_int_equal(c->max_sessions, 1024);
	assert_true(c->discovery_auth.present);
	assert_string_equal(c->discovery_auth.secret, "0x0123456789abcdef01234567");
	assert_string_equal(c->discovery_auth.mutual_secret, "0bTXV0dWFsU2VjcmV0MTI=");

	assert_int_equal(c->iscsi_listen.count, 3);
	assert_string_equal(c->iscsi_listen.items[1].host, "::1");
	assert_int_equal(c->iscsi_listen.items[1].port, 3260);
	assert_string_equal(c->iscsi_listen.items[2].host, "0.0.0.0");
	assert_int_equal(c->iscsi_listen.items[2].port, 3260);
	assert_int_equal(c->iser_listen.count, 1);
	assert_int_equal(c->srp_listen.count, 1);
	assert_string_equal(c->srp_listen.items[0].host, "10.0.2.15");
	assert_int_equal(c->srp_listen.items[0].port, 5555);

	assert_int_equal(c->device_count, 7);
	const struct cfg_device *dev = tg_config_find_device(c, "thin0");
	assert_non_null(dev);
	assert_int_equal(dev->size, 64ull << 30);
	assert_int_equal(dev->chunk_size, 256 * 1024);
	assert_int_equal(dev->block_size, 4096);
	dev = tg_config_find_device(c, "raw0");
	assert_true(dev->direct && dev->direct_set);
	assert_int_equal(dev->size, 0);
	dev = tg_config_find_device(c, "disk0");
	assert_false(dev->direct);
	assert_true(dev->direct_set);
	assert_string_equal(dev->serial, "TARGE-DISK0");
	dev = tg_config_find_device(c, "pi0");
	assert_int_equal(dev->protection_type, 1);
	assert_string_equal(dev->pi_path, "var/pi0.protection");
	assert_string_equal(dev->pi_host_guard, "ip-checksum");
	assert_null(tg_config_find_device(c, "disk0")->pi_host_guard);
	assert_true(tg_config_find_device(c, "cd0")->read_only);
	assert_null(tg_config_find_device(c, "nope"));

	assert_int_equal(c->group_count, 2);
	assert_string_equal(c->groups[0].name, "db");
	assert_int_equal(c->groups[0].initiator_count, 2);
	assert_string_equal(c->groups[0].initiators[1], "iqn.2026-11.example:db2");

	assert_int_equal(c->target_count, 2);
	const struct cfg_target *t = &c->targets[0];
	assert_int_equal(t->transports, TG_TRANSPORT_ISCSI | TG_TRANSPORT_ISER | TG_TRANSPORT_SRP);
	assert_string_equal(t->srp_port_id, "0x0002c9030001a2b40000000000000001");
	assert_true(t->chap.present);
	assert_string_equal(t->chap.user, "alice");
	assert_string_equal(t->chap.secret, "twelve+chars");
	assert_string_equal(t->chap.mutual_user, "tgt");
	assert_int_equal(t->access_count, 3);
	assert_string_equal(t->access[0].group, "db");
	assert_null(t->access[0].initiators);
	assert_int_equal(t->access[0].luns.count, 2);
	assert_int_equal(t->access[0].luns.items[1].lun, 1);
	assert_string_equal(t->access[0].luns.items[1].device, "pi0");
	assert_true(t->access[0].luns.items[1].read_only);
	assert_false(t->access[0].luns.items[0].read_only);
	assert_null(t->access[2].group);
	assert_int_equal(t->access[2].initiator_count, 1);
	assert_string_equal(t->access[2].initiators[0], "iqn.2026-11.example:backup");
	assert_string_equal(t->access[2].luns.items[1].device, "sgtape");
	assert_int_equal(c->targets[1].transports, TG_TRANSPORT_ISCSI);
	assert_null(c->targets[1].srp_port_id);
	tg_config_free(c);
}

static void test_defaults_of_empty_file(void **state)
{
	struct tg_config *c = load_ok(write_temp("empty.conf", "# nothing\n"));
	assert_int_equal(c->log_level, TG_LOG_INFO);
	assert_int_equal(c->io_threads, 1);
	assert_string_equal(c->control_socket, "var/targed.sock");
	assert_false(c->discovery_auth.present);
	assert_int_equal(c->iscsi_listen.count + c->iser_listen.count + c->srp_listen.count, 0);
	assert_int_equal(c->device_count + c->group_count + c->target_count, 0);
	assert_string_equal(c->path, temp_path("empty.conf"));
	tg_config_free(c);
}

static void test_values_land_in_model(void **state)
{
	struct tg_config *c = load_ok(write_temp("values.conf",
		"global = { log_level = \"debug\"; io_threads = 64; control_socket = \"/run/t.sock\"; };\n"
		"transports = { iscsi = { listen = [ \"[fe80::1]:860\", \"storage.example.com\" ]; };\n"
		"               srp = { listen = [ \"[::]:5555\" ]; }; };\n"
		"devices = (\n"
		"  { name = \"a\"; backend = \"file\"; path = \"a.img\"; size = 1048576; block_size = 4096; },\n"
		"  { name = \"b\"; backend = \"file\"; path = \"b.img\"; size = 5000000000L; read_only = true; },\n"
		"  { name = \"t\"; backend = \"tape\"; path = \"t.img\"; size = 1000; }\n"
		");\n"
		"initiator_groups = ( { name = \"rdma\"; initiators = [ \"0xFE800000000000000002C9030001A2B3\",\n"
		"                                                     \"IQN.2026-11.Example:Host\" ]; } );\n"
		"targets = ( { name = \"IQN.2026-11.Org.Targe:Mixed\"; transports = [ \"iser\" ];\n"
		"  luns = ( { lun = 16383; device = \"b\"; read_only = true; }, { lun = 0; device = \"a\"; } );\n"
		"  access = ( { group = \"rdma\"; luns = ( ); } ); },\n"
		"  { name = \"eui.02004567A425678D\"; luns = ( { lun = 0; device = \"a\"; } ); },\n"
		"  { name = \"naa.52004567BA64678D\"; } );\n"));
	assert_int_equal(c->log_level, TG_LOG_DEBUG);
	assert_int_equal(c->io_threads, 64);
	assert_string_equal(c->control_socket, "/run/t.sock");
	assert_string_equal(c->iscsi_listen.items[0].host, "fe80::1");
	assert_int_equal(c->iscsi_listen.items[0].port, 860);
	assert_int_equal(c->iscsi_listen.items[0].line, 2);
	assert_string_equal(c->iscsi_listen.items[1].host, "storage.example.com");
	assert_int_equal(c->iscsi_listen.items[1].port, 3260);
	assert_string_equal(c->srp_listen.items[0].host, "::");
	assert_int_equal(c->srp_listen.items[0].port, 5555);

	assert_int_equal(c->devices[0].size, 1048576);
	assert_int_equal(c->devices[0].block_size, 4096);
	assert_false(c->devices[0].direct_set);
	assert_int_equal(c->devices[0].line, 5);
	assert_int_equal(c->devices[1].size, 5000000000ull);
	assert_int_equal(c->devices[1].block_size, 0);
	assert_true(c->devices[1].read_only);
	assert_null(c->devices[1].pi_path);
	assert_int_equal(c->devices[1].protection_type, 0);
	assert_int_equal(c->devices[2].size, 1000);

	/* iSCSI names and SRP ids are normalised to lowercase; other strings stay as written. */
	assert_string_equal(c->groups[0].initiators[0], "0xfe800000000000000002c9030001a2b3");
	assert_string_equal(c->groups[0].initiators[1], "iqn.2026-11.example:host");
	assert_string_equal(c->targets[0].name, "iqn.2026-11.org.targe:mixed");
	assert_int_equal(c->targets[0].transports, TG_TRANSPORT_ISER);
	assert_int_equal(c->targets[0].luns.items[0].lun, 16383);
	assert_true(c->targets[0].luns.items[0].read_only);
	assert_int_equal(c->targets[0].luns.items[0].line, 12);
	assert_int_equal(c->targets[0].access[0].luns.count, 0);
	assert_string_equal(c->targets[1].name, "eui.02004567a425678d");
	assert_string_equal(c->targets[2].name, "naa.52004567ba64678d");
	assert_int_equal(c->targets[2].luns.count, 0);
	tg_config_free(c);
}

/* 223 bytes is the longest iSCSI name RFC 7143 allows; one more is rejected. */
static void test_iscsi_name_length_limit(void **state)
{
	char name[300], text[400];
	memset(name, 'x', sizeof(name));
	memcpy(name, "iqn.2026-11.org.targe:", 22);
	name[223] = '\0';
	snprintf(text, sizeof(text), "targets = ( { name = \"%s\"; } );\n", name);
	struct tg_config *c = load_ok(write_temp("case.conf", text));
	assert_int_equal(strlen(c->targets[0].name), 223);
	tg_config_free(c);

	name[223] = 'x';
	name[224] = '\0';
	snprintf(text, sizeof(text), "targets = ( { name = \"%s\"; } );\n", name);
	expect_error_in(write_temp("case.conf", text), 1, "targets[0].name", "longer than 223 bytes");
}

static void test_removable_disk(void **state)
{
	struct tg_config *c = load_ok(write_temp(
		"case.conf", "devices = ( { name = \"d0\"; backend = \"file\"; path = \"x\"; removable = true; },\n"
			     "  { name = \"d1\"; backend = \"file\"; path = \"y\"; } );\n"));
	assert_true(c->devices[0].removable);
	assert_false(c->devices[1].removable);
	tg_config_free(c);
}

static int make_temp_dir(void **state)
{
	return mkdtemp(temp_dir) ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
	static const char *const names[] = {
		"case.conf", "devices.inc", "main.conf", "empty.conf", "values.conf",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(temp_path(names[i]));
	return rmdir(temp_dir);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_error_in_included_file_names_that_file),
		cmocka_unit_test(test_error_message_truncates_safely),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_decode_secret),
		cmocka_unit_test(test_default_conf),
		cmocka_unit_test(test_io_thread_cpus),
		cmocka_unit_test(test_example_conf),
		cmocka_unit_test(test_defaults_of_empty_file),
		cmocka_unit_test(test_values_land_in_model),
		cmocka_unit_test(test_iscsi_name_length_limit),
		cmocka_unit_test(test_removable_disk),
	};
	size_t error_count = sizeof(error_cases) / sizeof(error_cases[0]);
	size_t fixed_count = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(error_count + fixed_count, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < error_count; i++) {
		tests[fixed_count + i] = (struct CMUnitTest){
			.name = error_cases[i].name,
			.test_func = run_error_case,
			.initial_state = (void *)&error_cases[i],
		};
	}
	int failures = _cmocka_run_group_tests("config", tests, error_count + fixed_count,
					       make_temp_dir, remove_temp_dir);
	free(tests);
	return failures;
}
