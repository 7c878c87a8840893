/* For unit tests that pin threads: the CPUs this process may run on here, whichever machine runs the test. */
#ifndef TG_TEST_ALLOWED_CPUS_H
#define TG_TEST_ALLOWED_CPUS_H

#include <sched.h>

/* The process's affinity mask, with its lowest and highest CPU in *first and *last. */
static inline cpu_set_t allowed_cpus(unsigned *first, unsigned *last)
{
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	assert_int_equal(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	*first = CPU_SETSIZE;
	*last = 0;
	for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed)) {
			*first = *first == CPU_SETSIZE ? cpu : *first;
			*last = cpu;
		}
	assert_true(*first < CPU_SETSIZE);
	return allowed;
}

#endif
