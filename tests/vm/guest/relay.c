/* relay LISTEN_IP PORT TARGET_IP TARGET_PORT: a TCP relay, one process,
 * one poll loop, for the iSCSI portals of the supervisor-iscsi scenario.
 * The initiator logs in through it; SIGSTOP makes the portal hang (the
 * connections stay up, nothing is answered: a hung array port), SIGCONT
 * lets it go on. No packet is ever dropped in the kernel.
 * Each direction of a connection has one buffer: read only into an empty
 * buffer, so a slow side holds the other back instead of being dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 64
#define BUF 65536

struct half {
	char buf[BUF];
	size_t len, off;
};

struct conn {
	int fd[2]; /* 0: the initiator's side, 1: the target's */
	struct half h[2]; /* h[i]: read from fd[i], to be written to fd[1 - i] */
};

static struct conn *conns[MAXC];

static int addr(struct sockaddr_in *a, const char *ip, const char *port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(atoi(port));
	return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

static void drop(int i)
{
	close(conns[i]->fd[0]);
	close(conns[i]->fd[1]);
	free(conns[i]);
	conns[i] = NULL;
}

static void accept_one(int lfd, struct sockaddr_in *to)
{
	int c = accept(lfd, NULL, NULL), t, i;

	if (c < 0)
		return;
	t = socket(AF_INET, SOCK_STREAM, 0);
	for (i = 0; i < MAXC && conns[i]; i++)
		;
	if (t < 0 || i == MAXC || connect(t, (struct sockaddr *)to, sizeof(*to))) {
		close(c);
		if (t >= 0)
			close(t);
		return;
	}
	conns[i] = calloc(1, sizeof(struct conn));
	if (!conns[i]) {
		close(c);
		close(t);
		return;
	}
	/* Non-blocking once connected: a write to a side that is not
	 * reading takes what fits and returns, and the loop goes on serving
	 * the other direction and the other connections. */
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	fcntl(t, F_SETFL, fcntl(t, F_GETFL) | O_NONBLOCK);
	conns[i]->fd[0] = c;
	conns[i]->fd[1] = t;
}

/* One connection's turn: returns -1 when it is to be closed. A side
 * hung up or in error is reported by poll whatever was asked: the
 * connection goes at once, or poll would return at once, again and again,
 * while the other side's data waits in a buffer nobody takes. */
static int serve(struct conn *c, struct pollfd *p)
{
	if ((p[0].revents | p[1].revents) & (POLLHUP | POLLERR | POLLNVAL))
		return -1;
	for (int s = 0; s < 2; s++) {
		struct half *in = &c->h[s];
		ssize_t n;

		if (in->len == 0 && (p[s].revents & POLLIN)) {
			n = read(c->fd[s], in->buf, BUF);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n <= 0)
				return -1;
			in->len = n;
			in->off = 0;
		}
		if (in->len > in->off && (p[1 - s].revents & POLLOUT)) {
			n = write(c->fd[1 - s], in->buf + in->off, in->len - in->off);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n < 0)
				return -1;
			in->off += n;
			if (in->off == in->len)
				in->len = in->off = 0;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in l, to;
	struct pollfd p[1 + 2 * MAXC];
	int lfd, one = 1;

	/* A peer gone while its data is written: EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc != 5 || addr(&l, argv[1], argv[2]) || addr(&to, argv[3], argv[4])) {
		fprintf(stderr, "usage: relay LISTEN_IP PORT TARGET_IP TARGET_PORT\n");
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&l, sizeof(l)) || listen(lfd, 16)) {
		perror("relay");
		return 1;
	}
	for (;;) {
		p[0].fd = lfd;
		p[0].events = POLLIN;
		for (int i = 0; i < MAXC; i++) {
			for (int s = 0; s < 2; s++) {
				struct pollfd *q = &p[1 + 2 * i + s];

				q->fd = conns[i] ? conns[i]->fd[s] : -1;
				q->events = 0;
				q->revents = 0;
				if (!conns[i])
					continue;
				if (conns[i]->h[s].len == 0)
					q->events |= POLLIN;
				if (conns[i]->h[1 - s].len > conns[i]->h[1 - s].off)
					q->events |= POLLOUT;
			}
		}
		if (poll(p, 1 + 2 * MAXC, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return 1;
		}
		for (int i = 0; i < MAXC; i++)
			if (conns[i] && serve(conns[i], &p[1 + 2 * i]) < 0)
				drop(i);
		if (p[0].revents & POLLIN)
			accept_one(lfd, &to);
	}
}
