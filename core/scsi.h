/* SCSI wire constants (opcodes, status, sense keys) and big-endian field accessors. */
#ifndef TG_SCSI_H
#define TG_SCSI_H

#include <stdint.h>

/* Opcodes (SPC-4, SBC-3). */
enum {
	SCSI_TEST_UNIT_READY = 0x00,
	SCSI_REQUEST_SENSE = 0x03,
	SCSI_FORMAT_UNIT = 0x04,
	SCSI_READ_6 = 0x08,
	SCSI_WRITE_6 = 0x0a,
	SCSI_INQUIRY = 0x12,
	SCSI_MODE_SELECT_6 = 0x15,
	SCSI_RESERVE_6 = 0x16,
	SCSI_RELEASE_6 = 0x17,
	SCSI_MODE_SENSE_6 = 0x1a,
	SCSI_START_STOP_UNIT = 0x1b,
	SCSI_SEND_DIAGNOSTIC = 0x1d,
	SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e,
	SCSI_READ_CAPACITY_10 = 0x25,
	SCSI_READ_10 = 0x28,
	SCSI_WRITE_10 = 0x2a,
	SCSI_WRITE_VERIFY_10 = 0x2e,
	SCSI_VERIFY_10 = 0x2f,
	SCSI_PRE_FETCH_10 = 0x34,
	SCSI_SYNCHRONIZE_CACHE_10 = 0x35,
	SCSI_READ_DEFECT_DATA_10 = 0x37,
	SCSI_WRITE_BUFFER = 0x3b,
	SCSI_READ_BUFFER = 0x3c,
	SCSI_WRITE_SAME_10 = 0x41,
	SCSI_UNMAP = 0x42,
	SCSI_SANITIZE = 0x48,
	SCSI_LOG_SENSE = 0x4d,
	SCSI_MODE_SELECT_10 = 0x55,
	SCSI_RESERVE_10 = 0x56,
	SCSI_RELEASE_10 = 0x57,
	SCSI_MODE_SENSE_10 = 0x5a,
	SCSI_PERSISTENT_RESERVE_IN = 0x5e,
	SCSI_PERSISTENT_RESERVE_OUT = 0x5f,
	SCSI_VARIABLE_LENGTH_CDB = 0x7f,
	SCSI_EXTENDED_COPY = 0x83,
	SCSI_RECEIVE_COPY_RESULTS = 0x84,
	SCSI_READ_16 = 0x88,
	SCSI_COMPARE_AND_WRITE = 0x89,
	SCSI_WRITE_16 = 0x8a,
	SCSI_ORWRITE_16 = 0x8b,
	SCSI_WRITE_VERIFY_16 = 0x8e,
	SCSI_VERIFY_16 = 0x8f,
	SCSI_PRE_FETCH_16 = 0x90,
	SCSI_SYNCHRONIZE_CACHE_16 = 0x91,
	SCSI_WRITE_SAME_16 = 0x93,
	SCSI_WRITE_ATOMIC_16 = 0x9c,
	SCSI_SERVICE_ACTION_IN_16 = 0x9e,
	SCSI_REPORT_LUNS = 0xa0,
	SCSI_MAINTENANCE_IN = 0xa3,
	SCSI_MAINTENANCE_OUT = 0xa4,
	SCSI_READ_12 = 0xa8,
	SCSI_WRITE_12 = 0xaa,
	SCSI_WRITE_VERIFY_12 = 0xae,
	SCSI_VERIFY_12 = 0xaf,
	SCSI_READ_DEFECT_DATA_12 = 0xb7,
};

/* SERVICE ACTION IN(16) service actions. */
enum {
	SCSI_SAI_READ_CAPACITY_16 = 0x10,
	SCSI_SAI_GET_LBA_STATUS = 0x12,
};

/* MAINTENANCE IN service actions. */
enum {
	SCSI_MI_REPORT_SUPPORTED_OPCODES = 0x0c,
	SCSI_MI_REPORT_SUPPORTED_TMFS = 0x0d,
};

/* Status codes (SAM-5). */
enum {
	SCSI_STATUS_GOOD = 0x00,
	SCSI_STATUS_CHECK_CONDITION = 0x02,
	SCSI_STATUS_CONDITION_MET = 0x04,
	SCSI_STATUS_BUSY = 0x08,
	SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	SCSI_STATUS_TASK_SET_FULL = 0x28,
	SCSI_STATUS_ACA_ACTIVE = 0x30,
	SCSI_STATUS_TASK_ABORTED = 0x40,
};

/* Sense keys (SPC-4). */
enum {
	SCSI_SK_NO_SENSE = 0x0,
	SCSI_SK_RECOVERED_ERROR = 0x1,
	SCSI_SK_NOT_READY = 0x2,
	SCSI_SK_MEDIUM_ERROR = 0x3,
	SCSI_SK_HARDWARE_ERROR = 0x4,
	SCSI_SK_ILLEGAL_REQUEST = 0x5,
	SCSI_SK_UNIT_ATTENTION = 0x6,
	SCSI_SK_DATA_PROTECT = 0x7,
	SCSI_SK_BLANK_CHECK = 0x8,
	SCSI_SK_COPY_ABORTED = 0xa,
	SCSI_SK_ABORTED_COMMAND = 0xb,
	SCSI_SK_VOLUME_OVERFLOW = 0xd,
	SCSI_SK_MISCOMPARE = 0xe,
};

/* Peripheral device types. */
enum {
	SCSI_TYPE_DISK = 0x00,
	SCSI_TYPE_TAPE = 0x01,
	SCSI_TYPE_CDROM = 0x05,
	SCSI_TYPE_NO_LUN = 0x1f,
};

static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

#endif
