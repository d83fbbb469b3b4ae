/* host-stalls: how often this machine takes its CPUs away, the floor under any p99.
 *
 * One thread per CPU named, pinned to it, reads CLOCK_MONOTONIC in a tight loop for
 * SECONDS. A gap between two reads longer than 50 us is time the thread did not run:
 * an interrupt, or (on a VM) the host running something else on that vCPU. A line that
 * crosses these CPUs (the load generator's on one, the server's on the other) and
 * arrives during a gap waits for the rest of it, whatever the server does.
 *
 * Prints, per CPU and for the CPUs together (a moment when any of them is away):
 *   the share of the time lost, the gaps by length, and the share of the time at which
 *   an event would still wait at least 1, 2, 4 or 8 ms. If that share is 1 % for some
 *   X, then 1 % of the lines of a steady load wait at least X for the host alone, and
 *   no server's p99 on this machine can be below X.
 * The last line is JSON, for scripts/compare.py.
 *
 * Build: cc -O2 -pthread -o host-stalls host-stalls.c
 * Run:   ./host-stalls SECONDS CPU [CPU...]    e.g. ./host-stalls 5 0 1
 * Run it alone: it keeps every CPU named busy for SECONDS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_GAP_NS 50000LL
#define MAX_CPUS 64
#define MAX_GAPS 1000000

static const long long waits_ms[] = {1, 2, 4, 8};
#define NWAITS (sizeof waits_ms / sizeof waits_ms[0])

struct gap { long long start, end; };

struct spinner {
    int cpu;
    double seconds;
    long long begin, finish;
    struct gap *gaps;
    size_t n;
    int err;
};

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *spin(void *arg) {
    struct spinner *s = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(s->cpu, &set);
    s->err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (s->err) return NULL;
    s->begin = now_ns();
    long long end = s->begin + (long long)(s->seconds * 1e9), last = s->begin;
    for (;;) {
        long long t = now_ns();
        if (t - last > MIN_GAP_NS && s->n < MAX_GAPS) s->gaps[s->n++] = (struct gap){last, t};
        last = t;
        if (t >= end) break;
    }
    s->finish = last;
    return NULL;
}

static int by_start(const void *a, const void *b) {
    const struct gap *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* The time covered by the union of [start, end - wait] over gaps (sorted by start). */
static long long waiting(const struct gap *g, size_t n, long long wait) {
    long long total = 0, cur_s = 0, cur_e = -1;
    for (size_t i = 0; i < n; i++) {
        long long s = g[i].start, e = g[i].end - wait;
        if (e <= s) continue;
        if (s > cur_e) {
            if (cur_e > cur_s) total += cur_e - cur_s;
            cur_s = s;
            cur_e = e;
        } else if (e > cur_e) {
            cur_e = e;
        }
    }
    if (cur_e > cur_s) total += cur_e - cur_s;
    return total;
}

static void report(const char *who, struct gap *g, size_t n, long long wall, double *shares) {
    long long lost = waiting(g, n, 0);
    size_t bins[5] = {0};
    for (size_t i = 0; i < n; i++) {
        long long d = g[i].end - g[i].start;
        bins[d < 1000000 ? 0 : d < 3000000 ? 1 : d < 10000000 ? 2 : d < 30000000 ? 3 : 4]++;
    }
    printf("%-10s lost %5.2f %% in %zu gaps (< 1 ms %zu, 1-3 ms %zu, 3-10 ms %zu, 10-30 ms %zu, > 30 ms %zu);"
           " waits of", who, 100.0 * lost / wall, n, bins[0], bins[1], bins[2], bins[3], bins[4]);
    for (size_t k = 0; k < NWAITS; k++) {
        shares[k] = 100.0 * waiting(g, n, waits_ms[k] * 1000000LL) / wall;
        printf(" >= %lld ms %.2f %%%s", waits_ms[k], shares[k], k + 1 < NWAITS ? "," : "\n");
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SECONDS CPU [CPU...]\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[1]);
    int ncpu = argc - 2;
    if (seconds <= 0 || seconds > 600 || ncpu > MAX_CPUS) {
        fprintf(stderr, "host-stalls: SECONDS must be in (0, 600], at most %d CPUs\n", MAX_CPUS);
        return 2;
    }
    struct spinner sp[MAX_CPUS];
    pthread_t th[MAX_CPUS];
    for (int i = 0; i < ncpu; i++) {
        char *end;
        long cpu = strtol(argv[i + 2], &end, 10);
        if (*end || cpu < 0 || cpu >= CPU_SETSIZE) {
            fprintf(stderr, "host-stalls: not a CPU number: %s\n", argv[i + 2]);
            return 2;
        }
        sp[i] = (struct spinner){.cpu = (int)cpu, .seconds = seconds};
        sp[i].gaps = malloc(MAX_GAPS * sizeof(struct gap));
        if (!sp[i].gaps) {
            fprintf(stderr, "host-stalls: out of memory\n");
            return 1;
        }
    }
    for (int i = 0; i < ncpu; i++) {
        int e = pthread_create(&th[i], NULL, spin, &sp[i]);
        if (e) {
            fprintf(stderr, "host-stalls: thread for CPU %d: %s\n", sp[i].cpu, strerror(e));
            return 1;
        }
    }
    for (int i = 0; i < ncpu; i++) pthread_join(th[i], NULL);

    size_t total = 0;
    long long begin = sp[0].begin, finish = sp[0].finish;
    for (int i = 0; i < ncpu; i++) {
        if (sp[i].err) {
            fprintf(stderr, "host-stalls: cannot run on CPU %d: %s\n", sp[i].cpu, strerror(sp[i].err));
            return 1;
        }
        total += sp[i].n;
        if (sp[i].begin > begin) begin = sp[i].begin;
        if (sp[i].finish < finish) finish = sp[i].finish;
    }
    struct gap *all = malloc((total ? total : 1) * sizeof(struct gap));
    if (!all) {
        fprintf(stderr, "host-stalls: out of memory\n");
        return 1;
    }
    double shares[NWAITS];
    size_t k = 0;
    for (int i = 0; i < ncpu; i++) {
        char who[32];
        snprintf(who, sizeof who, "CPU %d", sp[i].cpu);
        report(who, sp[i].gaps, sp[i].n, sp[i].finish - sp[i].begin, shares);
        memcpy(all + k, sp[i].gaps, sp[i].n * sizeof(struct gap));
        k += sp[i].n;
    }
    qsort(all, total, sizeof(struct gap), by_start);
    long long wall = finish > begin ? finish - begin : 1;
    report("any CPU", all, total, wall, shares);
    printf("{\"seconds\": %.3f, \"cpus\": %d", wall / 1e9, ncpu);
    for (size_t w = 0; w < NWAITS; w++) printf(", \"wait_ge_%lldms_pct\": %.4f", waits_ms[w], shares[w]);
    printf("}\n");
    return 0;
}
