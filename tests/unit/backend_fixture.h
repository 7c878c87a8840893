/* Fixture of the backend tests: one device of a real backend, opened through its ops on a real event loop and I/O engine. */
#ifndef TG_TEST_BACKEND_FIXTURE_H
#define TG_TEST_BACKEND_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "config/config.h"
#include "loop_helpers.h"

struct backend_fixture {
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	struct tg_device dev;
	bool open;
	char dir[256];	/* a fresh directory, when the setup asked for one */
	char path[300]; /* dir/disk.img, not created */
};

/* A loop and the engine force_threads asks for; with scratch, an empty directory named after it. */
static inline struct backend_fixture *backend_fixture_new(const char *scratch)
{
	struct backend_fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(fx->loop);
	fx->engine = loop_engine_create(fx->loop);
	if (scratch) {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		snprintf(fx->dir, sizeof(fx->dir), "%s/targe-test-%s-XXXXXX", tmp, scratch);
		assert_non_null(mkdtemp(fx->dir));
		snprintf(fx->path, sizeof(fx->path), "%s/disk.img", fx->dir);
	}
	return fx;
}

static inline void close_dev(struct backend_fixture *fx)
{
	if (fx->open)
		fx->dev.ops->close(&fx->dev);
	fx->open = false;
}

static inline int backend_fixture_teardown(void **state)
{
	struct backend_fixture *fx = *state;
	close_dev(fx);
	tg_ioengine_destroy(fx->engine);
	ev_loop_destroy(fx->loop);
	if (fx->dir[0]) {
		unlink(fx->path);
		rmdir(fx->dir);
	}
	free(fx);
	return 0;
}

/* A test on a fresh fixture, built by the `setup` its file defines. */
#define backend_test(test) cmocka_unit_test_setup_teardown(test, setup, backend_fixture_teardown)

/* Opens dev through cfg's backend, as the core does; returns open's result with err filled. */
static inline int try_open(struct tg_device *dev, const struct cfg_device *cfg, char *err,
			   size_t errlen)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = dev_backend_find(cfg->backend);
	assert_non_null(dev->ops);
	err[0] = '\0';
	return dev->ops->open(dev, cfg, err, errlen);
}

static inline void open_ok(struct backend_fixture *fx, const struct cfg_device *cfg)
{
	char err[512];
	if (try_open(&fx->dev, cfg, err, sizeof(err)) != 0)
		fail_msg("open failed: %s", err);
	fx->open = true;
}

/* The open fails, saying fragment; fx's own device stays as it was. */
static inline void expect_open_error(struct backend_fixture *fx, const struct cfg_device *cfg,
				     const char *fragment)
{
	char err[512];
	struct tg_device dev;
	int rc = try_open(&dev, cfg, err, sizeof(err));
	if (rc == 0) {
		dev.ops->close(&dev);
		fail_msg("open succeeded, want an error with \"%s\"", fragment);
	}
	assert_int_equal(rc, -1);
	if (!strstr(err, fragment))
		fail_msg("error \"%s\" lacks \"%s\"", err, fragment);
}

/* Submits one request to the device and runs the loop until it completes; returns its result. */
static inline int do_io(struct backend_fixture *fx, enum tg_io_op op, uint64_t offset,
			uint64_t len, void *buf, bool fua)
{
	return loop_do_io(fx->loop, fx->engine, &fx->dev, op, offset, len, buf, fua);
}

#endif
