/* The control protocol's request parser and the JSON replies built from the live runtime. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/control.h"
#include "core/device.h"
#include "core/iostats.h"
#include "core/json.h"
#include "core/nexus.h"
#include "core/runtime.h"
#include "core/scsi.h"

struct verb_entry {
	const char *name;
	enum tg_control_verb verb;
	bool takes_args;
};

static const struct verb_entry verbs[] = {
	{ "targets", TG_CONTROL_TARGETS, false },
	{ "devices", TG_CONTROL_DEVICES, false },
	{ "sessions", TG_CONTROL_SESSIONS, false },
	{ "stats", TG_CONTROL_STATS, false },
	{ "add-lun", TG_CONTROL_ADD_LUN, true },
	{ "remove-lun", TG_CONTROL_REMOVE_LUN, true },
	{ "reload", TG_CONTROL_RELOAD, false },
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

int tg_control_parse_request(const char *line, size_t len, struct tg_control_request *req,
			     const char **error)
{
	if (len && line[len - 1] == '\r')
		len--;
	if (len > TG_CONTROL_REQUEST_MAX) {
		*error = "request too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c > 0x7e) {
			*error = "request is not printable ASCII text";
			return -1;
		}
	}
	size_t start = 0;
	while (start < len && is_blank(line[start]))
		start++;
	size_t end = start;
	while (end < len && !is_blank(line[end]))
		end++;
	if (end == start) {
		*error = "empty request";
		return -1;
	}
	size_t rest = end;
	while (rest < len && is_blank(line[rest]))
		rest++;
	size_t rest_end = len;
	while (rest_end > rest && is_blank(line[rest_end - 1]))
		rest_end--;
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (strlen(verbs[v].name) != end - start ||
		    memcmp(verbs[v].name, line + start, end - start) != 0)
			continue;
		if (rest_end > rest && !verbs[v].takes_args) {
			*error = "this request takes no arguments";
			return -1;
		}
		req->verb = verbs[v].verb;
		req->args = line + rest;
		req->args_len = rest_end - rest;
		return 0;
	}
	*error = "unknown request (known: targets, devices, sessions, stats)";
	return -1;
}

static const char *verb_name(enum tg_control_verb verb)
{
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (verbs[v].verb == verb)
			return verbs[v].name;
	return "?";
}

static void write_transports(struct tg_json *j, const char *key, unsigned mask)
{
	tg_json_begin_array(j, key);
	if (mask & TG_TRANSPORT_ISCSI)
		tg_json_string(j, NULL, "iscsi");
	if (mask & TG_TRANSPORT_ISER)
		tg_json_string(j, NULL, "iser");
	if (mask & TG_TRANSPORT_SRP)
		tg_json_string(j, NULL, "srp");
	tg_json_end_array(j);
}

static const char *transport_name(enum tg_transport_kind kind)
{
	switch (kind) {
	case TG_TRANSPORT_ISCSI:
		return "iscsi";
	case TG_TRANSPORT_ISER:
		return "iser";
	case TG_TRANSPORT_SRP:
		return "srp";
	}
	return "unknown";
}

static void write_lun_map(struct tg_json *j, const char *key, const struct tg_lun_map *map)
{
	tg_json_begin_array(j, key);
	for (size_t i = 0; i < map->count; i++) {
		const struct tg_lun_entry *e = &map->entries[i];
		tg_json_begin_object(j, NULL);
		tg_json_uint(j, "lun", e->lun);
		tg_json_string(j, "device", e->dev ? e->dev->name : NULL);
		tg_json_bool(j, "read_only", e->read_only);
		tg_json_end_object(j);
	}
	tg_json_end_array(j);
}

/* The config entry a runtime target was built from (same order), for what the runtime drops. */
static const struct cfg_target *config_target(const struct tg_runtime *rt, size_t index)
{
	const struct tg_config *config = rt->config;
	if (!config || index >= config->target_count)
		return NULL;
	return &config->targets[index];
}

static void write_targets(struct tg_json *j, const struct tg_runtime *rt)
{
	tg_json_begin_array(j, "targets");
	for (size_t t = 0; t < rt->target_count; t++) {
		const struct tg_target *target = &rt->targets[t];
		const struct cfg_target *cfg = config_target(rt, t);
		tg_json_begin_object(j, NULL);
		tg_json_string(j, "name", target->name);
		tg_json_uint(j, "tpgt", target->tpgt);
		write_transports(j, "transports", target->transports);
		tg_json_bool(j, "chap", target->chap.enabled);
		/* What initiators no rule names see; empty means they are refused. */
		write_lun_map(j, "luns", &target->luns);
		tg_json_begin_array(j, "access");
		for (size_t r = 0; r < target->rule_count; r++) {
			const struct tg_access_rule *rule = &target->rules[r];
			tg_json_begin_object(j, NULL);
			const char *group = cfg && r < cfg->access_count ? cfg->access[r].group : NULL;
			tg_json_string(j, "group", group);
			tg_json_begin_array(j, "initiators");
			for (size_t i = 0; i < rule->initiator_count; i++)
				tg_json_string(j, NULL, rule->initiators[i]);
			tg_json_end_array(j);
			write_lun_map(j, "luns", &rule->map);
			tg_json_end_object(j);
		}
		tg_json_end_array(j);
		tg_json_end_object(j);
	}
	tg_json_end_array(j);
}

static const char *peripheral_name(uint8_t type)
{
	switch (type) {
	case SCSI_TYPE_DISK:
		return "disk";
	case SCSI_TYPE_TAPE:
		return "tape";
	case SCSI_TYPE_CDROM:
		return "cdrom";
	default:
		return "other";
	}
}

static void write_devices(struct tg_json *j, const struct tg_runtime *rt)
{
	tg_json_begin_array(j, "devices");
	for (size_t d = 0; d < rt->device_count; d++) {
		const struct tg_device *dev = rt->devices[d];
		const struct cfg_device *cfg =
			rt->config ? tg_config_find_device(rt->config, dev->name) : NULL;
		tg_json_begin_object(j, NULL);
		tg_json_string(j, "name", dev->name);
		tg_json_string(j, "backend", dev->ops ? dev->ops->name : NULL);
		tg_json_string(j, "path", cfg ? cfg->path : NULL);
		tg_json_string(j, "type", peripheral_name(dev->peripheral_type));
		tg_json_uint(j, "size", (uint64_t)dev->block_size * dev->num_blocks);
		tg_json_uint(j, "block_size", dev->block_size);
		tg_json_uint(j, "blocks", dev->num_blocks);
		tg_json_uint(j, "protection", (uint64_t)(dev->protection_type > 0 ? dev->protection_type : 0));
		tg_json_bool(j, "removable", dev->removable);
		tg_json_bool(j, "read_only", dev->backend_read_only);
		tg_json_string(j, "serial", dev->serial);
		tg_json_end_object(j);
	}
	tg_json_end_array(j);
}

static void write_session(struct tg_nexus *nexus, void *arg)
{
	struct tg_json *j = arg;
	pthread_mutex_lock(&nexus->lock);
	unsigned tasks = nexus->task_count;
	pthread_mutex_unlock(&nexus->lock);
	tg_json_begin_object(j, NULL);
	tg_json_uint(j, "id", nexus->id);
	tg_json_string(j, "transport", transport_name(nexus->transport));
	tg_json_string(j, "initiator", nexus->initiator_name);
	tg_json_string(j, "initiator_port", nexus->initiator_port);
	tg_json_string(j, "target", nexus->target ? nexus->target->name : NULL);
	write_lun_map(j, "luns", nexus->map);
	tg_json_uint(j, "tasks", tasks);
	tg_json_end_object(j);
}

static void count_session(struct tg_nexus *nexus, void *arg)
{
	(void)nexus;
	(*(uint64_t *)arg)++;
}

static void write_stats(struct tg_json *j, const struct tg_control_context *ctx)
{
	const struct tg_runtime *rt = ctx->runtime;
	double uptime = ctx->now > ctx->started ? ctx->now - ctx->started : 0;
	tg_json_uint(j, "uptime_seconds", (uint64_t)uptime);
	unsigned threads = rt->config && rt->config->io_threads > 1 ? rt->config->io_threads : 1;
	tg_json_uint(j, "io_threads", threads);
	/* Where they run: the CPUs of global.io_thread_cpus in thread order, [] when unpinned. */
	tg_json_begin_array(j, "io_thread_cpus");
	for (unsigned i = 0; rt->config && i < rt->config->io_thread_cpu_count; i++)
		tg_json_uint(j, NULL, rt->config->io_thread_cpus[i]);
	tg_json_end_array(j);
	uint64_t sessions = 0;
	tg_nexus_for_each(count_session, &sessions);
	tg_json_uint(j, "sessions", sessions);
	tg_json_uint(j, "copied_bytes", tg_stats_copied_bytes());
	tg_json_begin_object(j, "buffers");
	tg_json_uint(j, "in_flight_bytes", tg_buf_in_flight_bytes());
	tg_json_uint(j, "budget_bytes", tg_buf_budget());
	tg_json_uint(j, "refusals", tg_buf_budget_refusals());
	tg_json_end_object(j);
	tg_json_begin_array(j, "devices");
	for (size_t d = 0; d < rt->device_count; d++) {
		const struct tg_device *dev = rt->devices[d];
		struct tg_io_counts counts;
		tg_io_counters_read(&dev->io_counters, &counts);
		tg_json_begin_object(j, NULL);
		tg_json_string(j, "name", dev->name);
		tg_json_uint(j, "read_commands", counts.read_commands);
		tg_json_uint(j, "read_bytes", counts.read_bytes);
		tg_json_uint(j, "write_commands", counts.write_commands);
		tg_json_uint(j, "write_bytes", counts.write_bytes);
		tg_json_end_object(j);
	}
	tg_json_end_array(j);
}

static char *error_reply(const char *message, bool not_implemented, size_t *reply_len)
{
	struct tg_json j;
	tg_json_init(&j);
	tg_json_begin_object(&j, NULL);
	tg_json_bool(&j, "ok", false);
	tg_json_string(&j, "error", message);
	if (not_implemented)
		tg_json_bool(&j, "not_implemented", true);
	tg_json_end_object(&j);
	return tg_json_finish(&j, reply_len);
}

char *tg_control_reply(const struct tg_control_context *ctx, const char *line, size_t len,
		       size_t *reply_len)
{
	struct tg_control_request req;
	const char *error = NULL;
	if (tg_control_parse_request(line, len, &req, &error) != 0)
		return error_reply(error, false, reply_len);
	struct tg_json j;
	tg_json_init(&j);
	tg_json_begin_object(&j, NULL);
	tg_json_bool(&j, "ok", true);
	tg_json_string(&j, "request", verb_name(req.verb));
	switch (req.verb) {
	case TG_CONTROL_TARGETS:
		write_targets(&j, ctx->runtime);
		break;
	case TG_CONTROL_DEVICES:
		write_devices(&j, ctx->runtime);
		break;
	case TG_CONTROL_SESSIONS:
		tg_json_begin_array(&j, "sessions");
		tg_nexus_for_each(write_session, &j);
		tg_json_end_array(&j);
		break;
	case TG_CONTROL_STATS:
		write_stats(&j, ctx);
		break;
	case TG_CONTROL_ADD_LUN:
	case TG_CONTROL_REMOVE_LUN:
	case TG_CONTROL_RELOAD:
		tg_json_discard(&j);
		char message[64];
		snprintf(message, sizeof(message), "%s is not implemented yet", verb_name(req.verb));
		return error_reply(message, true, reply_len);
	}
	tg_json_end_object(&j);
	return tg_json_finish(&j, reply_len);
}
