/* targectl: asks a running targed over its control socket for targets, devices, sessions and stats. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"

#define DEFAULT_SOCKET "var/targed.sock"
#define REPLY_TIMEOUT_MS 10000
#define EXIT_FAILURE_DAEMON 1
#define EXIT_USAGE 2
#define EXIT_NOT_IMPLEMENTED 3

static void usage(FILE *out)
{
	fprintf(out,
		"usage: targectl [-s SOCKET | -c CONFIG] COMMAND [--json]\n"
		"  -s, --socket SOCKET  the daemon's control socket (default: " DEFAULT_SOCKET ")\n"
		"  -c, --config CONFIG  take the socket from CONFIG's global.control_socket\n"
		"      --json           print the daemon's JSON reply instead of tables\n"
		"commands:\n"
		"  targets    targets, their transports and the LUNs each access rule maps\n"
		"  devices    devices: backend, path, size, block size, protection\n"
		"  sessions   every I_T nexus: transport, initiator, target, the LUNs it sees\n"
		"  stats      data-path counters and per-device reads and writes\n"
		"  add-lun, remove-lun, reload   reserved: not implemented yet\n");
}

/* ---- talking to the daemon ---- */

static int connect_daemon(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "targectl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "targectl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr, "targectl: targed is not running (nothing answers on %s: %s)\n",
				path, strerror(e));
		else
			fprintf(stderr, "targectl: cannot connect to %s: %s\n", path, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends the request line and reads the reply until the daemon closes. NULL on failure. */
static char *exchange(const char *path, const char *request, size_t *reply_len)
{
	int fd = connect_daemon(path);
	if (fd < 0)
		return NULL;
	char line[64];
	int n = snprintf(line, sizeof(line), "%s\n", request);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "targectl: cannot send to %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	size_t len = 0, cap = 65536;
	char *reply = malloc(cap);
	if (!reply) {
		close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ready = poll(&pfd, 1, REPLY_TIMEOUT_MS);
		if (ready == 0) {
			fprintf(stderr, "targectl: no reply from %s within %d s\n", path,
				REPLY_TIMEOUT_MS / 1000);
			goto fail;
		}
		if (ready < 0 && errno == EINTR)
			continue;
		if (len + 1 >= cap) {
			char *grown = realloc(reply, cap * 2);
			if (!grown)
				goto fail;
			reply = grown;
			cap *= 2;
		}
		ssize_t got = recv(fd, reply + len, cap - len - 1, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "targectl: reading from %s: %s\n", path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	reply[len] = '\0';
	*reply_len = len;
	return reply;
fail:
	close(fd);
	free(reply);
	return NULL;
}

/* ---- tables ---- */

#define TABLE_COLUMNS 8

struct table {
	size_t columns, rows, cap;
	char **cells; /* rows * columns, row-major; row 0 is the header */
};

static void table_init(struct table *t, size_t columns) { *t = (struct table){ .columns = columns }; }

static void table_row(struct table *t, ...)
{
	if (t->rows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * t->columns * sizeof(char *));
		if (!t->cells) {
			perror("targectl");
			exit(EXIT_FAILURE_DAEMON);
		}
	}
	va_list ap;
	va_start(ap, t);
	for (size_t c = 0; c < t->columns; c++) {
		const char *cell = va_arg(ap, const char *);
		t->cells[t->rows * t->columns + c] = strdup(cell ? cell : "-");
	}
	va_end(ap);
	t->rows++;
}

static void table_print(struct table *t)
{
	size_t width[TABLE_COLUMNS] = { 0 };
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->columns; c++) {
			const char *cell = t->cells[r * t->columns + c];
			size_t w = cell ? strlen(cell) : 0;
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t c = 0; c < t->columns; c++) {
			const char *cell = t->cells[r * t->columns + c];
			if (c + 1 == t->columns)
				printf("%s\n", cell ? cell : "");
			else
				printf("%-*s  ", (int)width[c], cell ? cell : "");
		}
	}
	for (size_t i = 0; i < t->rows * t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
}

static const char *str_of(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "-";
}

static uint64_t uint_of(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));
	return v > 0 ? (uint64_t)v : 0;
}

static char *fmt_uint(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

static void human_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]))
		v /= 1024, u++;
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* "0:disk0 1:pi0(ro)" */
static void lun_list(char *buf, size_t len, json_t *luns)
{
	size_t used = 0;
	buf[0] = '\0';
	size_t i;
	json_t *lun;
	json_array_foreach(luns, i, lun) {
		int n = snprintf(buf + used, len - used, "%s%" PRIu64 ":%s%s", i ? " " : "",
				 uint_of(lun, "lun"), str_of(lun, "device"),
				 json_is_true(json_object_get(lun, "read_only")) ? "(ro)" : "");
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "none");
}

static void join_strings(char *buf, size_t len, json_t *array)
{
	size_t used = 0;
	buf[0] = '\0';
	size_t i;
	json_t *item;
	json_array_foreach(array, i, item) {
		const char *s = json_string_value(item);
		int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", s ? s : "?");
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void print_targets(json_t *root)
{
	struct table t;
	table_init(&t, 4);
	table_row(&t, "TARGET", "TRANSPORTS", "INITIATORS", "LUNS");
	size_t i;
	json_t *target;
	json_array_foreach(json_object_get(root, "targets"), i, target) {
		char transports[64], luns[4096], who[4096];
		join_strings(transports, sizeof(transports), json_object_get(target, "transports"));
		json_t *defaults = json_object_get(target, "luns");
		lun_list(luns, sizeof(luns), defaults);
		const char *name = str_of(target, "name");
		json_t *rules = json_object_get(target, "access");
		table_row(&t, name, transports, json_array_size(rules) ? "(all others)" : "(all)",
			  json_array_size(defaults) ? luns : "none: refused");
		size_t r;
		json_t *rule;
		json_array_foreach(rules, r, rule) {
			const char *group = json_string_value(json_object_get(rule, "group"));
			if (group)
				snprintf(who, sizeof(who), "group %s", group);
			else
				join_strings(who, sizeof(who), json_object_get(rule, "initiators"));
			lun_list(luns, sizeof(luns), json_object_get(rule, "luns"));
			table_row(&t, "", "", who, luns);
		}
	}
	table_print(&t);
}

static void print_devices(json_t *root)
{
	struct table t;
	table_init(&t, 8);
	table_row(&t, "DEVICE", "BACKEND", "TYPE", "SIZE", "BLOCK", "PROTECTION", "FLAGS", "PATH");
	size_t i;
	json_t *dev;
	json_array_foreach(json_object_get(root, "devices"), i, dev) {
		char size[32], block[24], prot[32], flags[32];
		human_size(size, sizeof(size), uint_of(dev, "size"));
		fmt_uint(block, sizeof(block), uint_of(dev, "block_size"));
		uint64_t type = uint_of(dev, "protection");
		if (type)
			snprintf(prot, sizeof(prot), "type %" PRIu64, type);
		else
			snprintf(prot, sizeof(prot), "none");
		bool removable = json_is_true(json_object_get(dev, "removable"));
		bool ro = json_is_true(json_object_get(dev, "read_only"));
		snprintf(flags, sizeof(flags), "%s%s%s", removable ? "removable" : "",
			 removable && ro ? "," : "", ro ? "read-only" : "");
		table_row(&t, str_of(dev, "name"), str_of(dev, "backend"), str_of(dev, "type"), size,
			  block, prot, flags[0] ? flags : "-", str_of(dev, "path"));
	}
	table_print(&t);
}

static void print_sessions(json_t *root)
{
	struct table t;
	table_init(&t, 7);
	table_row(&t, "ID", "TRANSPORT", "INITIATOR", "INITIATOR PORT", "TARGET", "LUNS", "TASKS");
	size_t i;
	json_t *s;
	json_t *sessions = json_object_get(root, "sessions");
	json_array_foreach(sessions, i, s) {
		char id[24], luns[4096], tasks[24];
		fmt_uint(id, sizeof(id), uint_of(s, "id"));
		lun_list(luns, sizeof(luns), json_object_get(s, "luns"));
		fmt_uint(tasks, sizeof(tasks), uint_of(s, "tasks"));
		table_row(&t, id, str_of(s, "transport"), str_of(s, "initiator"),
			  str_of(s, "initiator_port"), str_of(s, "target"), luns, tasks);
	}
	table_print(&t);
	printf("%zu session(s)\n", json_array_size(sessions));
}

static void print_stats(json_t *root)
{
	char a[32], b[32];
	uint64_t up = uint_of(root, "uptime_seconds");
	printf("uptime              %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "\n",
	       up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
	printf("io threads          %" PRIu64, uint_of(root, "io_threads"));
	json_t *cpus = json_object_get(root, "io_thread_cpus");
	size_t index;
	json_t *cpu;
	json_array_foreach(cpus, index, cpu)
		printf("%s%" JSON_INTEGER_FORMAT, index ? ", " : ", pinned to CPUs ", json_integer_value(cpu));
	printf("\n");
	printf("sessions            %" PRIu64 "\n", uint_of(root, "sessions"));
	printf("data path copies    %" PRIu64 " bytes\n", uint_of(root, "copied_bytes"));
	json_t *buffers = json_object_get(root, "buffers");
	human_size(a, sizeof(a), uint_of(buffers, "in_flight_bytes"));
	human_size(b, sizeof(b), uint_of(buffers, "budget_bytes"));
	printf("data buffers        %s in flight of %s budget, %" PRIu64 " refused\n", a,
	       uint_of(buffers, "budget_bytes") ? b : "no", uint_of(buffers, "refusals"));
	printf("\n");
	struct table t;
	table_init(&t, 5);
	table_row(&t, "DEVICE", "READS", "READ BYTES", "WRITES", "WRITE BYTES");
	size_t i;
	json_t *dev;
	json_array_foreach(json_object_get(root, "devices"), i, dev) {
		char rc[24], rb[24], wc[24], wb[24];
		table_row(&t, str_of(dev, "name"), fmt_uint(rc, sizeof(rc), uint_of(dev, "read_commands")),
			  fmt_uint(rb, sizeof(rb), uint_of(dev, "read_bytes")),
			  fmt_uint(wc, sizeof(wc), uint_of(dev, "write_commands")),
			  fmt_uint(wb, sizeof(wb), uint_of(dev, "write_bytes")));
	}
	table_print(&t);
}

/* ---- main ---- */

struct command {
	const char *name;
	void (*print)(json_t *root);
};

static const struct command commands[] = {
	{ "targets", print_targets },
	{ "devices", print_devices },
	{ "sessions", print_sessions },
	{ "stats", print_stats },
	{ "add-lun", NULL },
	{ "remove-lun", NULL },
	{ "reload", NULL },
};

int main(int argc, char **argv)
{
	const char *socket_path = NULL, *config_path = NULL;
	bool json = false;
	enum { OPT_JSON = 256 };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "s:c:h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || (socket_path && config_path)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *verb = argv[optind];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, verb) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "targectl: unknown command '%s'\n", verb);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!cmd->print) {
		fprintf(stderr, "targectl: %s is not implemented yet (reserved for run-time changes; "
				"see docs/control.md)\n", verb);
		return EXIT_NOT_IMPLEMENTED;
	}

	struct tg_config *config = NULL;
	if (config_path) {
		char err[1024];
		if (tg_config_load(config_path, &config, err, sizeof(err)) != 0) {
			fprintf(stderr, "targectl: %s\n", err);
			return EXIT_FAILURE_DAEMON;
		}
		socket_path = config->control_socket;
	}
	if (!socket_path)
		socket_path = DEFAULT_SOCKET;

	size_t reply_len = 0;
	char *reply = exchange(socket_path, verb, &reply_len);
	int status = EXIT_FAILURE_DAEMON;
	if (!reply)
		goto out;
	json_error_t error;
	json_t *root = json_loadb(reply, reply_len, 0, &error);
	if (!root || !json_is_object(root)) {
		fprintf(stderr, "targectl: the daemon's reply is not a JSON object (%s)\n",
			root ? "wrong type" : error.text);
	} else if (!json_is_true(json_object_get(root, "ok"))) {
		fprintf(stderr, "targectl: the daemon refused '%s': %s\n", verb, str_of(root, "error"));
		if (json)
			fwrite(reply, 1, reply_len, stdout);
	} else {
		if (json)
			fwrite(reply, 1, reply_len, stdout);
		else
			cmd->print(root);
		status = 0;
	}
	json_decref(root);
	free(reply);
out:
	tg_config_free(config);
	return status;
}
