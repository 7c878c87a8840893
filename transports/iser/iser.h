/* The iSER portals: RDMA-CM listeners on transports.iser.listen whose connections run the shared iSCSI layer over the iSER datamover. */
#ifndef ISER_ISER_H
#define ISER_ISER_H

#include <stddef.h>

struct iscsi_server;

/*
 * Starts listening on every transports.iser.listen portal of server's runtime config; the
 * connections join server (one set of sessions for TCP and iSER: reinstatement, task
 * management and SendTargets see both). Call after iscsi_server_start and only when an RDMA
 * device exists. 0, or -1 with a message in err.
 */
int iser_server_start(struct iscsi_server *server, char *err, size_t errlen);
/* Stops accepting connections (iscsi_server_stop closes the live ones). */
void iser_server_stop(struct iscsi_server *server);
/* Frees the RDMA side after the I/O engine has drained: connections still draining are
 * completed and freed. */
void iser_server_destroy(struct iscsi_server *server);

#endif
