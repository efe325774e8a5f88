/*
 * Integration: SIGTERM under concurrent requests. The api must turn /readyz
 * to 503 first, then stop accepting, answer what is in flight, flush and
 * exit 0; every 202 it answered must be on the topic.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api_testlib.h"

#define ORG "0190a0b0-0000-7000-8000-00000000000a"
#define TOPIC "psop.commands.settlement"
#define MAX_IDS 50000
#define SENDERS 8

struct load {
    int port;
    char *token;
    atomic_int stop;
    pthread_mutex_t mu;
    char (*ids)[40];
    int n_ids, n_503, n_other, n_refused;
    int ready_503; /* /readyz answered 503 at least once */
};

static void *sender(void *arg)
{
    struct load *l = arg;
    int i = 0, refused_in_a_row = 0;
    while (!atomic_load(&l->stop) && refused_in_a_row < 20) {
        struct tl_resp r;
        int rc = tl_post_run(l->port, l->token, ORG, 2024, 1 + (i++ % 12), &r);
        pthread_mutex_lock(&l->mu);
        if (rc < 0) {
            l->n_refused++;
            refused_in_a_row++;
        } else {
            refused_in_a_row = 0;
            tl_count_answer(&r, l->ids, &l->n_ids, MAX_IDS, &l->n_503, &l->n_other);
        }
        pthread_mutex_unlock(&l->mu);
        if (rc == 0)
            tl_resp_free(&r);
        else
            usleep(20000);
    }
    return NULL;
}

static void *ready_poller(void *arg)
{
    struct load *l = arg;
    while (!atomic_load(&l->stop)) {
        struct tl_resp r;
        if (tl_request(l->port, "GET", "/readyz", NULL, NULL, NULL, NULL, &r) == 0) {
            if (r.status == 503) {
                pthread_mutex_lock(&l->mu);
                l->ready_503 = 1;
                pthread_mutex_unlock(&l->mu);
            }
            tl_resp_free(&r);
        } else if (l->ready_503) {
            break; /* the listener is gone */
        }
        usleep(20000);
    }
    return NULL;
}

Test(api_drain, sigterm_answers_in_flight_and_loses_no_acknowledged_command, .timeout = 120)
{
    cr_assert_eq(tl_ensure_topics(tl_brokers(), 12), 0);
    struct tl_marks marks;
    cr_assert_eq(tl_mark(tl_brokers(), TOPIC, &marks), 0);
    int port = tl_port(0);
    /* 2 s of draining: the poller must see one 503 even when a loaded
     * machine answers its /readyz behind eight busy senders. */
    const char *env[] = {"PSOP_API_DRAIN_DELAY_MS=2000", NULL};
    pid_t api = tl_api_start(port, env);
    cr_assert_gt(api, 0);

    struct load l = {.port = port, .token = tl_token("organiser", ORG, NULL, NULL, 600)};
    pthread_mutex_init(&l.mu, NULL);
    l.ids = calloc(MAX_IDS, 40);
    pthread_t th[SENDERS], rp;
    for (int i = 0; i < SENDERS; i++)
        pthread_create(&th[i], NULL, sender, &l);
    pthread_create(&rp, NULL, ready_poller, &l);
    usleep(1500 * 1000);

    kill(api, SIGTERM);
    int status = 0;
    cr_assert_eq(waitpid(api, &status, 0), api);
    atomic_store(&l.stop, 1);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(rp, NULL);

    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "psop-api did not exit 0 (%d)",
              status);
    cr_expect(l.ready_503, "/readyz never answered 503 while draining");
    cr_log_info("drain: %d accepted, %d 503, %d other, %d refused", l.n_ids, l.n_503, l.n_other,
                l.n_refused);
    cr_expect_gt(l.n_ids, 0);
    cr_expect_eq(l.n_other, 0);

    const char **want = calloc((size_t)l.n_ids + 1, sizeof(*want));
    for (int i = 0; i < l.n_ids; i++)
        want[i] = l.ids[i];
    struct tl_msg *got = calloc((size_t)l.n_ids + 1, sizeof(*got));
    int found = tl_find(tl_brokers(), &marks, want, l.n_ids, got, 30000, NULL);
    cr_expect_eq(found, l.n_ids, "only %d of %d acknowledged commands are on the topic", found,
                 l.n_ids);
    for (int i = 0; i < l.n_ids; i++)
        json_decref(got[i].envelope);
    free(got);
    free(want);
    free(l.ids);
    free(l.token);
}

Test(api_drain, a_new_process_binds_beside_a_draining_one, .timeout = 60)
{
    int port = tl_port(1);
    const char *env[] = {"PSOP_API_DRAIN_DELAY_MS=8000", "PSOP_API_STACK_ID=stack-a", NULL};
    pid_t old = tl_api_start(port, env);
    cr_assert_gt(old, 0);
    kill(old, SIGTERM);    /* draining for 8 s, listener still open */
    bool draining = false; /* seen: from now on only a new process answers /readyz 200 */
    for (int i = 0; i < 100 && !draining; i++) {
        struct tl_resp r;
        if (tl_request(port, "GET", "/readyz", NULL, NULL, NULL, NULL, &r) == 0) {
            draining = r.status == 503;
            tl_resp_free(&r);
        }
        if (!draining)
            usleep(50 * 1000);
    }
    cr_assert(draining, "the old process never answered /readyz 503 after SIGTERM");
    /* Same stack: the port guard lets it bind beside. Ready: only it answers /readyz 200. */
    const char *same[] = {"PSOP_API_STACK_ID=stack-a", NULL};
    pid_t fresh = tl_api_start(port, same);
    cr_expect_gt(fresh, 0, "a second psop-api could not bind the same port");
    int status;
    cr_expect_eq(waitpid(old, &status, 0), old);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (fresh > 0) {
        struct tl_resp r;
        cr_assert_eq(tl_request(port, "GET", "/readyz", NULL, NULL, NULL, NULL, &r), 0);
        cr_expect_eq(r.status, 200);
        tl_resp_free(&r);
        cr_expect_eq(tl_api_stop(fresh), 0);
    }
}

/* psop-api started on a port another process serves: exit status (or -1
 * when it was still running after 20 s, then killed). */
static int start_expect_exit(int port, const char *stack, char *out, size_t cap)
{
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char p[16], s[128];
        snprintf(p, sizeof p, "%d", port);
        snprintf(s, sizeof s, "%s", stack);
        setenv("PSOP_API_PORT", p, 1);
        setenv("PSOP_API_LISTEN_ADDR", "127.0.0.1", 1);
        setenv("PSOP_API_STACK_ID", s, 1);
        setenv("PSOP_JWT_ALG", "HS256", 1);
        setenv("PSOP_JWT_SECRET", TL_SECRET, 1);
        setenv("PSOP_LOG_LEVEL", "error", 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl(PSOP_BINARY_DIR "/api/psop-api", "psop-api", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    int status = 0, rc = -1;
    for (int i = 0; i < 400; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        usleep(50 * 1000);
    }
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(pfd[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(pfd[0]);
    return rc;
}

/* Every /healthz answer on port comes from the stack named. */
static void expect_only_stack(int port, const char *stack, int n)
{
    for (int i = 0; i < n; i++) {
        struct tl_resp r;
        cr_assert_eq(tl_request(port, "GET", "/healthz", NULL, NULL, NULL, NULL, &r), 0);
        char got[128] = "";
        cr_expect(tl_header(&r, "Psop-Stack", got, sizeof got), "no Psop-Stack header");
        cr_expect_str_eq(got, stack, "answer %d came from stack '%s'", i, got);
        tl_resp_free(&r);
    }
}

Test(api_drain, refuses_a_port_another_stack_serves, .timeout = 90)
{
    int port = tl_port(2);
    const char *env[] = {"PSOP_API_STACK_ID=stack-a", NULL};
    pid_t a = tl_api_start(port, env);
    cr_assert_gt(a, 0);
    char out[8192];
    int rc = start_expect_exit(port, "stack-b", out, sizeof out);
    cr_expect_eq(rc, 3, "psop-api of another stack: exit %d, said: %s", rc, out);
    cr_expect(strstr(out, "refusing to start") && strstr(out, "stack-a"), "said: %s", out);
    /* The stack that was there keeps every connection. */
    expect_only_stack(port, "stack-a", 40);
    cr_expect_eq(tl_api_stop(a), 0);
}

Test(api_drain, refuses_a_port_a_stranger_shares, .timeout = 60)
{
    /* A listener that allows sharing (SO_REUSEPORT, same user) but is no
     * psop-api: the kernel would let psop-api bind beside it. */
    int port = tl_port(3);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 16), 0);
    char out[8192];
    int rc = start_expect_exit(port, "stack-a", out, sizeof out);
    cr_expect_eq(rc, 3, "psop-api beside a stranger: exit %d, said: %s", rc, out);
    cr_expect(strstr(out, "refusing to start"), "said: %s", out);
    close(fd);
    /* And once the port is free it starts. */
    const char *env[] = {"PSOP_API_STACK_ID=stack-a", NULL};
    pid_t a = tl_api_start(port, env);
    cr_expect_gt(a, 0);
    if (a > 0)
        cr_expect_eq(tl_api_stop(a), 0);
}
