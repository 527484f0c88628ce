/*
 * sdnotify.h: systemd's readiness protocol (sd_notify(3), without
 * libsystemd).  When NOTIFY_SOCKET names a Unix datagram socket (a path,
 * or '@' and a name in the abstract namespace), canfsd tells it
 * "READY=1" once the node is active in the overlay (founded, joined or
 * resumed), "STATUS=..." whenever its state, zones or neighbours change,
 * and "STOPPING=1" when it stops.  A timer polls the node: the node
 * itself knows nothing of systemd.
 */
#ifndef CANFS_OVERLAY_SDNOTIFY_H
#define CANFS_OVERLAY_SDNOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

struct node;
struct event;

struct sdnotify {
	int fd;				/* -1: no NOTIFY_SOCKET */
	struct sockaddr_un sa;		/* where to send */
	socklen_t salen;
	struct event *timer;		/* polls the node's state */
	struct node *node;
	int ready;			/* READY=1 sent */
	int stopping;			/* STOPPING=1 sent: never READY */
	int failed;			/* a send failed (logged once) */
	char status[256];		/* the last STATUS= sent */
};

/* Start notifying about node n, if systemd asked; a no-op otherwise. */
void sdnotify_start(struct sdnotify *sn, struct node *n);
/* Tell systemd that we are stopping, and why (once). */
void sdnotify_stop(struct sdnotify *sn, const char *why);
/* Release the timer and the socket. */
void sdnotify_free(struct sdnotify *sn);

#endif
