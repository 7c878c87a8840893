/* The control socket's server side: a UNIX listener on the main loop, one request per client. */
#include "core/control.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"

struct control_client {
	struct tg_control *control;
	int fd;
	ev_io io;
	ev_timer timer;
	char request[TG_CONTROL_REQUEST_MAX + 2]; /* the line, its newline, and one more byte */
	size_t request_len;
	char *reply;
	size_t reply_len, reply_sent;
	struct control_client *next, *prev;
};

struct tg_control {
	struct ev_loop *loop;
	const struct tg_runtime *runtime;
	char *path;
	dev_t sock_dev; /* the socket file we made: removed on stop only if it is still ours */
	ino_t sock_ino;
	int fd;
	ev_io accept_io;
	ev_timer accept_pause;
	double started;
	struct control_client *clients;
	unsigned client_count;
};

static void client_close(struct control_client *c)
{
	struct tg_control *control = c->control;
	ev_io_stop(control->loop, &c->io);
	ev_timer_stop(control->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		control->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	control->client_count--;
	free(c->reply);
	free(c);
}

static void client_write(struct control_client *c)
{
	while (c->reply_sent < c->reply_len) {
		ssize_t n = send(c->fd, c->reply + c->reply_sent, c->reply_len - c->reply_sent,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return; /* the write watcher calls again */
			break;
		}
		c->reply_sent += (size_t)n;
	}
	client_close(c);
}

static void client_answer(struct control_client *c, const char *line, size_t len)
{
	struct tg_control *control = c->control;
	struct tg_control_context ctx = {
		.runtime = control->runtime,
		.started = control->started,
		.now = ev_now(control->loop),
	};
	c->reply = tg_control_reply(&ctx, line, len, &c->reply_len);
	if (!c->reply) {
		tg_warn("control", "out of memory answering a control request");
		client_close(c);
		return;
	}
	/* A new allowance for taking the reply: a client that stops reading is dropped too. */
	ev_io_stop(control->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(control->loop, &c->io);
	ev_timer_stop(control->loop, &c->timer);
	ev_timer_set(&c->timer, TG_CONTROL_TIMEOUT, 0);
	ev_timer_start(control->loop, &c->timer);
	client_write(c);
}

static void client_read(struct control_client *c)
{
	for (;;) {
		size_t room = sizeof(c->request) - c->request_len;
		ssize_t n = recv(c->fd, c->request + c->request_len, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(c);
			return;
		}
		if (n == 0) {
			/* Closed without a newline: what came is the request, if anything did. */
			if (c->request_len == 0)
				client_close(c);
			else
				client_answer(c, c->request, c->request_len);
			return;
		}
		const char *newline = memchr(c->request + c->request_len, '\n', (size_t)n);
		c->request_len += (size_t)n;
		if (newline) {
			client_answer(c, c->request, (size_t)(newline - c->request));
			return;
		}
		if (c->request_len == sizeof(c->request)) {
			/* Longer than any request may be: the parser refuses it by its length. */
			client_answer(c, c->request, c->request_len);
			return;
		}
	}
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	if (c->reply)
		client_write(c);
	else
		client_read(c);
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_client *c = w->data;
	tg_debug("control", "client %s after %.0f s: closed", c->reply ? "did not take its reply"
									 : "sent no request",
		 TG_CONTROL_TIMEOUT);
	client_close(c);
}

static void refuse_busy(int fd)
{
	static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
	ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)ignored;
	close(fd);
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tg_control *control = w->data;
	ev_io_start(loop, &control->accept_io);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tg_control *control = w->data;
	for (;;) {
		int fd = accept4(control->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The pending connection would wake us at once again: pause instead. */
				tg_warn("control", "cannot accept a control client: %s", strerror(errno));
				ev_io_stop(loop, &control->accept_io);
				ev_timer_set(&control->accept_pause, 0.5, 0);
				ev_timer_start(loop, &control->accept_pause);
			}
			return;
		}
		if (control->client_count >= TG_CONTROL_CLIENTS_MAX) {
			refuse_busy(fd);
			continue;
		}
		struct control_client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->control = control;
		c->fd = fd;
		c->next = control->clients;
		if (c->next)
			c->next->prev = c;
		control->clients = c;
		control->client_count++;
		ev_io_init(&c->io, client_io_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, client_timeout_cb, TG_CONTROL_TIMEOUT, 0);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
}

/* A socket file left behind by a daemon that died is replaced; one a daemon answers on is not. */
static int clear_stale_socket(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "global.control_socket: cannot inspect %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "global.control_socket: %s exists and is not a socket", path);
		return -1;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		snprintf(err, errlen, "global.control_socket: socket: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, path, strlen(path));
	int rc = connect(probe, (struct sockaddr *)&addr, sizeof(addr));
	int error = rc == 0 ? 0 : errno;
	close(probe);
	if (error == ECONNREFUSED) {
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "global.control_socket: cannot remove the stale socket %s: %s",
				 path, strerror(errno));
			return -1;
		}
		tg_info("control", "removed the stale control socket %s", path);
		return 0;
	}
	if (error == 0 || error == EAGAIN || error == EINPROGRESS) {
		snprintf(err, errlen, "global.control_socket: %s is in use: another targed is running "
				      "with it", path);
		return -1;
	}
	snprintf(err, errlen, "global.control_socket: cannot probe %s: %s", path, strerror(error));
	return -1;
}

int tg_control_start(struct ev_loop *loop, const struct tg_runtime *runtime, const char *path,
		     struct tg_control **out, char *err, size_t errlen)
{
	*out = NULL;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "global.control_socket: \"%s\" is not a usable socket path "
				      "(1 to %zu bytes)", path ? path : "", sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path));
	if (clear_stale_socket(path, err, errlen) != 0)
		return -1;
	struct tg_control *control = calloc(1, sizeof(*control));
	if (!control || !(control->path = strdup(path))) {
		free(control);
		snprintf(err, errlen, "global.control_socket: out of memory");
		return -1;
	}
	control->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (control->fd < 0) {
		snprintf(err, errlen, "global.control_socket: socket: %s", strerror(errno));
		goto fail;
	}
	/* The socket is the daemon's whole state to anyone who can connect: owner only, from
	 * the moment it exists (the umask applies at bind; chmod alone would leave a window). */
	mode_t old_umask = umask(0177);
	int rc = bind(control->fd, (struct sockaddr *)&addr, sizeof(addr));
	int bind_errno = errno;
	umask(old_umask);
	if (rc != 0) {
		snprintf(err, errlen, "global.control_socket: cannot bind %s: %s", path,
			 strerror(bind_errno));
		goto fail;
	}
	struct stat st;
	if (chmod(path, 0600) != 0 || stat(path, &st) != 0 || listen(control->fd, TG_CONTROL_CLIENTS_MAX) != 0) {
		snprintf(err, errlen, "global.control_socket: cannot listen on %s: %s", path,
			 strerror(errno));
		unlink(path);
		goto fail;
	}
	control->sock_dev = st.st_dev;
	control->sock_ino = st.st_ino;
	control->loop = loop;
	control->runtime = runtime;
	control->started = ev_time();
	ev_io_init(&control->accept_io, accept_cb, control->fd, EV_READ);
	control->accept_io.data = control;
	ev_init(&control->accept_pause, accept_resume_cb);
	control->accept_pause.data = control;
	ev_io_start(loop, &control->accept_io);
	tg_info("control", "control socket %s (targectl)", path);
	*out = control;
	return 0;
fail:
	if (control->fd >= 0)
		close(control->fd);
	free(control->path);
	free(control);
	return -1;
}

void tg_control_stop(struct tg_control *control)
{
	if (!control)
		return;
	while (control->clients)
		client_close(control->clients);
	ev_io_stop(control->loop, &control->accept_io);
	ev_timer_stop(control->loop, &control->accept_pause);
	close(control->fd);
	/* A successor daemon may already have replaced a file we were told is stale; leave it. */
	struct stat st;
	if (stat(control->path, &st) == 0 && st.st_dev == control->sock_dev &&
	    st.st_ino == control->sock_ino)
		unlink(control->path);
	free(control->path);
	free(control);
}
