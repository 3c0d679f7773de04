/* floor_echo.c -- the kernel's floor for the echo scenario.
 *
 * The least an echo server can do on Linux: one epoll loop, and per
 * request one read() and one write() of what was read.  No framing, no
 * buffering, no queue: a write that does not take everything closes the
 * connection (the client then counts errors), which cannot happen with one
 * 64-byte request in flight.  sockit's server CPU time per request is
 * compared with this program's; whatever is above it is sockit's own cost.
 *
 * usage: floor_echo PORT   (listens on 127.0.0.1:PORT; stop it with a signal)
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
      bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
    perror("floor_echo: listen");
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  static char buf[65536];
  struct epoll_event ev = {.events = EPOLLIN}, evs[256];
  int lfd, ep, one = 1;

  if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
    fprintf(stderr, "usage: floor_echo PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  lfd = listen_on(atoi(argv[1]));
  ep = epoll_create1(0);
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, c;
      ssize_t r;
      if (fd == lfd) {
        /* Connection set-up is outside the measured window. */
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      r = read(fd, buf, sizeof(buf));
      if (r == 0 || (r < 0 && errno != EAGAIN))
        close(fd);
      else if (r > 0 && write(fd, buf, (size_t)r) != r)
        close(fd);
    }
  }
}
