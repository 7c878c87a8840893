/* Persistent-reservation state on disk beside the data (PATH.pr): a small text file replaced atomically. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reservation.h"

/*
 * Format, one item per line (names never contain white space: iSCSI names are restricted to
 * [a-z0-9.:-] and SRP ports are hex):
 *   targe-pr 1
 *   generation <decimal>
 *   type <decimal, 0 = none>
 *   aptpl <0|1>
 *   reg <key hex> <all_tg_pt 0|1> <holder 0|1> <protocol> <rtpi> <initiator> <target or ->
 */
#define PR_STORE_MAGIC "targe-pr"
#define PR_STORE_VERSION 1

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

int tg_pr_store_save(const char *path, const struct tg_pr_image *image)
{
	if (!image->aptpl) {
		/* Without APTPL nothing survives a restart, so nothing may be found next time. */
		if (unlink(path) != 0)
			return errno == ENOENT ? 0 : -errno;
		return fsync_parent(path);
	}
	size_t len = strlen(path) + 5;
	char *tmp = malloc(len);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len, "%s.tmp", path);
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		free(tmp);
		return rc;
	}
	fprintf(f, "%s %d\ngeneration %" PRIu32 "\ntype %u\naptpl %d\n", PR_STORE_MAGIC,
		PR_STORE_VERSION, image->generation, image->type, image->aptpl ? 1 : 0);
	for (size_t i = 0; i < image->count; i++) {
		const struct tg_pr_record *r = &image->records[i];
		fprintf(f, "reg %016" PRIx64 " %d %d %u %u %s %s\n", r->key, r->all_tg_pt ? 1 : 0,
			r->holder ? 1 : 0, r->protocol, r->rtpi, r->initiator,
			r->target[0] ? r->target : "-");
	}
	if (fflush(f) != 0 || ferror(f) || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_parent(path);
	else
		unlink(tmp);
	free(tmp);
	return rc;
}

void tg_pr_image_free(struct tg_pr_image *image)
{
	free(image->records);
	image->records = NULL;
	image->count = 0;
}

static int malformed(const char *path, int line, const char *what, char *err, size_t errlen,
		     struct tg_pr_image *image, FILE *f)
{
	snprintf(err, errlen, "%s:%d: %s", path, line, what);
	tg_pr_image_free(image);
	fclose(f);
	return -EINVAL;
}

int tg_pr_store_load(const char *path, struct tg_pr_image *image, char *err, size_t errlen)
{
	memset(image, 0, sizeof(*image));
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[1024];
	int lineno = 0, version = 0;
	size_t cap = 0;
	bool seen_magic = false;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			return malformed(path, lineno, "line too long", err, errlen, image, f);
		char word[32];
		if (sscanf(line, "%31s", word) != 1 || word[0] == '#')
			continue;
		if (!seen_magic) {
			if (sscanf(line, PR_STORE_MAGIC " %d", &version) != 1 ||
			    version != PR_STORE_VERSION)
				return malformed(path, lineno, "not a targe-pr version 1 file", err,
						 errlen, image, f);
			seen_magic = true;
			continue;
		}
		unsigned value;
		if (strcmp(word, "generation") == 0 && sscanf(line, "%*s %u", &value) == 1) {
			image->generation = value;
		} else if (strcmp(word, "type") == 0 && sscanf(line, "%*s %u", &value) == 1 &&
			   value <= 0xf) {
			image->type = (uint8_t)value;
		} else if (strcmp(word, "aptpl") == 0 && sscanf(line, "%*s %u", &value) == 1 &&
			   value <= 1) {
			image->aptpl = value;
		} else if (strcmp(word, "reg") == 0) {
			struct tg_pr_record r;
			memset(&r, 0, sizeof(r));
			unsigned all, holder, protocol, rtpi;
			char initiator[TG_PR_NAME_MAX], target[TG_PR_NAME_MAX];
			if (sscanf(line, "%*s %" SCNx64 " %u %u %u %u %299s %299s", &r.key, &all, &holder,
				   &protocol, &rtpi, initiator, target) != 7 ||
			    all > 1 || holder > 1 || protocol > 0xf || rtpi > 0xffff)
				return malformed(path, lineno, "bad registration", err, errlen, image,
						 f);
			r.all_tg_pt = all;
			r.holder = holder;
			r.protocol = (uint8_t)protocol;
			r.rtpi = (uint16_t)rtpi;
			snprintf(r.initiator, sizeof(r.initiator), "%s", initiator);
			snprintf(r.target, sizeof(r.target), "%s", strcmp(target, "-") ? target : "");
			if (image->count == cap) {
				cap = cap ? 2 * cap : 8;
				struct tg_pr_record *records =
					realloc(image->records, cap * sizeof(*records));
				if (!records) {
					tg_pr_image_free(image);
					fclose(f);
					return -ENOMEM;
				}
				image->records = records;
			}
			image->records[image->count++] = r;
		} else {
			return malformed(path, lineno, "unknown line", err, errlen, image, f);
		}
	}
	bool io_error = ferror(f);
	fclose(f);
	if (io_error) {
		tg_pr_image_free(image);
		return -EIO;
	}
	if (!seen_magic) {
		snprintf(err, errlen, "%s: empty persistent reservation file", path);
		tg_pr_image_free(image);
		return -EINVAL;
	}
	return 0;
}
