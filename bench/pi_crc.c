/* Benchmark: throughput of the PI guards (ISA-L crc16_t10dif, the IP checksum) and of whole-tuple generation, per 512 B and 4 KiB block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pi.h"

/* 32 MiB: past the last-level cache, so memory bandwidth counts as it does on a real write. */
#define BUFFER_BYTES (32u << 20)
#define MIN_SECONDS 0.5

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the compiler from dropping guards nobody reads. */
static volatile unsigned sink;

typedef void (*kernel)(const uint8_t *buf, size_t len, uint32_t block, uint8_t *pi);

static void crc_blocks(const uint8_t *buf, size_t len, uint32_t block, uint8_t *pi)
{
	unsigned acc = 0;
	for (size_t at = 0; at < len; at += block)
		acc += tg_pi_crc16(buf + at, block);
	sink += acc;
}

static void ip_blocks(const uint8_t *buf, size_t len, uint32_t block, uint8_t *pi)
{
	unsigned acc = 0;
	for (size_t at = 0; at < len; at += block)
		acc += tg_pi_ip_checksum(buf + at, block);
	sink += acc;
}

static void generate_blocks(const uint8_t *buf, size_t len, uint32_t block, uint8_t *pi)
{
	tg_pi_generate_plain(1, 0, buf, pi, block, (uint32_t)(len / block));
	sink += pi[0];
}

static double measure(kernel fn, const uint8_t *buf, uint32_t block, uint8_t *pi)
{
	fn(buf, BUFFER_BYTES, block, pi); /* warm up: page faults, CPU dispatch */
	double start = now(), elapsed;
	unsigned rounds = 0;
	do {
		fn(buf, BUFFER_BYTES, block, pi);
		rounds++;
		elapsed = now() - start;
	} while (elapsed < MIN_SECONDS);
	return (double)BUFFER_BYTES * rounds / elapsed / 1e9;
}

int main(void)
{
	uint8_t *buf = aligned_alloc(4096, BUFFER_BYTES);
	uint8_t *pi = malloc(BUFFER_BYTES / 512 * TG_PI_TUPLE_BYTES);
	if (!buf || !pi) {
		fprintf(stderr, "pi_crc: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < BUFFER_BYTES; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	static const struct {
		const char *name;
		kernel fn;
	} kernels[] = {
		{ "crc16_t10dif (ISA-L)", crc_blocks },
		{ "ip-checksum", ip_blocks },
		{ "tuple generation (CRC + tags)", generate_blocks },
	};
	static const uint32_t blocks[] = { 512, 4096 };
	printf("%-32s %8s %10s\n", "guard", "block", "GB/s");
	for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++)
		for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++)
			printf("%-32s %6u B %10.2f\n", kernels[k].name, blocks[b],
			       measure(kernels[k].fn, buf, blocks[b], pi));
	free(buf);
	free(pi);
	return 0;
}
