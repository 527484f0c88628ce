/*
 * usock.h: the socket plumbing of the unit tests' fake daemons
 * (test_client.c, test_kv.c): whole-buffer I/O on a blocking socket and
 * a listening Unix socket in a fresh temporary directory.  Include after
 * <cmocka.h> (the listener asserts).
 */
#ifndef CANFS_TESTS_UNIT_USOCK_H
#define CANFS_TESTS_UNIT_USOCK_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write all of a buffer (stops quietly when the peer is gone). */
static inline void
usock_write(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		b += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes; -1 on EOF or error. */
static inline int
usock_read(int fd, void *p, size_t len)
{
	uint8_t *b = p;

	while (len > 0) {
		ssize_t n = recv(fd, b, len, 0);

		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Listen on DIR/NAME, DIR made from the mkdtemp template in dir (which
 * receives its name); path gets the socket's path.  Returns the socket.
 */
static inline int
usock_listen(char *dir, char *path, size_t pathlen, const char *name)
{
	struct sockaddr_un sun;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, pathlen, "%s/%s", dir, name);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

#endif
