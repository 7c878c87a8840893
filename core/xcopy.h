/* The copy manager's limits, shared by EXTENDED COPY, RECEIVE COPY RESULTS and the Third-party Copy VPD page. */
#ifndef TG_XCOPY_H
#define TG_XCOPY_H

#include <stddef.h>

struct tg_task;

/*
 * Limits of one EXTENDED COPY (LID1). Each is enforced where the parameter list is decoded and
 * advertised by RECEIVE COPY RESULTS (OPERATING PARAMETERS) and VPD page 8Fh from these
 * constants, so the two cannot drift apart.
 */
#define TG_XCOPY_MAX_TARGET_DESCRIPTORS 8u
#define TG_XCOPY_MAX_SEGMENT_DESCRIPTORS 64u
/* Target plus segment descriptor list lengths, bytes: room for every descriptor allowed. */
#define TG_XCOPY_MAX_DESCRIPTOR_LIST 2048u
/* Bytes one block-to-block segment may move: its NUMBER OF BLOCKS is 16 bits, so this only
 * binds blocks larger than 4 KiB. */
#define TG_XCOPY_MAX_SEGMENT_BYTES (256u << 20)
/* Copies in progress at once (identified by a list identifier or not), over all LUNs. */
#define TG_XCOPY_MAX_CONCURRENT 64u
/* Bytes read from the source and written to the destination per backend request. */
#define TG_XCOPY_CHUNK_BYTES (1u << 20)

/* Body of the Third-party Copy VPD page (8Fh) after its 4-byte header; returns its length. */
size_t tg_xcopy_vpd_third_party_copy(const struct tg_task *task, unsigned char *body);

#endif
