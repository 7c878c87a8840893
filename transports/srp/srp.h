/* The SRP target port service: RDMA-CM listeners on transports.srp.listen, logins, I_T nexuses and their RDMA channels. */
#ifndef SRP_SRP_H
#define SRP_SRP_H

#include <stddef.h>

struct ev_loop;
struct tg_ioengine;
struct tg_runtime;
struct srp_server;

/*
 * Starts listening on every transports.srp.listen portal. Returns 0 with *out set, or -1 with
 * a message in err (the daemon then exits). Call only when an RDMA device exists.
 */
int srp_server_start(struct ev_loop *loop, struct tg_ioengine *engine, struct tg_runtime *runtime,
		     struct srp_server **out, char *err, size_t errlen);
/* Stops accepting logins and disconnects every channel; commands in the backend still come
 * back through the core and are dropped. */
void srp_server_stop(struct srp_server *server);
/* Frees everything (after the I/O engine has drained). */
void srp_server_destroy(struct srp_server *server);

#endif
