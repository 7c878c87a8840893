/* CRC32C digests for iSCSI on top of ISA-L's crc32_iscsi(). */
#include "transports/iscsi/digest.h"

#include <isa-l/crc.h>

/* ISA-L takes an int length, so longer buffers go through in slices. */
#define ISAL_SLICE (1u << 30)

uint32_t iscsi_crc32c_update(uint32_t crc, const void *data, size_t len)
{
	/* crc32_iscsi() neither presets nor complements: it runs the raw register. The
	 * RFC's value is the complemented register, so un-complement to resume. */
	uint32_t reg = ~crc;
	const unsigned char *p = data;
	while (len > 0) {
		size_t slice = len < ISAL_SLICE ? len : ISAL_SLICE;
		reg = crc32_iscsi((unsigned char *)p, (int)slice, reg);
		p += slice;
		len -= slice;
	}
	return ~reg;
}

uint32_t iscsi_crc32c(const void *data, size_t len)
{
	return iscsi_crc32c_update(0, data, len);
}

uint32_t iscsi_data_digest(const void *data, size_t len)
{
	static const uint8_t zeros[3];
	uint32_t crc = iscsi_crc32c(data, len);
	return iscsi_crc32c_update(crc, zeros, (4 - (len & 3)) & 3);
}

void iscsi_digest_put(uint8_t out[4], uint32_t crc)
{
	out[0] = (uint8_t)crc;
	out[1] = (uint8_t)(crc >> 8);
	out[2] = (uint8_t)(crc >> 16);
	out[3] = (uint8_t)(crc >> 24);
}

uint32_t iscsi_digest_get(const uint8_t in[4])
{
	return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
	       (uint32_t)in[3] << 24;
}
