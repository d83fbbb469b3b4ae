// The socket API's floor for the pinned text fan-out (`scripts/compare.sh`, pinned part):
// the lesson's chat room with nothing but system calls. Each complete line a member sends
// goes to every other member, over loopback TCP, through one epoll loop on one thread.
// No runtime, no room task, no queues, no allocation per line: what is left is the
// kernel's cost per write and per wake-up on this machine, and the load generator's.
//
//   cc -O2 -o /tmp/relay-floor scripts/relay-floor.c
//   taskset -c 0 /tmp/relay-floor 5401 round   # PORT, now|round, [WINDOW_US]
//
// `now`:   one write per line per recipient, as the lesson's Node.js server does.
// `round`: the lines for each recipient gathered while one epoll_wait's events are
//          handled, then one write each (what Redis and the NATS server do; no timer).
// `round WINDOW_US`: a member's lines are held until the oldest has waited WINDOW_US
//          or 4 KiB are pending, checked at the end of each round (the coalescing window
//          of `nettool chat --coalesce`, without a runtime's timers).
// A member whose socket is full keeps up to 1 MiB pending; lines beyond that are dropped
// for it (the load generator counts them as lost). Runs until killed.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MEMBERS 1024
#define PENDING (1 << 20)
#define LINE_MAX 65536
#define FULL_BATCH 4096

struct member {
    int fd;
    int inlen, outlen;
    long long since; // µs: when the oldest pending line was queued
    char in[LINE_MAX];
    char out[PENDING];
};
static struct member *members[MAX_MEMBERS];
static int count;
static int gather;          // round mode
static long long window_us; // round mode: how long a member's lines may wait

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

// A member is written to at the end of a round when this says so.
static int due(const struct member *m, long long now) {
    return m->outlen && (now - m->since >= window_us || m->outlen >= FULL_BATCH);
}

// epoll_wait's timeout: -1, or the ms until the first held member is due (rounded up).
static int next_due_ms(void) {
    if (!window_us)
        return -1;
    long long now = now_us(), first = -1;
    for (int i = 0; i < count; i++)
        if (members[i]->outlen) {
            long long left = members[i]->since + window_us - now;
            if (first < 0 || left < first)
                first = left;
        }
    return first < 0 ? -1 : first <= 0 ? 0 : (int)((first + 999) / 1000);
}

static void flush(struct member *m) {
    int off = 0;
    while (off < m->outlen) {
        ssize_t w = write(m->fd, m->out + off, m->outlen - off);
        if (w <= 0)
            break; // full (or going away): the rest stays pending
        off += w;
    }
    memmove(m->out, m->out + off, m->outlen - off);
    m->outlen -= off;
}

static void relay(struct member *from, const char *line, int n) {
    for (int i = 0; i < count; i++) {
        struct member *m = members[i];
        if (m == from || m->outlen + n > PENDING)
            continue;
        if (!m->outlen)
            m->since = now_us();
        memcpy(m->out + m->outlen, line, n);
        m->outlen += n;
        if (!gather)
            flush(m);
    }
}

static void leave(int ep, struct member *m) {
    epoll_ctl(ep, EPOLL_CTL_DEL, m->fd, NULL);
    close(m->fd);
    for (int i = 0; i < count; i++)
        if (members[i] == m) {
            members[i] = members[--count];
            break;
        }
    free(m);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4 || (strcmp(argv[2], "now") && strcmp(argv[2], "round")) ||
        atoi(argv[1]) <= 0 || (argc == 4 && (strcmp(argv[2], "round") || atoll(argv[3]) <= 0))) {
        fprintf(stderr, "usage: %s PORT now|round [WINDOW_US]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), one = 1;
    gather = !strcmp(argv[2], "round");
    window_us = argc == 4 ? atoll(argv[3]) : 0;
    signal(SIGPIPE, SIG_IGN); // a member gone mid-write is an error return, not the end
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) {
        fprintf(stderr, "relay-floor: 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    fprintf(stderr, "relay-floor: serving (%s) on 127.0.0.1:%d\n", argv[2], port);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, next_due_ms());
        for (int e = 0; e < n; e++) {
            struct member *m = evs[e].data.ptr;
            if (!m) { // the listener
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (count == MAX_MEMBERS || !(m = calloc(1, sizeof *m))) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    m->fd = fd;
                    members[count++] = m;
                    struct epoll_event me = {.events = EPOLLIN, .data.ptr = m};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &me);
                }
                continue;
            }
            ssize_t r = read(m->fd, m->in + m->inlen, LINE_MAX - m->inlen);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0) { // gone (epoll names a socket once per round, so no later event)
                leave(ep, m);
                continue;
            }
            m->inlen += r;
            int start = 0;
            for (int i = 0; i < m->inlen; i++)
                if (m->in[i] == '\n') {
                    relay(m, m->in + start, i + 1 - start);
                    start = i + 1;
                }
            memmove(m->in, m->in + start, m->inlen - start);
            m->inlen -= start;
            if (m->inlen == LINE_MAX)
                m->inlen = 0; // a line longer than the buffer: dropped
        }
        // Round mode: one write per member with lines (once due, with a window); both
        // modes retry what was pending.
        long long now = now_us();
        for (int i = 0; i < count; i++)
            if (members[i]->outlen && (!window_us || due(members[i], now)))
                flush(members[i]);
    }
}
