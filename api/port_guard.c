#include "port_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

/* The value of header `name` in a raw HTTP answer, copied into out. */
static int find_header(const char *answer, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = strstr(answer, "\r\n");
    while (p && p[2] != '\r' && p[2] != '\0') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            return -1;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t len = (size_t)(eol - v);
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= outlen)
                return -1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 0;
        }
        p = eol;
    }
    return -1;
}

enum port_guard_verdict port_guard_judge(const char *answer, const char *stack_id, char *err,
                                         size_t errlen)
{
    char theirs[256];
    if (strncmp(answer, "HTTP/1.", 7) != 0) {
        snprintf(err, errlen, "a process that does not speak HTTP");
        return PORT_TAKEN;
    }
    if (find_header(answer, PORT_GUARD_HEADER, theirs, sizeof theirs) < 0) {
        snprintf(err, errlen, "an HTTP server that is not psop-api");
        return PORT_TAKEN;
    }
    if (strcmp(theirs, stack_id ? stack_id : "") != 0) {
        snprintf(err, errlen, "the psop-api of another stack ('%s', this one is '%s')", theirs,
                 stack_id ? stack_id : "");
        return PORT_TAKEN;
    }
    return PORT_SAME_STACK;
}

static int wait_fd(int fd, short events, long deadline)
{
    long left = deadline - clock_mono_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    do
        n = poll(&p, 1, (int)left);
    while (n < 0 && errno == EINTR);
    return n > 0;
}

enum port_guard_verdict port_guard_check(const char *addr, int port, const char *stack_id,
                                         int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    const char *a = addr && *addr ? addr : "127.0.0.1";
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
            s6->sin6_addr = in6addr_loopback;
        sl = sizeof *s6;
    } else {
        return PORT_FREE; /* the server's own address check reports it */
    }

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PORT_FREE;
    long deadline = clock_mono_ms() + timeout_ms;
    enum port_guard_verdict v = PORT_FREE;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno != EINPROGRESS)
            goto out; /* refused: nobody listens */
        if (!wait_fd(fd, POLLOUT, deadline)) {
            snprintf(err, errlen, "a process that accepts no connection in %d ms", timeout_ms);
            v = PORT_TAKEN;
            goto out;
        }
        int soerr = 0;
        socklen_t l = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0 || soerr != 0)
            goto out;
    }
    static const char req[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errlen, "a process that takes no request");
        v = PORT_TAKEN;
        goto out;
    }
    /* Only the head matters; 4 KiB is far more than psop-api's. */
    char buf[4096];
    size_t got = 0;
    buf[0] = '\0';
    while (got < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
        if (!wait_fd(fd, POLLIN, deadline))
            break;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    buf[got] = '\0';
    if (got == 0) {
        snprintf(err, errlen, "a process that does not answer HTTP in %d ms", timeout_ms);
        v = PORT_TAKEN;
        goto out;
    }
    v = port_guard_judge(buf, stack_id, err, errlen);
out:
    close(fd);
    return v;
}
