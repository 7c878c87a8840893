/* iSCSI header and data digests: CRC32C (RFC 7143 section 13.1) and its wire byte order. */
#ifndef ISCSI_DIGEST_H
#define ISCSI_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* The CRC32C of len bytes, as RFC 7143 defines the digest value (initial value all ones,
 * result complemented): 32 zero bytes give 0x8a9136aa. */
uint32_t iscsi_crc32c(const void *data, size_t len);

/* Continues a digest over more bytes: iscsi_crc32c_update(iscsi_crc32c(a), b) equals the
 * digest of a followed by b. The digest of nothing is 0, so updating 0 starts afresh. */
uint32_t iscsi_crc32c_update(uint32_t crc, const void *data, size_t len);

/* The data digest of a data segment: the data followed by its zero padding to 4 bytes. */
uint32_t iscsi_data_digest(const void *data, size_t len);

/* The digest travels least-significant byte first (0x8a9136aa is sent as aa 36 91 8a). */
void iscsi_digest_put(uint8_t out[4], uint32_t crc);
uint32_t iscsi_digest_get(const uint8_t in[4]);

#endif
