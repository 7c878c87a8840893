/* Implementation of targed's stderr logger: timestamp, level, component, message. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum tg_log_level current_level = TG_LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void tg_log_set_level(enum tg_log_level level) { current_level = level; }
enum tg_log_level tg_log_get_level(void) { return current_level; }

bool tg_log_level_parse(const char *name, enum tg_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum tg_log_level)i;
			return true;
		}
	}
	return false;
}

void tg_log(enum tg_log_level level, const char *component, const char *fmt, ...)
{
	if (level > current_level)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[1024];
	int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-5s %-8s ", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], component);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines from different threads whole. */
	size_t len = strlen(line);
	if (len < sizeof(line) - 1) {
		line[len] = '\n';
		line[len + 1] = 0;
	}
	fputs(line, stderr);
}
