/* The control socket (global.control_socket): targectl's requests served on the daemon's main loop. */
#ifndef TG_CONTROL_H
#define TG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct tg_runtime;

/* A request is one line of at most this many bytes, newline excluded. */
#define TG_CONTROL_REQUEST_MAX 1024
/* Clients served at once; more are answered "busy" and closed. */
#define TG_CONTROL_CLIENTS_MAX 32
/* Seconds a client has to send its request, and again to take the reply. */
#define TG_CONTROL_TIMEOUT 5.0

enum tg_control_verb {
	TG_CONTROL_TARGETS,
	TG_CONTROL_DEVICES,
	TG_CONTROL_SESSIONS,
	TG_CONTROL_STATS,
	/* Reserved for the run-time changes the contract promises; answered "not implemented". */
	TG_CONTROL_ADD_LUN,
	TG_CONTROL_REMOVE_LUN,
	TG_CONTROL_RELOAD,
};

struct tg_control_request {
	enum tg_control_verb verb;
	/* The words after the verb, pointing into the request line (none yet for the read verbs). */
	const char *args;
	size_t args_len;
};

/*
 * Parses one request line (newline removed; a trailing CR is ignored). Returns 0, or -1 with
 * a static message in *error: empty, not printable ASCII, unknown verb, unexpected arguments.
 */
int tg_control_parse_request(const char *line, size_t len, struct tg_control_request *req,
			     const char **error);

/* What a reply is built from; everything else comes from the core's own registries. */
struct tg_control_context {
	const struct tg_runtime *runtime;
	double started; /* ev_time() when the daemon started */
	double now;
};

/*
 * The whole reply to one request line: a JSON document and a newline (malloc'd, *len bytes),
 * {"ok":true,...} or {"ok":false,"error":...}. NULL only when memory ran out.
 */
char *tg_control_reply(const struct tg_control_context *ctx, const char *line, size_t len,
		       size_t *reply_len);

struct tg_control;

/*
 * Listens on path (relative to the working directory) on loop. A socket file nobody answers on
 * is replaced; one a live daemon answers on, or any other file, is an error. The socket gets
 * mode 0600. Returns 0, or -1 with a message naming global.control_socket in err.
 */
int tg_control_start(struct ev_loop *loop, const struct tg_runtime *runtime, const char *path,
		     struct tg_control **out, char *err, size_t errlen);
/* Closes the socket and every client and removes the socket file (if it is still ours).
 * NULL is a no-op. */
void tg_control_stop(struct tg_control *control);

#endif
