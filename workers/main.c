/*
 * psop-worker - applies commands from one command topic (--role), or relays
 * unpublished outbox events (--role relay), or writes access records
 * (--role audit, audit.h).
 *
 *   psop-worker --role voucher [--instance voucher-1] [--config PATH]
 *   psop-worker --check-alive [MAX_AGE_S]   (health check: exit 0 when the
 *       worker_heartbeat_file was touched within MAX_AGE_S, default 300)
 *
 * SIGTERM/SIGINT: finish the batch, commit, store and commit offsets, leave
 * the group, exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/heartbeat.h"
#include "core/log.h"
#include "audit.h"
#include "outbox.h"
#include "worker.h"
#include "core/xmalloc.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char *arg_value(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct psop_config cfg;
    char err[512];
    xmalloc_install();
    if (config_load(&cfg, config_path_from_args(argc, argv), err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-worker: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--check-alive") == 0) {
            int max_age = i + 1 < argc && argv[i + 1][0] != '-' ? atoi(argv[i + 1]) : 300;
            char why[512];
            int ok = heartbeat_check(cfg.worker_heartbeat_file, max_age > 0 ? max_age : 300,
                                     time(NULL), why, sizeof(why)) == 0;
            if (!ok)
                fprintf(stderr, "psop-worker: not alive: %s\n", why);
            config_free(&cfg);
            return ok ? 0 : 1;
        }
    const char *role = arg_value(argc, argv, "--role");
    if (role) {
        free(cfg.worker_role);
        cfg.worker_role = xstrdup(role);
    }
    const char *inst = arg_value(argc, argv, "--instance");
    if (inst) {
        free(cfg.worker_instance_id);
        cfg.worker_instance_id = xstrdup(inst);
    }
    log_init("psop-worker", log_level_parse(cfg.log_level));

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc;
    if (strcmp(cfg.worker_role, "relay") == 0) {
        rc = outbox_relay_run(&cfg, &stop_flag) == 0 ? 0 : 1;
    } else if (strcmp(cfg.worker_role, "audit") == 0) {
        rc = audit_run(&cfg, &stop_flag);
    } else {
        const struct worker_role *r = worker_role_find(cfg.worker_role);
        if (!r) {
            fprintf(stderr,
                    "psop-worker: --role must be reference, provider, voucher, order, settlement, "
                    "relay or audit (got '%s')\n",
                    cfg.worker_role);
            config_free(&cfg);
            return 2;
        }
        rc = worker_run(&cfg, r, &stop_flag);
    }
    LOG_INFO("exit", NULL);
    config_free(&cfg);
    return rc;
}
