/*
 * pingpong: the floor for a remote register read.  A raw request/reply
 * round trip over a UNIX stream socket between two processes, with the
 * message sizes of a 4-byte REGION_READ (32-byte request, 36-byte reply),
 * and nothing else: no protocol parsing, no device.
 *
 *   pingpong [ROUNDS [POLL_US [tcp | tls CERTS]]]
 *       prints PINGPONG-NS <median per round trip>
 *
 * With POLL_US, both sides poll (and yield) that long for the next
 * message before sleeping, as dm-remote and dm-proxy do: the floor for a
 * busy-polling transport.  With "tcp", the two ends talk over a TCP
 * loopback connection (TCP_NODELAY) instead of a UNIX socketpair.  With
 * "tls CERTS", over TCP loopback inside a GnuTLS session (default
 * priorities, both ends verified) with the certificates of
 * tests/net/make-certs.sh in CERTS/server and CERTS/client: the floor
 * for a TLS transport, each message one record.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "bench-util.h"

#include "vup/msg.h"

#define REQ_SIZE    32
#define REPLY_SIZE  36
#define PER_BATCH   100

static int64_t spin_ns;

/* One end: a socket, and its TLS session in "tls" mode. */
typedef struct End {
    int fd;
    gnutls_session_t tls;
} End;

static ssize_t end_io(End *e, char *buf, size_t len, int writing)
{
    if (e->tls) {
        return writing ? gnutls_record_send(e->tls, buf, len)
                       : gnutls_record_recv(e->tls, buf, len);
    }
    return writing ? write(e->fd, buf, len) : read(e->fd, buf, len);
}

static int full(End *e, char *buf, size_t len, int writing)
{
    if (!writing && !(e->tls && gnutls_record_check_pending(e->tls))) {
        vup_spin_readable(e->fd, spin_ns);
    }
    size_t done = 0;

    while (done < len) {
        ssize_t n = end_io(e, buf + done, len - done, writing);

        if (n <= 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

/*
 * Wrap @e in a TLS session, as the server or the client, with the
 * certificates in @dir/server or @dir/client; both ends are verified.
 */
static int tls_start(End *e, const char *dir, bool server)
{
    const char *role = server ? "server" : "client";
    gnutls_certificate_credentials_t creds;
    char ca[512], cert[512], key[512];
    int ret;

    snprintf(ca, sizeof(ca), "%s/%s/ca-cert.pem", dir, role);
    snprintf(cert, sizeof(cert), "%s/%s/%s-cert.pem", dir, role, role);
    snprintf(key, sizeof(key), "%s/%s/%s-key.pem", dir, role, role);
    if (gnutls_certificate_allocate_credentials(&creds) < 0 ||
        gnutls_certificate_set_x509_trust_file(creds, ca,
                                               GNUTLS_X509_FMT_PEM) <= 0 ||
        gnutls_certificate_set_x509_key_file(creds, cert, key,
                                             GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_init(&e->tls, server ? GNUTLS_SERVER : GNUTLS_CLIENT) < 0) {
        fprintf(stderr, "pingpong: cannot load the %s certificates in %s\n",
                role, dir);
        return -1;
    }
    gnutls_set_default_priority(e->tls);
    gnutls_credentials_set(e->tls, GNUTLS_CRD_CERTIFICATE, creds);
    if (server) {
        gnutls_certificate_server_set_request(e->tls, GNUTLS_CERT_REQUIRE);
    } else {
        gnutls_server_name_set(e->tls, GNUTLS_NAME_DNS, "localhost",
                               strlen("localhost"));
    }
    gnutls_session_set_verify_cert(e->tls, server ? NULL : "localhost", 0);
    gnutls_transport_set_int(e->tls, e->fd);
    do {
        ret = gnutls_handshake(e->tls);
    } while (ret < 0 && !gnutls_error_is_fatal(ret));
    if (ret < 0) {
        fprintf(stderr, "pingpong: TLS handshake (%s): %s\n", role,
                gnutls_strerror(ret));
        return -1;
    }
    return 0;
}

/* A connected TCP loopback pair, with TCP_NODELAY on both ends. */
static int tcp_pair(int sv[2])
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &len) < 0) {
        return -1;
    }
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        return -1;
    }
    sv[1] = accept(l, NULL, NULL);
    close(l);
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return sv[1] < 0 ? -1 : 0;
}

/* $@var=N: run on CPU N (the bench may pin the two ends apart). */
static void pin_to(const char *var)
{
    const char *cpu = getenv(var);
    cpu_set_t set;

    if (cpu && *cpu) {
        CPU_ZERO(&set);
        CPU_SET(atoi(cpu), &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) / PER_BATCH : 200;
    char req[REQ_SIZE] = { 0 }, reply[REPLY_SIZE] = { 0 };
    const char *mode = argc > 3 ? argv[3] : "unix";
    const char *certs = argc > 4 ? argv[4] : NULL;
    bool tls = strcmp(mode, "tls") == 0;
    End client = { 0 }, server = { 0 };
    int64_t *t;
    int sv[2];
    pid_t pid;

    spin_ns = argc > 2 ? atol(argv[2]) * 1000 : 0;
    if (batches < 1 || (tls && !certs) ||
        (strcmp(mode, "unix") && strcmp(mode, "tcp") && !tls)) {
        fprintf(stderr, "usage: pingpong [ROUNDS >= %d [POLL_US "
                "[tcp | tls CERTS]]]\n", PER_BATCH);
        return 2;
    }
    if ((strcmp(mode, "unix") ? tcp_pair(sv)
                              : socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) < 0) {
        perror("pingpong: cannot connect the two ends");
        return 1;
    }
    client.fd = sv[0];
    server.fd = sv[1];
    pid = fork();
    if (pid == 0) {
        pin_to("PINGPONG_PEER_CPU");
        close(sv[0]);
        if (tls && tls_start(&server, certs, true) < 0) {
            _exit(1);
        }
        while (full(&server, req, sizeof(req), 0) == 0 &&
               full(&server, reply, sizeof(reply), 1) == 0) {
            continue;
        }
        _exit(0);
    }
    pin_to("PINGPONG_CPU");
    close(sv[1]);
    if (tls && tls_start(&client, certs, false) < 0) {
        return 1;
    }
    t = calloc(batches, sizeof(*t));
    for (int b = 0; b < batches; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            if (full(&client, req, sizeof(req), 1) < 0 ||
                full(&client, reply, sizeof(reply), 0) < 0) {
                fprintf(stderr, "pingpong: peer went away\n");
                return 1;
            }
        }
        t[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    printf("PINGPONG-NS %lld\n", (long long)bench_median(t, batches));
    free(t);
    return 0;
}
