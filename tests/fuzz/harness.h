/* What every libFuzzer target here shares: a check that stops the run where it fails, a fatal set-up error, and the log level TARGE_FUZZ_LOG asks for. */
#ifndef TG_FUZZ_HARNESS_H
#define TG_FUZZ_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

/* A trap, not an exit: libFuzzer keeps the input that got here as a crash reproducer. */
#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s: check failed: %s: ", program_invocation_short_name, \
				#cond);                                                       \
			fprintf(stderr, __VA_ARGS__);                                         \
			fputc('\n', stderr);                                                  \
			__builtin_trap();                                                     \
		}                                                                             \
	} while (0)

/* The target cannot set itself up: no input is to blame. */
static inline __attribute__((noreturn)) void fatal(const char *what)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
	exit(1);
}

/* Only errors are worth a line unless TARGE_FUZZ_LOG names a level. */
static inline void fuzz_log_level_from_env(void)
{
	const char *level = getenv("TARGE_FUZZ_LOG");
	enum tg_log_level log_level = TG_LOG_ERROR;
	if (level && !tg_log_level_parse(level, &log_level))
		fatal("TARGE_FUZZ_LOG must be error, warn, info or debug");
	tg_log_set_level(log_level);
}

#endif
