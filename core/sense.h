/* Sense-reason codes: handlers return one, and tg_sense_build alone turns it into sense data. */
#ifndef TG_SENSE_H
#define TG_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * X(name, status, sense key, asc, ascq). A reason with status other than CHECK CONDITION
 * carries no sense data. Add new reasons here and nowhere else.
 */
#define TG_SENSE_REASONS(X)                                                                \
	X(OK, 0x00, 0x0, 0x00, 0x00)                                                      \
	X(INVALID_OPCODE, 0x02, 0x5, 0x20, 0x00)                                          \
	X(INVALID_FIELD_IN_CDB, 0x02, 0x5, 0x24, 0x00)                                    \
	X(INVALID_FIELD_IN_PARAM_LIST, 0x02, 0x5, 0x26, 0x00)                             \
	X(PARAM_LIST_LENGTH_ERROR, 0x02, 0x5, 0x1a, 0x00)                                 \
	X(INVALID_FIELD_IN_IU, 0x02, 0x5, 0x0e, 0x03)                                     \
	X(LBA_OUT_OF_RANGE, 0x02, 0x5, 0x21, 0x00)                                        \
	X(LUN_NOT_SUPPORTED, 0x02, 0x5, 0x25, 0x00)                                       \
	X(SAVING_PARAMS_UNSUPPORTED, 0x02, 0x5, 0x39, 0x00)                               \
	X(INVALID_RELEASE_OF_PR, 0x02, 0x5, 0x26, 0x04)                                   \
	X(INSUFFICIENT_REGISTRATION_RESOURCES, 0x02, 0x5, 0x55, 0x04)                     \
	X(WRITE_PROTECTED, 0x02, 0x7, 0x27, 0x00)                                         \
	X(SOFTWARE_WRITE_PROTECTED, 0x02, 0x7, 0x27, 0x02)                                \
	X(OPERATION_IN_PROGRESS, 0x02, 0x5, 0x00, 0x16)                                   \
	X(TOO_MANY_TARGET_DESCRIPTORS, 0x02, 0x5, 0x26, 0x06)                             \
	X(UNSUPPORTED_TARGET_DESCRIPTOR_TYPE, 0x02, 0x5, 0x26, 0x07)                      \
	X(TOO_MANY_SEGMENT_DESCRIPTORS, 0x02, 0x5, 0x26, 0x08)                            \
	X(UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE, 0x02, 0x5, 0x26, 0x09)                     \
	X(INLINE_DATA_LENGTH_EXCEEDED, 0x02, 0x5, 0x26, 0x0b)                             \
	X(MEDIUM_REMOVAL_PREVENTED, 0x02, 0x5, 0x53, 0x02)                                \
	X(COPY_ABORTED, 0x02, 0xa, 0x00, 0x00)                                            \
	X(COPY_TARGET_NOT_REACHABLE, 0x02, 0xa, 0x0d, 0x02)                               \
	X(COPY_TARGET_WRONG_TYPE, 0x02, 0xa, 0x0d, 0x03)                                  \
	X(MEDIUM_NOT_PRESENT, 0x02, 0x2, 0x3a, 0x00)                                      \
	X(NOT_READY_INIT_REQUIRED, 0x02, 0x2, 0x04, 0x02)                                 \
	X(NOT_READY_FORMAT_IN_PROGRESS, 0x02, 0x2, 0x04, 0x04)                            \
	X(NOT_READY_SANITIZE_IN_PROGRESS, 0x02, 0x2, 0x04, 0x1b)                          \
	X(UNRECOVERED_READ_ERROR, 0x02, 0x3, 0x11, 0x00)                                  \
	X(WRITE_ERROR, 0x02, 0x3, 0x0c, 0x00)                                             \
	X(INTERNAL_TARGET_FAILURE, 0x02, 0x4, 0x44, 0x00)                                 \
	X(LOGICAL_UNIT_COMM_FAILURE, 0x02, 0x4, 0x08, 0x00)                               \
	X(GUARD_CHECK_FAILED, 0x02, 0xb, 0x10, 0x01)                                      \
	X(APP_TAG_CHECK_FAILED, 0x02, 0xb, 0x10, 0x02)                                    \
	X(REF_TAG_CHECK_FAILED, 0x02, 0xb, 0x10, 0x03)                                    \
	X(GUARD_MISCOMPARE, 0x02, 0xe, 0x10, 0x01)                                        \
	X(APP_TAG_MISCOMPARE, 0x02, 0xe, 0x10, 0x02)                                      \
	X(REF_TAG_MISCOMPARE, 0x02, 0xe, 0x10, 0x03)                                      \
	X(FORMAT_COMMAND_FAILED, 0x02, 0x3, 0x31, 0x01)                                   \
	X(MISCOMPARE_DURING_VERIFY, 0x02, 0xe, 0x1d, 0x00)                                \
	X(DATA_PHASE_ERROR, 0x02, 0xb, 0x4b, 0x00)                                        \
	X(INITIATOR_DETECTED_ERROR, 0x02, 0xb, 0x48, 0x00)                                \
	X(UNEXPECTED_UNSOLICITED_DATA, 0x02, 0xb, 0x0c, 0x0c)                             \
	X(NOT_ENOUGH_UNSOLICITED_DATA, 0x02, 0xb, 0x0c, 0x0d)                             \
	X(COMMANDS_CLEARED_BY_ANOTHER_INITIATOR, 0x02, 0x6, 0x2f, 0x00)                   \
	X(UA_POWER_ON_RESET, 0x02, 0x6, 0x29, 0x00)                                       \
	X(UA_BUS_RESET, 0x02, 0x6, 0x29, 0x02)                                            \
	X(UA_TARGET_RESET, 0x02, 0x6, 0x29, 0x03)                                         \
	X(UA_DEVICE_INTERNAL_RESET, 0x02, 0x6, 0x29, 0x04)                                \
	X(UA_NEXUS_LOSS, 0x02, 0x6, 0x29, 0x07)                                           \
	X(UA_PARAMETERS_CHANGED, 0x02, 0x6, 0x2a, 0x00)                                   \
	X(UA_MODE_PARAMETERS_CHANGED, 0x02, 0x6, 0x2a, 0x01)                              \
	X(UA_RESERVATIONS_PREEMPTED, 0x02, 0x6, 0x2a, 0x03)                               \
	X(UA_RESERVATIONS_RELEASED, 0x02, 0x6, 0x2a, 0x04)                                \
	X(UA_REGISTRATIONS_PREEMPTED, 0x02, 0x6, 0x2a, 0x05)                              \
	X(UA_CAPACITY_CHANGED, 0x02, 0x6, 0x2a, 0x09)                                     \
	X(UA_REPORTED_LUNS_CHANGED, 0x02, 0x6, 0x3f, 0x0e)                                \
	X(UA_INQUIRY_DATA_CHANGED, 0x02, 0x6, 0x3f, 0x03)                                 \
	X(UA_MEDIUM_CHANGED, 0x02, 0x6, 0x28, 0x00)                                       \
	X(RESERVATION_CONFLICT, 0x18, 0x0, 0x00, 0x00)                                    \
	X(BUSY, 0x08, 0x0, 0x00, 0x00)                                                    \
	X(TASK_SET_FULL, 0x28, 0x0, 0x00, 0x00)                                           \
	X(TASK_ABORTED, 0x40, 0x0, 0x00, 0x00)                                            \
	X(CONDITION_MET, 0x04, 0x0, 0x00, 0x00)

enum tg_sense_reason {
#define TG_SR_ENUM(name, status, key, asc, ascq) TG_SR_##name,
	TG_SENSE_REASONS(TG_SR_ENUM)
#undef TG_SR_ENUM
	TG_SR__COUNT
};

/* Optional detail a handler attaches to a reason. */
struct tg_sense_info {
	bool has_field_pointer;
	bool field_in_cdb;         /* C/D bit: CDB (true) or parameter list (false) */
	uint16_t field_byte;
	int8_t field_bit;          /* -1: no bit pointer */
	bool has_information;
	uint64_t information;      /* e.g. the failing LBA, the miscompare offset */
};

#define TG_SENSE_MAX 96

const char *tg_sense_reason_name(enum tg_sense_reason reason);
uint8_t tg_sense_reason_status(enum tg_sense_reason reason);
uint8_t tg_sense_reason_key(enum tg_sense_reason reason);

/*
 * Writes fixed-format (descriptor == false) or descriptor-format sense for a CHECK CONDITION
 * reason into buf; returns its length (0 for reasons that carry no sense).
 */
size_t tg_sense_build(uint8_t *buf, size_t cap, enum tg_sense_reason reason,
		      const struct tg_sense_info *info, bool descriptor);

#endif
