/* sdnotify.c: tell systemd how the node is doing (see sdnotify.h). */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "nbr.h"
#include "node.h"
#include "sdnotify.h"

#define SDNOTIFY_MS 200	/* how often the node's state is looked at */

/* Open a socket toward $NOTIFY_SOCKET, if set.  Returns 0, or -1 logged. */
static int
sdnotify_open(struct sdnotify *sn)
{
	const char *e = getenv("NOTIFY_SOCKET");
	char q[160];
	size_t len;

	sn->fd = -1;
	if (e == NULL || *e == '\0')
		return 0;
	len = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || len < 2 ||
	    len >= sizeof sn->sa.sun_path) {
		log_warnx("NOTIFY_SOCKET '%s' is no socket address: not "
		    "notifying", log_escape(e, len, q, sizeof q));
		return -1;
	}
	memset(&sn->sa, 0, sizeof sn->sa);
	sn->sa.sun_family = AF_UNIX;
	memcpy(sn->sa.sun_path, e, len);
	/* Abstract: a leading NUL, and the length says where it ends. */
	if (e[0] == '@')
		sn->sa.sun_path[0] = '\0';
	sn->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (e[0] == '@' ? 0 : 1));
	if ((sn->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("NOTIFY_SOCKET: socket");
		return -1;
	}
	return 0;
}

/* Send one datagram of "KEY=VALUE" lines; a failure is logged once. */
static void
sdnotify_send(struct sdnotify *sn, const char *msg)
{
	if (sn->fd < 0)
		return;
	if (sendto(sn->fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&sn->sa, sn->salen) < 0 && !sn->failed) {
		sn->failed = 1;
		log_warn("cannot notify systemd (NOTIFY_SOCKET)");
	}
}

/* The node's state in one line, for STATUS=. */
static void
sdnotify_describe(const struct node *n, char *buf, size_t len)
{
	const struct nbr *nb;
	int live = 0, nz = n->self.nzones;

	TAILQ_FOREACH(nb, &n->nbrs, entry) {
		if (!nb->failed)
			live++;
	}
	switch (n->state) {
	case NODE_JOINING:
		snprintf(buf, len, "joining the overlay (%d neighbour%s "
		    "known)", live, live == 1 ? "" : "s");
		break;
	case NODE_ACTIVE:
		snprintf(buf, len, "active%s: %d zone%s (%.3f%% of the key "
		    "space), %d neighbour%s", node_cut_off(n) ? ", cut off "
		    "(no neighbour answers)" : "", nz, nz == 1 ? "" : "s",
		    100.0 * nbr_node_share(&n->self, n->cfg.dims), live,
		    live == 1 ? "" : "s");
		break;
	case NODE_LEAVING:
		snprintf(buf, len, "leaving: handing %d zone%s over", nz,
		    nz == 1 ? "" : "s");
		break;
	default:
		snprintf(buf, len, "left the overlay");
		break;
	}
}

/*
 * Timer: READY=1 on the first look at an active node, then STATUS= on
 * every change (also while leaving, after STOPPING=1).
 */
static void
sdnotify_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sdnotify *sn = arg;
	char status[sizeof sn->status], msg[sizeof status + 64];

	(void)fd;
	(void)ev;
	sdnotify_describe(sn->node, status, sizeof status);
	if (!sn->ready && !sn->stopping && sn->node->state == NODE_ACTIVE) {
		sn->ready = 1;
		/* MAINPID: we may have forked (no --foreground). */
		snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s\nMAINPID=%ld",
		    status, (long)getpid());
		log_info("active in the overlay: READY=1 sent to systemd");
	} else if (strcmp(status, sn->status) != 0) {
		snprintf(msg, sizeof msg, "STATUS=%s", status);
	} else {
		return;
	}
	sdnotify_send(sn, msg);
	snprintf(sn->status, sizeof sn->status, "%s", status);
}

/* Start notifying (sdnotify.h). */
void
sdnotify_start(struct sdnotify *sn, struct node *n)
{
	struct timeval tv = { 0, SDNOTIFY_MS * 1000 };

	if (sdnotify_open(sn) != 0 || sn->fd < 0)
		return;
	sn->node = n;
	sn->timer = event_new(n->base, -1, EV_PERSIST, sdnotify_cb, sn);
	if (sn->timer == NULL)
		fatalx("cannot create the notify timer");
	evtimer_add(sn->timer, &tv);
	sdnotify_cb(-1, 0, sn);	/* a founder is ready at once */
}

/* Tell systemd that we are stopping, and why (once). */
void
sdnotify_stop(struct sdnotify *sn, const char *why)
{
	char msg[300];

	if (sn->fd < 0 || sn->stopping)
		return;
	snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", why);
	sdnotify_send(sn, msg);
	sn->stopping = 1;
}

/* Release the timer and the socket. */
void
sdnotify_free(struct sdnotify *sn)
{
	if (sn->timer != NULL)
		event_free(sn->timer);
	if (sn->fd >= 0)
		close(sn->fd);
	sn->timer = NULL;
	sn->fd = -1;
}

