/* Sidecar PI store: PATH.pi tuples, a PATH.pi.state format record and write-intent map, crash repair, striped locks for per-block atomicity. */
#include "devices/pi_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <isa-l/crc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/device.h"
#include "core/log.h"
#include "core/pi.h"
#include "devices/backend_util.h"

/*
 * PATH.pi.state: a header at 0, then from STATE_MAP_OFFSET one byte per region of the data,
 * 1 while writes to the region may have left data and PI disagreeing, 0 once both are known
 * durable together. All integers big-endian.
 */
#define STATE_MAGIC "TGPISTAT"
#define STATE_VERSION 1u
#define STATE_HEADER_BYTES 44u
#define STATE_MAP_OFFSET 4096u
#define STATE_FORMATTING 0x1u

/* A region is at least 1 MiB of data; large devices get larger regions so that the map stays
 * at most 64 Ki bytes and a repair after a crash reads a bounded share of the disk. */
#define REGION_BYTES_MIN (1u << 20)
#define REGION_COUNT_MAX (1u << 16)
/* Readers and writers of the same region serialize on one of these, so a block's data and
 * PI are only ever seen, and written, together. */
#define STRIPES 64u
#define FILL_CHUNK (1u << 20)

enum region_state { REGION_CLEAN, REGION_MARKING, REGION_DIRTY };

struct region {
	uint8_t state;
	uint32_t inflight;  /* changes under way */
	uint32_t seq;       /* changes begun, ever */
	uint32_t flush_seq; /* seq when the running flush began */
};

struct state_header {
	uint32_t type;
	uint32_t config_type;
	uint32_t block_size;
	uint32_t region_shift;
	uint32_t flags;
	uint64_t num_blocks;
};

struct dev_pi_store {
	char *name;
	int data_fd;
	int pi_fd;
	int state_fd;
	bool data_direct;
	bool read_only;
	uint32_t block_size;
	uint64_t num_blocks;
	int type;
	int config_type;
	unsigned region_shift; /* log2 of blocks per region */
	uint64_t region_count;
	struct region *regions;
	pthread_mutex_t lock; /* regions[] */
	pthread_cond_t marked;
	pthread_mutex_t flush_lock;
	pthread_rwlock_t stripes[STRIPES];
};

int dev_pi_store_type(const struct dev_pi_store *store) { return store->type; }

/* ---- plain file I/O ---- */

static int rw_all(int fd, const struct iovec *iov, int iovcnt, uint64_t offset, uint64_t len,
		  bool write)
{
	struct iovec local[8];
	struct iovec *v = iovcnt <= 8 ? local : malloc((size_t)iovcnt * sizeof(*v));
	if (!v)
		return -ENOMEM;
	int cnt = 0;
	uint64_t have = 0;
	for (int i = 0; i < iovcnt && have < len; i++) {
		v[cnt] = iov[i];
		if (v[cnt].iov_len > len - have)
			v[cnt].iov_len = (size_t)(len - have);
		have += v[cnt].iov_len;
		if (v[cnt].iov_len)
			cnt++;
	}
	int rc = have < len ? -EINVAL : 0;
	struct iovec *cur = v;
	while (rc == 0 && len) {
		ssize_t n = write ? pwritev(fd, cur, cnt, (off_t)offset)
				  : preadv(fd, cur, cnt, (off_t)offset);
		if (n < 0) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		if (n == 0) {
			rc = -EIO; /* both files are sized to the device: no end comes first */
			break;
		}
		offset += (uint64_t)n;
		len -= (uint64_t)n;
		size_t moved = (size_t)n;
		while (cnt && moved >= cur->iov_len) {
			moved -= cur->iov_len;
			cur++;
			cnt--;
		}
		if (cnt && moved) {
			cur->iov_base = (uint8_t *)cur->iov_base + moved;
			cur->iov_len -= moved;
		}
	}
	if (v != local)
		free(v);
	return rc;
}

static int rw_buf(int fd, void *buf, uint64_t len, uint64_t offset, bool write)
{
	struct iovec v = { buf, (size_t)len };
	return rw_all(fd, &v, 1, offset, len, write);
}

static int sync_fd(int fd) { return fdatasync(fd) == 0 ? 0 : -errno; }

/* ---- the state file ---- */

static void header_encode(const struct state_header *h, uint8_t out[STATE_HEADER_BYTES])
{
	memset(out, 0, STATE_HEADER_BYTES);
	memcpy(out, STATE_MAGIC, 8);
	put_be32(out + 8, STATE_VERSION);
	put_be32(out + 12, h->type);
	put_be32(out + 16, h->config_type);
	put_be32(out + 20, h->block_size);
	put_be32(out + 24, h->region_shift);
	put_be32(out + 28, h->flags);
	put_be64(out + 32, h->num_blocks);
	put_be32(out + 40, crc32_iscsi(out, 40, 0xffffffffu));
}

static bool header_decode(const uint8_t in[STATE_HEADER_BYTES], struct state_header *h)
{
	if (memcmp(in, STATE_MAGIC, 8) != 0 || get_be32(in + 8) != STATE_VERSION ||
	    get_be32(in + 40) != crc32_iscsi((unsigned char *)in, 40, 0xffffffffu))
		return false;
	h->type = get_be32(in + 12);
	h->config_type = get_be32(in + 16);
	h->block_size = get_be32(in + 20);
	h->region_shift = get_be32(in + 24);
	h->flags = get_be32(in + 28);
	h->num_blocks = get_be64(in + 32);
	return h->type <= 3 && h->config_type <= 3;
}

/* The header is one sector, rewritten in place and synced: a torn one fails its CRC and the
 * store is then treated as wholly suspect (every region repaired). */
static int header_write(struct dev_pi_store *store, uint32_t flags)
{
	struct state_header h = { (uint32_t)store->type, (uint32_t)store->config_type,
				  store->block_size, store->region_shift, flags, store->num_blocks };
	uint8_t buf[STATE_HEADER_BYTES];
	header_encode(&h, buf);
	int rc = rw_buf(store->state_fd, buf, sizeof(buf), 0, true);
	return rc ? rc : sync_fd(store->state_fd);
}

static int map_write_byte(struct dev_pi_store *store, uint64_t region, uint8_t value)
{
	return rw_buf(store->state_fd, &value, 1, STATE_MAP_OFFSET + region, true);
}

static int map_write_all(struct dev_pi_store *store, uint8_t value)
{
	uint8_t *map = malloc(store->region_count);
	if (!map)
		return -ENOMEM;
	memset(map, value, store->region_count);
	int rc = rw_buf(store->state_fd, map, store->region_count, STATE_MAP_OFFSET, true);
	free(map);
	return rc;
}

static unsigned choose_region_shift(uint32_t block_size, uint64_t num_blocks)
{
	unsigned shift = 0;
	while (((uint64_t)block_size << shift) < REGION_BYTES_MIN)
		shift++;
	while ((num_blocks >> shift) >= REGION_COUNT_MAX)
		shift++;
	return shift;
}

/* ---- regions and stripes ---- */

static uint64_t region_of(const struct dev_pi_store *store, uint64_t lba)
{
	return lba >> store->region_shift;
}

static uint64_t stripe_mask(const struct dev_pi_store *store, uint64_t lba, uint64_t n)
{
	uint64_t first = region_of(store, lba), last = region_of(store, lba + n - 1);
	if (last - first + 1 >= STRIPES)
		return ~0ull;
	uint64_t mask = 0;
	for (uint64_t r = first; r <= last; r++)
		mask |= 1ull << (r % STRIPES);
	return mask;
}

/* Stripes are taken in index order, so two requests can never wait on each other. */
static void stripes_lock(struct dev_pi_store *store, uint64_t mask, bool write)
{
	for (unsigned s = 0; s < STRIPES; s++)
		if (mask & (1ull << s)) {
			if (write)
				pthread_rwlock_wrlock(&store->stripes[s]);
			else
				pthread_rwlock_rdlock(&store->stripes[s]);
		}
}

static void stripes_unlock(struct dev_pi_store *store, uint64_t mask)
{
	for (unsigned s = STRIPES; s-- > 0;)
		if (mask & (1ull << s))
			pthread_rwlock_unlock(&store->stripes[s]);
}

static void regions_end(struct dev_pi_store *store, uint64_t first, uint64_t last)
{
	pthread_mutex_lock(&store->lock);
	for (uint64_t r = first; r <= last; r++)
		store->regions[r].inflight--;
	pthread_mutex_unlock(&store->lock);
}

/*
 * Before data or PI of a region changes, the region is recorded dirty and that record made
 * durable: whatever a crash then leaves half-written lies in a region the next open repairs.
 * The record costs one small synced write per region per flush interval.
 */
static int regions_begin(struct dev_pi_store *store, uint64_t lba, uint64_t n)
{
	uint64_t first = region_of(store, lba), last = region_of(store, lba + n - 1);
	pthread_mutex_lock(&store->lock);
	for (uint64_t r = first; r <= last; r++) {
		struct region *reg = &store->regions[r];
		reg->inflight++;
		reg->seq++;
		while (reg->state != REGION_DIRTY) {
			if (reg->state == REGION_MARKING) {
				pthread_cond_wait(&store->marked, &store->lock);
				continue;
			}
			reg->state = REGION_MARKING;
			pthread_mutex_unlock(&store->lock);
			int rc = map_write_byte(store, r, 1);
			if (rc == 0)
				rc = sync_fd(store->state_fd);
			pthread_mutex_lock(&store->lock);
			reg->state = rc ? REGION_CLEAN : REGION_DIRTY;
			pthread_cond_broadcast(&store->marked);
			if (rc) {
				pthread_mutex_unlock(&store->lock);
				regions_end(store, first, r);
				return rc;
			}
		}
	}
	pthread_mutex_unlock(&store->lock);
	return 0;
}

/* ---- filling and repairing PI ---- */

static int fill_escapes(struct dev_pi_store *store, uint64_t lba, uint64_t n)
{
	uint8_t *buf = malloc(FILL_CHUNK);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0xff, FILL_CHUNK);
	uint64_t offset = lba * TG_PI_TUPLE_BYTES, len = n * TG_PI_TUPLE_BYTES;
	int rc = 0;
	while (rc == 0 && len) {
		uint64_t piece = len < FILL_CHUNK ? len : FILL_CHUNK;
		rc = rw_buf(store->pi_fd, buf, piece, offset, true);
		offset += piece;
		len -= piece;
	}
	free(buf);
	return rc;
}

static void *alloc_data_buf(const struct dev_pi_store *store, size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, TG_BUF_ALIGN, len ? len : 1) != 0)
		return NULL;
	return p;
}

/*
 * After a crash a dirty region's blocks hold the old or the new data (or a torn mixture) and
 * the old or the new PI, independently. Every tuple whose guard no longer matches its block
 * gets the guard of what the block now holds; its tags stay (type 1 reference tags do not
 * change between old and new, application tags are either one). Escapes stay unchecked.
 */
static int repair_region(struct dev_pi_store *store, uint64_t region, uint64_t *repaired)
{
	uint32_t bs = store->block_size;
	uint64_t lba = region << store->region_shift;
	uint64_t end = (region + 1) << store->region_shift;
	if (end > store->num_blocks)
		end = store->num_blocks;
	uint64_t chunk = FILL_CHUNK / bs ? FILL_CHUNK / bs : 1;
	uint8_t *data = alloc_data_buf(store, chunk * bs);
	uint8_t *pi = malloc(chunk * TG_PI_TUPLE_BYTES);
	int rc = data && pi ? 0 : -ENOMEM;
	while (rc == 0 && lba < end) {
		uint64_t n = end - lba < chunk ? end - lba : chunk;
		rc = rw_buf(store->data_fd, data, n * bs, lba * bs, false);
		if (rc == 0)
			rc = rw_buf(store->pi_fd, pi, n * TG_PI_TUPLE_BYTES, lba * TG_PI_TUPLE_BYTES,
				    false);
		if (rc)
			break;
		bool changed = false;
		for (uint64_t i = 0; i < n; i++) {
			uint8_t *p = pi + i * TG_PI_TUPLE_BYTES;
			struct tg_pi_tuple t = tg_pi_tuple_get(p);
			if (tg_pi_escaped(store->type, t))
				continue;
			uint16_t guard = tg_pi_crc16(data + i * bs, bs);
			if (guard != t.guard) {
				put_be16(p, guard);
				changed = true;
				(*repaired)++;
			}
		}
		if (changed)
			rc = rw_buf(store->pi_fd, pi, n * TG_PI_TUPLE_BYTES, lba * TG_PI_TUPLE_BYTES,
				    true);
		lba += n;
	}
	free(data);
	free(pi);
	return rc;
}

static int repair_dirty(struct dev_pi_store *store, const uint8_t *map)
{
	uint64_t regions = 0, repaired = 0;
	for (uint64_t r = 0; r < store->region_count; r++)
		regions += map[r] != 0;
	if (regions == 0)
		return 0;
	if (store->read_only) {
		tg_warn("dev-pi", "%s: %" PRIu64 " region(s) were being written when it last "
			"stopped; read-only, so left as they are", store->name, regions);
		return 0;
	}
	for (uint64_t r = 0; r < store->region_count && store->type != 0; r++) {
		int rc = map[r] ? repair_region(store, r, &repaired) : 0;
		if (rc)
			return rc;
	}
	int rc = sync_fd(store->pi_fd);
	if (rc == 0)
		rc = map_write_all(store, 0);
	if (rc == 0)
		rc = sync_fd(store->state_fd);
	tg_warn("dev-pi", "%s: unclean stop: %" PRIu64 " region(s) checked, %" PRIu64
		" guard(s) rewritten to match their blocks", store->name, regions, repaired);
	return rc;
}

/*
 * Formats every tuple as an escape for `type`, bracketed by a FORMATTING flag in the header
 * so that a crash midway is finished at the next open.
 */
static int format_all(struct dev_pi_store *store, int type)
{
	store->type = type;
	int rc = header_write(store, STATE_FORMATTING);
	if (rc == 0 && ftruncate(store->pi_fd, (off_t)(store->num_blocks * TG_PI_TUPLE_BYTES)) != 0)
		rc = -errno;
	if (rc == 0 && type != 0)
		rc = fill_escapes(store, 0, store->num_blocks);
	if (rc == 0)
		rc = sync_fd(store->pi_fd);
	if (rc == 0)
		rc = map_write_all(store, 0);
	if (rc == 0)
		rc = header_write(store, 0);
	return rc;
}

static int open_file(const char *path, bool read_only, bool *existed)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	*existed = fd >= 0;
	if (fd < 0 && errno == ENOENT && !read_only)
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT, 0600);
	return fd;
}

static void store_free(struct dev_pi_store *store)
{
	if (store->pi_fd >= 0)
		close(store->pi_fd);
	if (store->state_fd >= 0)
		close(store->state_fd);
	for (unsigned s = 0; s < STRIPES; s++)
		pthread_rwlock_destroy(&store->stripes[s]);
	pthread_mutex_destroy(&store->lock);
	pthread_mutex_destroy(&store->flush_lock);
	pthread_cond_destroy(&store->marked);
	free(store->regions);
	free(store->name);
	free(store);
}

/* Brings an existing, validly recorded store to the device's current size and geometry;
 * fills *map with the regions to repair. */
static int adopt(struct dev_pi_store *store, const struct state_header *h, uint8_t *map)
{
	store->type = (int)h->type;
	if (h->type != (uint32_t)store->config_type)
		tg_info("dev-pi", "%s: formatted with protection type %u by FORMAT UNIT (config "
			"says %d)", store->name, h->type, store->config_type);
	if (h->region_shift != store->region_shift) {
		memset(map, 1, store->region_count); /* the device grew past the map's reach */
	} else {
		/* A map shorter than the regions (the device grew): the new ones were never
		 * written. */
		struct stat st;
		if (fstat(store->state_fd, &st) != 0)
			return -errno;
		uint64_t have = (uint64_t)st.st_size > STATE_MAP_OFFSET
					? (uint64_t)st.st_size - STATE_MAP_OFFSET
					: 0;
		if (have > store->region_count)
			have = store->region_count;
		int rc = have ? rw_buf(store->state_fd, map, have, STATE_MAP_OFFSET, false) : 0;
		if (rc)
			return rc;
	}
	if (h->num_blocks == store->num_blocks || store->read_only)
		return 0;
	if (ftruncate(store->pi_fd, (off_t)(store->num_blocks * TG_PI_TUPLE_BYTES)) != 0)
		return -errno;
	if (h->num_blocks < store->num_blocks && store->type != 0) {
		int rc = fill_escapes(store, h->num_blocks, store->num_blocks - h->num_blocks);
		if (rc == 0)
			rc = sync_fd(store->pi_fd);
		return rc;
	}
	return 0;
}

struct dev_pi_store *dev_pi_store_open(const struct dev_pi_store_params *p, char *err,
				       size_t errlen)
{
	struct dev_pi_store *store = calloc(1, sizeof(*store));
	char state_path[4096];
	if (!store || !(store->name = strdup(p->name ? p->name : "?"))) {
		free(store);
		dev_errf(err, errlen, "%s: out of memory", p->pi_path);
		return NULL;
	}
	store->pi_fd = store->state_fd = -1;
	store->data_fd = p->data_fd;
	store->data_direct = p->data_direct;
	store->read_only = p->read_only;
	store->block_size = p->block_size;
	store->num_blocks = p->num_blocks;
	store->config_type = p->config_type;
	store->type = p->config_type;
	store->region_shift = choose_region_shift(p->block_size, p->num_blocks);
	store->region_count = ((p->num_blocks - 1) >> store->region_shift) + 1;
	pthread_mutex_init(&store->lock, NULL);
	pthread_mutex_init(&store->flush_lock, NULL);
	pthread_cond_init(&store->marked, NULL);
	for (unsigned s = 0; s < STRIPES; s++)
		pthread_rwlock_init(&store->stripes[s], NULL);
	uint8_t *map = NULL;
	store->regions = calloc(store->region_count, sizeof(*store->regions));
	map = calloc(store->region_count, 1);
	if (!store->regions || !map) {
		dev_errf(err, errlen, "%s: out of memory", p->pi_path);
		goto fail;
	}
	if ((size_t)snprintf(state_path, sizeof(state_path), "%s.state", p->pi_path) >=
	    sizeof(state_path)) {
		dev_errf(err, errlen, "%s: path too long", p->pi_path);
		goto fail;
	}
	bool pi_existed = false, state_existed = false;
	store->pi_fd = open_file(p->pi_path, p->read_only, &pi_existed);
	if (store->pi_fd < 0) {
		dev_errf(err, errlen, "%s: %s", p->pi_path, strerror(errno));
		goto fail;
	}
	store->state_fd = open_file(state_path, p->read_only, &state_existed);
	if (store->state_fd < 0 && !(p->read_only && errno == ENOENT)) {
		dev_errf(err, errlen, "%s: %s", state_path, strerror(errno));
		goto fail;
	}
	struct state_header h;
	uint8_t raw[STATE_HEADER_BYTES];
	bool valid = state_existed &&
		     rw_buf(store->state_fd, raw, sizeof(raw), 0, false) == 0 &&
		     header_decode(raw, &h);
	const char *why = NULL;
	int rc = 0;
	if (!pi_existed)
		why = "created";
	else if (valid && h.block_size != store->block_size)
		why = "block size changed";
	else if (valid && h.config_type != (uint32_t)store->config_type)
		why = "protection.type changed";
	else if (valid && (h.flags & STATE_FORMATTING))
		why = "an interrupted FORMAT UNIT is finished";
	if (why && p->read_only) {
		dev_errf(err, errlen, "%s: needs formatting (%s) but the device is read-only",
			 p->pi_path, why);
		goto fail;
	}
	if (why) {
		int type = valid && (h.flags & STATE_FORMATTING) && h.config_type ==
			   (uint32_t)store->config_type ? (int)h.type : store->config_type;
		tg_info("dev-pi", "%s: protection information %s: every block's PI set to escapes "
			"(unchecked until written)", store->name, why);
		rc = format_all(store, type);
	} else if (!valid) {
		tg_warn("dev-pi", "%s: %s missing or unreadable: checking every block's guard",
			store->name, state_path);
		memset(map, 1, store->region_count);
		/* Recorded dirty before the header is valid again, so a crash in the repair
		 * brings the repair back. */
		if (!p->read_only)
			rc = map_write_all(store, 1);
		if (rc == 0 && !p->read_only)
			rc = sync_fd(store->state_fd);
		if (rc == 0 && !p->read_only)
			rc = header_write(store, 0);
	} else {
		rc = adopt(store, &h, map);
	}
	if (rc == 0)
		rc = repair_dirty(store, map);
	if (rc == 0 && !p->read_only && valid && !why)
		rc = header_write(store, 0);
	if (rc) {
		dev_errf(err, errlen, "%s: %s", p->pi_path, strerror(-rc));
		goto fail;
	}
	free(map);
	return store;
fail:
	free(map);
	store_free(store);
	return NULL;
}

void dev_pi_store_close(struct dev_pi_store *store)
{
	if (!store)
		return;
	if (!store->read_only) {
		int rc = sync_fd(store->data_fd);
		if (rc == 0)
			rc = sync_fd(store->pi_fd);
		if (rc == 0)
			rc = map_write_all(store, 0);
		if (rc == 0)
			rc = sync_fd(store->state_fd);
		if (rc)
			tg_warn("dev-pi", "%s: stopping with data and PI not known to agree: %s",
				store->name, strerror(-rc));
	}
	store_free(store);
}

/* ---- requests ---- */

static int check_request(const struct dev_pi_store *store, const struct tg_io *io,
			 uint64_t *lba, uint64_t *n)
{
	uint32_t bs = store->block_size;
	if (io->offset % bs || io->len % bs || io->len == 0)
		return -EINVAL;
	*lba = io->offset / bs;
	*n = io->len / bs;
	return 0;
}

int dev_pi_store_read(struct dev_pi_store *store, struct tg_io *io)
{
	uint64_t lba, n;
	int rc = check_request(store, io, &lba, &n);
	if (rc)
		return rc;
	uint64_t mask = stripe_mask(store, lba, n);
	stripes_lock(store, mask, false);
	rc = rw_all(store->data_fd, io->iov, io->iovcnt, io->offset, io->len, false);
	if (rc == 0 && io->pi_iov)
		rc = rw_all(store->pi_fd, io->pi_iov, io->pi_iovcnt, lba * TG_PI_TUPLE_BYTES,
			    n * TG_PI_TUPLE_BYTES, false);
	stripes_unlock(store, mask);
	return rc;
}

/* PI for a write that brought none, from the data it writes. */
static int generate_for(const struct dev_pi_store *store, const struct tg_io *io, uint64_t lba,
			uint64_t n, uint8_t *pi)
{
	uint32_t bs = store->block_size;
	const uint8_t *data = io->iov[0].iov_base;
	uint8_t *gathered = NULL;
	if (io->iov[0].iov_len < io->len) {
		gathered = malloc(io->len);
		if (!gathered)
			return -ENOMEM;
		uint64_t at = 0;
		for (int i = 0; i < io->iovcnt && at < io->len; i++) {
			size_t piece = io->iov[i].iov_len;
			if (piece > io->len - at)
				piece = (size_t)(io->len - at);
			memcpy(gathered + at, io->iov[i].iov_base, piece);
			at += piece;
		}
		if (at < io->len) {
			free(gathered);
			return -EINVAL;
		}
		data = gathered;
	}
	tg_pi_generate_plain(store->type, lba, data, pi, bs, (uint32_t)n);
	free(gathered);
	return 0;
}

static int durable(struct dev_pi_store *store, const struct tg_io *io)
{
	if (!io->fua)
		return 0;
	int rc = sync_fd(store->data_fd);
	return rc ? rc : sync_fd(store->pi_fd);
}

int dev_pi_store_write(struct dev_pi_store *store, struct tg_io *io)
{
	uint64_t lba, n;
	int rc = check_request(store, io, &lba, &n);
	if (rc || io->iovcnt < 1)
		return rc ? rc : -EINVAL;
	if (store->type == 0) {
		rc = rw_all(store->data_fd, io->iov, io->iovcnt, io->offset, io->len, true);
		return rc ? rc : (io->fua ? sync_fd(store->data_fd) : 0);
	}
	uint8_t *generated = NULL;
	if (!io->pi_iov) {
		generated = malloc(n * TG_PI_TUPLE_BYTES);
		if (!generated)
			return -ENOMEM;
		if ((rc = generate_for(store, io, lba, n, generated)) != 0) {
			free(generated);
			return rc;
		}
	}
	if ((rc = regions_begin(store, lba, n)) != 0) {
		free(generated);
		return rc;
	}
	uint64_t mask = stripe_mask(store, lba, n);
	stripes_lock(store, mask, true);
	rc = rw_all(store->data_fd, io->iov, io->iovcnt, io->offset, io->len, true);
	if (rc == 0) {
		uint64_t pi_off = lba * TG_PI_TUPLE_BYTES, pi_len = n * TG_PI_TUPLE_BYTES;
		rc = generated ? rw_buf(store->pi_fd, generated, pi_len, pi_off, true)
			       : rw_all(store->pi_fd, io->pi_iov, io->pi_iovcnt, pi_off, pi_len,
					true);
	}
	if (rc == 0)
		rc = durable(store, io);
	stripes_unlock(store, mask);
	regions_end(store, region_of(store, lba), region_of(store, lba + n - 1));
	free(generated);
	return rc;
}

int dev_pi_store_change(struct dev_pi_store *store, struct tg_io *io,
			int (*change)(struct tg_io *io, void *arg), void *arg, bool deallocated)
{
	uint64_t lba, n;
	int rc = check_request(store, io, &lba, &n);
	if (rc)
		return rc;
	if (store->type == 0)
		return change(io, arg);
	if ((rc = regions_begin(store, lba, n)) != 0)
		return rc;
	uint64_t mask = stripe_mask(store, lba, n);
	stripes_lock(store, mask, true);
	rc = change(io, arg); /* makes the data durable itself when io->fua */
	if (rc == 0 && deallocated) {
		rc = fill_escapes(store, lba, n);
	} else if (rc == 0) {
		/* Zeroed blocks: their PI as a plain write of zeroes would have it. */
		uint32_t bs = store->block_size;
		uint64_t chunk = FILL_CHUNK / TG_PI_TUPLE_BYTES;
		uint8_t *zero = calloc(1, bs);
		uint8_t *pi = malloc(chunk * TG_PI_TUPLE_BYTES);
		rc = zero && pi ? 0 : -ENOMEM;
		for (uint64_t done = 0; rc == 0 && done < n;) {
			uint64_t piece = n - done < chunk ? n - done : chunk;
			for (uint64_t i = 0; i < piece; i++)
				tg_pi_generate_plain(store->type, lba + done + i, zero,
						     pi + i * TG_PI_TUPLE_BYTES, bs, 1);
			rc = rw_buf(store->pi_fd, pi, piece * TG_PI_TUPLE_BYTES,
				    (lba + done) * TG_PI_TUPLE_BYTES, true);
			done += piece;
		}
		free(zero);
		free(pi);
	}
	if (rc == 0 && io->fua)
		rc = sync_fd(store->pi_fd);
	stripes_unlock(store, mask);
	regions_end(store, region_of(store, lba), region_of(store, lba + n - 1));
	return rc;
}

int dev_pi_store_flush(struct dev_pi_store *store)
{
	pthread_mutex_lock(&store->flush_lock);
	pthread_mutex_lock(&store->lock);
	for (uint64_t r = 0; r < store->region_count; r++)
		store->regions[r].flush_seq = store->regions[r].seq;
	pthread_mutex_unlock(&store->lock);
	int rc = sync_fd(store->data_fd);
	if (rc == 0)
		rc = sync_fd(store->pi_fd);
	if (rc == 0) {
		/* Regions nothing has changed since the flush began now hold data and PI that
		 * agree on the medium. Their clean record needs no sync: losing it costs only a
		 * needless check after a crash. Written under the lock so that it cannot land
		 * after a later dirty record of the same region. */
		pthread_mutex_lock(&store->lock);
		for (uint64_t r = 0; rc == 0 && r < store->region_count; r++) {
			struct region *reg = &store->regions[r];
			if (reg->state == REGION_DIRTY && reg->inflight == 0 &&
			    reg->seq == reg->flush_seq) {
				reg->state = REGION_CLEAN;
				rc = map_write_byte(store, r, 0);
			}
		}
		pthread_mutex_unlock(&store->lock);
	}
	pthread_mutex_unlock(&store->flush_lock);
	return rc;
}

int dev_pi_store_format(struct dev_pi_store *store, int type)
{
	if (type < 0 || type > 3)
		return -EINVAL;
	if (store->read_only)
		return -EROFS;
	/* The core holds the whole range against writers; the stripes keep readers out of the
	 * half-formatted PI too. */
	stripes_lock(store, ~0ull, true);
	int rc = format_all(store, type);
	stripes_unlock(store, ~0ull);
	if (rc == 0) {
		pthread_mutex_lock(&store->lock);
		for (uint64_t r = 0; r < store->region_count; r++)
			if (store->regions[r].state == REGION_DIRTY && store->regions[r].inflight == 0)
				store->regions[r].state = REGION_CLEAN;
		pthread_mutex_unlock(&store->lock);
	}
	tg_info("dev-pi", "%s: formatted with protection type %d%s", store->name, type,
		rc ? " FAILED" : "");
	return rc;
}
