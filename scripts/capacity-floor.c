// The socket API's floor for `nettool bench capacity`: one line to N TCP + N UDP members
// on loopback, with nothing but system calls. A sender pinned to CPU 0 writes one 40-byte
// line to each of N accepted TCP sockets (write) and then to N UDP peers (sendto, or
// sendmmsg in runs of 1024); two receivers pinned to CPU 1 (one for the TCP members, one
// for the UDP ones, as one process may not hold 20 000 sockets under the usual limit)
// read every line through epoll and timestamp it. No room, no framing, no runtime, no
// allocation per line: what is left is the kernel's cost per send and per wake-up on
// this machine. Run through scripts/compare.sh (PARTS=capacity), or by hand:
//
//   cc -O2 -o /tmp/capacity-floor scripts/capacity-floor.c
//   /tmp/capacity-floor 10000 10 mmsg        # N per protocol, broadcasts, [mmsg][,spin]
//
// `spin`: the receivers poll epoll without sleeping, so no send has to wake them.
// Prints one line: p50/p99/max latency over all deliveries and the sender's time per
// broadcast (and the TCP part of it).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}
static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}
#define die(m) do { perror(m); exit(1); } while (0)

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000, rounds = argc > 2 ? atoi(argv[2]) : 10;
    int mmsg = argc > 3 && strstr(argv[3], "mmsg"), spin = argc > 3 && strstr(argv[3], "spin");
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "usage: %s MEMBERS_PER_PROTOCOL BROADCASTS [mmsg][,spin]\n", argv[0]);
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl)) die("rlimit");
    if (rl.rlim_cur < (rlim_t)n + 64) {
        fprintf(stderr, "%d members per protocol need %d open files per process; the limit is %llu\n",
                n, n + 64, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    int lt = socket(AF_INET, SOCK_STREAM, 0), us = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof a;
    if (bind(lt, (void *)&a, sizeof a) || listen(lt, 4096)) die("listen");
    struct sockaddr_in ta;
    getsockname(lt, (void *)&ta, &al);
    al = sizeof a;
    if (bind(us, (void *)&a, sizeof a)) die("bind udp");
    int big = 64 << 20; // every member's hello must fit while the sender accepts
    if (setsockopt(us, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big)) // needs root
        setsockopt(us, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in ua;
    getsockname(us, (void *)&ua, &al);
    int go[2][2], done[2];
    if (pipe(go[0]) || pipe(go[1]) || pipe(done)) die("pipe");
    // Two receivers on CPU 1, TCP members in one and UDP members in the other (one
    // process may hold 20 000 sockets at most here, as nettool's load generator finds).
    pid_t kids[2];
    for (int kind = 0; kind < 2; kind++) {
        kids[kind] = fork();
        if (kids[kind] != 0) continue;
        close(go[0][1]), close(go[1][1]), close(done[0]); // the sender's end: EOF if it dies
        pin(1);
        int ep = epoll_create1(0);
        for (int i = 0; i < n; i++) {
            int f;
            if (kind == 0) {
                f = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(f, (void *)&ta, sizeof ta)) die("connect");
                int one = 1;
                setsockopt(f, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            } else {
                f = socket(AF_INET, SOCK_DGRAM, 0);
                if (connect(f, (void *)&ua, sizeof ua)) die("connect udp");
                if (send(f, "hi", 2, 0) != 2) die("hi");
            }
            struct epoll_event e = {.events = EPOLLIN, .data.fd = f};
            epoll_ctl(ep, EPOLL_CTL_ADD, f, &e);
        }
        long long *lat = malloc(sizeof(long long) * n * rounds);
        int got_all = 0;
        struct epoll_event ev[1024];
        char buf[256];
        for (int r = 0; r < rounds; r++) {
            char c;
            if (write(done[1], "r", 1) != 1 || read(go[kind][0], &c, 1) != 1) die("sync");
            int got = 0;
            while (got < n) {
                int k = epoll_wait(ep, ev, 1024, spin ? 0 : 5000);
                if (spin && k == 0) continue; // busy-poll: never sleeps, is never woken
                if (k <= 0) { fprintf(stderr, "receiver: timeout at %d\n", got); exit(1); }
                for (int j = 0; j < k; j++) {
                    ssize_t m = recv(ev[j].data.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
                    if (m <= 0) continue;
                    buf[m] = 0;
                    lat[got_all++] = now_ns() - atoll(buf);
                    got++;
                }
            }
        }
        char path[64];
        snprintf(path, sizeof path, "/tmp/capacity-floor.%d.%d", (int)getppid(), kind);
        FILE *f = fopen(path, "w");
        if (!f) die(path);
        fwrite(lat, sizeof *lat, got_all, f);
        fclose(f);
        if (write(done[1], "e", 1) != 1) die("end");
        exit(0);
    }
    close(done[1]), close(go[0][0]), close(go[1][0]); // the receivers' ends
    alarm(600); // a receiver that died must not leave the sender waiting forever
    pin(0);
    int *ts = malloc(sizeof(int) * n);
    struct sockaddr_in *peers = malloc(sizeof *peers * n);
    for (int i = 0; i < n; i++) {
        ts[i] = accept(lt, 0, 0);
        if (ts[i] < 0) die("accept");
        int one = 1;
        setsockopt(ts[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char hi[8];
        socklen_t pl = sizeof peers[i];
        if (recvfrom(us, hi, sizeof hi, 0, (void *)&peers[i], &pl) != 2) die("hi");
    }
    struct mmsghdr *mh = calloc(1024, sizeof *mh);
    struct iovec *iov = calloc(1024, sizeof *iov);
    double send_ms = 0, tcp_ms = 0;
    for (int r = 0; r < rounds; r++) {
        char c;
        if (read(done[0], &c, 1) != 1 || read(done[0], &c, 1) != 1) die("sync");
        usleep(200000); // let the receivers fall asleep, as a room at rest does
        if (write(go[0][1], "g", 1) != 1 || write(go[1][1], "g", 1) != 1) die("go");
        char line[64];
        long long t0 = now_ns();
        int len = snprintf(line, sizeof line, "%lld <t1> cap 1 padding-to-40b\n", t0);
        for (int i = 0; i < n; i++) // all TCP members, then all UDP members
            if (write(ts[i], line, len) != len) die("write");
        tcp_ms += (now_ns() - t0) / 1e6;
        if (mmsg) {
            for (int i = 0; i < n; i += 1024) {
                int k = n - i < 1024 ? n - i : 1024;
                for (int j = 0; j < k; j++) {
                    iov[j] = (struct iovec){line, len};
                    mh[j].msg_hdr = (struct msghdr){.msg_name = &peers[i + j], .msg_namelen = sizeof peers[0],
                                                    .msg_iov = &iov[j], .msg_iovlen = 1};
                }
                for (int s = 0; s < k;) {
                    int m = sendmmsg(us, mh + s, k - s, 0);
                    if (m <= 0) die("sendmmsg");
                    s += m;
                }
            }
        } else {
            for (int i = 0; i < n; i++)
                if (sendto(us, line, len, 0, (void *)&peers[i], sizeof peers[i]) != len) die("sendto");
        }
        send_ms += (now_ns() - t0) / 1e6;
    }
    char c;
    if (read(done[0], &c, 1) != 1 || read(done[0], &c, 1) != 1) die("end");
    waitpid(kids[0], 0, 0);
    waitpid(kids[1], 0, 0);
    long long *lat = malloc(sizeof(long long) * 2 * n * rounds);
    size_t got = 0;
    for (int kind = 0; kind < 2; kind++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/capacity-floor.%d.%d", (int)getpid(), kind);
        FILE *f = fopen(path, "r");
        if (!f) die(path);
        got += fread(lat + got, sizeof *lat, (size_t)n * rounds, f);
        fclose(f);
        unlink(path);
    }
    if (got == 0) return 1;
    qsort(lat, got, sizeof *lat, cmp);
    printf("floor: %d TCP + %d UDP members, %d broadcasts (%s), %zu deliveries: p50 %.1f ms, p99 %.1f ms, "
           "max %.1f ms; sender %.1f ms per broadcast (TCP writes %.1f ms)\n", n, n, rounds, mmsg ? (spin ? "sendmmsg, receivers spinning" : "sendmmsg") : (spin ? "sendto, receivers spinning" : "sendto"), got,
           lat[got / 2] / 1e6, lat[got * 99 / 100] / 1e6, lat[got - 1] / 1e6, send_ms / rounds, tcp_ms / rounds);
    return 0;
}
