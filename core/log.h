/* Leveled, component-tagged logging to stderr, shared by every layer of targed. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdbool.h>

enum tg_log_level { TG_LOG_ERROR = 0, TG_LOG_WARN, TG_LOG_INFO, TG_LOG_DEBUG };

void tg_log_set_level(enum tg_log_level level);
enum tg_log_level tg_log_get_level(void);
/* Parses "error" | "warn" | "info" | "debug"; returns false on anything else. */
bool tg_log_level_parse(const char *name, enum tg_log_level *out);
void tg_log(enum tg_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define tg_log_enabled(level) ((level) <= tg_log_get_level())
#define tg_err(comp, ...) tg_log(TG_LOG_ERROR, comp, __VA_ARGS__)
#define tg_warn(comp, ...) tg_log(TG_LOG_WARN, comp, __VA_ARGS__)
#define tg_info(comp, ...) tg_log(TG_LOG_INFO, comp, __VA_ARGS__)
#define tg_debug(comp, ...)                                                    \
	do {                                                                   \
		if (tg_log_enabled(TG_LOG_DEBUG))                              \
			tg_log(TG_LOG_DEBUG, comp, __VA_ARGS__);               \
	} while (0)

#endif
