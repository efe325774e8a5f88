/*
 * psopctl - operations on a psop installation.
 *
 *   psopctl [--config PATH] <command> [options]
 *
 * Each command is one row of the commands[] table below: a name, its usage,
 * a one-line summary and a function taking the loaded configuration and the
 * command's own argv (argv[0] is the command name). Exit status: 0 ok,
 * 1 failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "dlq_replay.h"
#include "wire/jwk.h"
#include "wire/jwt.h"
#include "store/kadmin.h"
#include "core/log.h"
#include "store/migrate.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_command.h"
#include "views/view_provider.h"
#include "views/view_voucher.h"
#include "views/view_settlement.h"
#include "views/view_order.h"
#include "core/xmalloc.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct command {
    const char *name;
    const char *usage;   /* options after the name */
    const char *summary; /* one line */
    int (*run)(const struct psop_config *cfg, int argc, char **argv);
};

static const struct command *find_command(const char *name);
static void usage_of(FILE *out, const struct command *c);

/* Parses a whole decimal argument in [lo, hi]; -1 when it is not one. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Prints a usage error for command c and returns EXIT_USAGE. */
static int bad_usage(const struct command *c, const char *fmt, const char *arg)
{
    fprintf(stderr, "psopctl %s: ", c->name);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage_of(stderr, c);
    return EXIT_USAGE;
}

/* getopt_long over a command's argv; reports unknown options itself. */
static int next_opt(const struct command *c, int argc, char **argv, const struct option *opts)
{
    opterr = 0;
    int ch = getopt_long(argc, argv, "+", opts, NULL);
    if (ch == '?') {
        if (optopt)
            bad_usage(c, "option %s needs a value", argv[optind - 1]);
        else
            bad_usage(c, "unknown option %s", argv[optind - 1]);
        return -2;
    }
    return ch;
}

static int cmd_migrate(const struct psop_config *cfg, int argc, char **argv)
{
    const struct command *self = find_command("migrate");
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"check", no_argument, NULL, 'c'}, {0}};
    char *dir = NULL;
    bool check = false;
    int ch;
    while ((ch = next_opt(self, argc, argv, opts)) != -1) {
        if (ch == -2) {
            free(dir);
            return EXIT_USAGE;
        }
        if (ch == 'c') {
            check = true;
            continue;
        }
        free(dir);
        dir = xstrdup(optarg);
    }
    if (optind < argc) {
        free(dir);
        return bad_usage(self, "unexpected argument %s", argv[optind]);
    }
    if (!dir)
        dir = xasprintf("%s/sql", cfg->schemas_dir);

    char err[1024];
    int applied = 0, rc = EXIT_FAIL;
    struct pgc *c = pgc_connect(cfg->pg_dsn, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "psopctl migrate: %s\n", err);
        goto out;
    }
    if (check) { /* exit 0 only when the database has every migration of dir */
        int pending = 0;
        char first[256];
        if (migrate_check(c, dir, &pending, first, sizeof(first), err, sizeof(err)) < 0) {
            fprintf(stderr, "psopctl migrate --check: %s\n", err);
            goto out;
        }
        if (pending > 0) {
            fprintf(stderr, "psopctl migrate --check: %d pending, first %s\n", pending, first);
            goto out;
        }
        printf("migrate: up to date with %s\n", dir);
        rc = EXIT_OK;
        goto out;
    }
    if (migrate_apply(c, dir, &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "psopctl migrate: %s (%d applied before the failure)\n", err, applied);
        goto out;
    }
    printf("migrate: %d applied from %s\n", applied, dir);
    rc = EXIT_OK;
out:
    pgc_free(c);
    free(dir);
    return rc;
}

static void warn_short_topic(const char *topic, int replicas, void *cls)
{
    (void)cls;
    fprintf(stderr,
            "psopctl topics: warning: %s has %d replica(s), fewer than wanted: it was created "
            "on a smaller cluster (recreate it, or reassign its partitions)\n",
            topic, replicas);
}

static int cmd_topics(const struct psop_config *cfg, int argc, char **argv)
{
    const struct command *self = find_command("topics");
    static const struct option opts[] = {{"replication", required_argument, NULL, 'r'}, {0}};
    long repl = KADMIN_DEFAULT_REPLICATION;
    int ch;
    while ((ch = next_opt(self, argc, argv, opts)) != -1) {
        if (ch == -2)
            return EXIT_USAGE;
        if (parse_long(optarg, 1, 32767, &repl) < 0)
            return bad_usage(self, "--replication must be 1..32767, not '%s'", optarg);
    }
    if (optind < argc)
        return bad_usage(self, "unexpected argument %s", argv[optind]);

    char err[1024];
    int used = 0;
    if (kadmin_ensure_topics(cfg, (int)repl, &used, err, sizeof(err)) < 0) {
        fprintf(stderr, "psopctl topics: %s\n", err);
        return EXIT_FAIL;
    }
    /* Topics made before the cluster grew keep their old replication. */
    int shortfall = kadmin_check_replication(cfg, used, warn_short_topic, NULL, err, sizeof(err));
    if (shortfall < 0) {
        fprintf(stderr, "psopctl topics: %s\n", err);
        return EXIT_FAIL;
    }
    printf("topics: present on %s (replication %d, min.insync.replicas %d for new topics)\n",
           cfg->kafka_brokers, used, kadmin_min_insync_for(used));
    return EXIT_OK;
}

static int cmd_token(const struct psop_config *cfg, int argc, char **argv)
{
    const struct command *self = find_command("token");
    static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
                                         {"sub", required_argument, NULL, 's'},
                                         {"org", required_argument, NULL, 'o'},
                                         {"provider", required_argument, NULL, 'p'},
                                         {"client", required_argument, NULL, 'c'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"jwks-private", required_argument, NULL, 'j'},
                                         {"kid", required_argument, NULL, 'k'},
                                         {0}};
    const char *role = NULL, *sub = "psopctl", *org = NULL, *provider = NULL, *client = NULL;
    struct psop_config c = *cfg; /* borrowed strings: never freed here */
    long ttl = 3600;
    int ch;
    while ((ch = next_opt(self, argc, argv, opts)) != -1) {
        switch (ch) {
        case -2:
            return EXIT_USAGE;
        case 'r':
            role = optarg;
            break;
        case 's':
            sub = optarg;
            break;
        case 'o':
            org = optarg;
            break;
        case 'p':
            provider = optarg;
            break;
        case 'c':
            client = optarg;
            break;
        case 'j':
            c.jwt_mint_jwks_file = optarg;
            break;
        case 'k':
            c.jwt_mint_kid = optarg;
            break;
        case 't':
            if (parse_long(optarg, 1, JWT_TOKEN_TTL_MAX, &ttl) < 0)
                return bad_usage(self, "--ttl must be 1..31622400 seconds, not '%s'", optarg);
            break;
        }
    }
    if (optind < argc)
        return bad_usage(self, "unexpected argument %s", argv[optind]);
    if (!role)
        return bad_usage(self, "%s", "--role is required");

    char err[512], *tok = NULL;
    if (jwt_token_mint(&c, role, sub, org, provider, client, ttl, &tok, err, sizeof(err)) < 0) {
        fprintf(stderr, "psopctl token: %s\n", err);
        return EXIT_FAIL;
    }
    printf("%s\n", tok);
    free(tok);
    return EXIT_OK;
}

/* ------------------------------------------------------------ jwks */

/* psopctl jwks generate --kid K [--kty RSA|EC]: a private key set of one new
 * key; psopctl jwks public FILE: the key set the api verifies with. A
 * rotation: generate the new key, publish old + new, move the signer, then
 * publish the new one alone (docs/operations.md). */
static int cmd_jwks(const struct psop_config *cfg, int argc, char **argv)
{
    (void)cfg;
    const struct command *self = find_command("jwks");
    if (argc < 2)
        return bad_usage(self, "%s", "generate or public?");
    const char *verb = argv[1];
    char err[512];
    json_t *out = NULL;
    if (strcmp(verb, "public") == 0) {
        if (argc != 3)
            return bad_usage(self, "%s", "public needs one FILE");
        json_error_t je;
        json_t *doc = json_load_file(argv[2], JSON_REJECT_DUPLICATES, &je), *jwk;
        if (!doc || !json_is_array(json_object_get(doc, "keys"))) {
            fprintf(stderr, "psopctl jwks: %s: %s\n", argv[2], doc ? "no \"keys\" array" : je.text);
            json_decref(doc);
            return EXIT_FAIL;
        }
        json_t *keys = json_array();
        size_t i;
        json_array_foreach(json_object_get(doc, "keys"), i, jwk)
            json_array_append_new(keys, jwk_public(jwk));
        out = json_pack("{s:o}", "keys", keys);
        json_decref(doc);
    } else if (strcmp(verb, "generate") == 0) {
        static const struct option opts[] = {
            {"kid", required_argument, NULL, 'k'}, {"kty", required_argument, NULL, 't'}, {0}};
        const char *kid = NULL, *kty = "RSA";
        int ch;
        optind = 2;
        while ((ch = next_opt(self, argc, argv, opts)) != -1) {
            if (ch == -2)
                return EXIT_USAGE;
            if (ch == 'k')
                kid = optarg;
            else if (ch == 't')
                kty = optarg;
        }
        if (!kid || !*kid)
            return bad_usage(self, "%s", "--kid is required");
        enum jwk_kty t = strcmp(kty, "RSA") == 0  ? JWK_RSA
                         : strcmp(kty, "EC") == 0 ? JWK_EC
                                                  : JWK_NONE;
        if (t == JWK_NONE)
            return bad_usage(self, "--kty must be RSA or EC, not '%s'", kty);
        json_t *jwk = jwk_generate(t, kid, err, sizeof(err));
        if (!jwk) {
            fprintf(stderr, "psopctl jwks: %s\n", err);
            return EXIT_FAIL;
        }
        out = json_pack("{s:[o]}", "keys", jwk);
    } else {
        return bad_usage(self, "unknown verb %s", verb);
    }
    char *text = json_dumps(out, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    json_decref(out);
    return EXIT_OK;
}

/* ------------------------------------------------------- cache rebuild */

/* Progress of one read model: a rewritten line on a terminal, nothing
 * otherwise (the summary line is printed either way). */
struct progress {
    const char *what;
    bool tty;
    time_t last;
};

static void progress_cb(void *cls, long done)
{
    struct progress *p = cls;
    time_t now = time(NULL);
    if (!p->tty || now == p->last)
        return;
    p->last = now;
    fprintf(stderr, "\r  %-28s %ld written...", p->what, done);
    fflush(stderr);
}

static int rebuild_commands(struct rds *rds, struct pgc *pg, struct progress *p, long *written,
                            char *err, size_t errlen)
{
    return view_command_rebuild(rds, pg, VIEW_COMMAND_TTL_S / 86400, progress_cb, p, written, err,
                                errlen);
}

static int rebuild_providers(struct rds *rds, struct pgc *pg, struct progress *p, long *written,
                             char *err, size_t errlen)
{
    (void)p;
    return view_provider_rebuild_all(rds, pg, written, err, errlen);
}

static int rebuild_vouchers(struct rds *rds, struct pgc *pg, struct progress *p, long *written,
                            char *err, size_t errlen)
{
    (void)p;
    return view_voucher_rebuild_all(rds, pg, written, err, errlen);
}

static int rebuild_orders(struct rds *rds, struct pgc *pg, struct progress *p, long *written,
                          char *err, size_t errlen)
{
    (void)p;
    return view_order_rebuild_all(rds, pg, written, err, errlen);
}

static int rebuild_settlements(struct rds *rds, struct pgc *pg, struct progress *p, long *written,
                               char *err, size_t errlen)
{
    (void)p;
    return view_settlement_rebuild_all(rds, pg, written, err, errlen);
}

/* One row per read model, rebuilt in this order. */
static const struct {
    const char *what;
    int (*run)(struct rds *, struct pgc *, struct progress *, long *, char *, size_t);
} rebuilds[] = {
    {"command statuses (7 days)", rebuild_commands},
    {"providers and public lists", rebuild_providers},
    {"vouchers and their events", rebuild_vouchers},
    {"orders and contracts", rebuild_orders},
    {"settlements", rebuild_settlements},
};

static int cmd_cache(const struct psop_config *cfg, int argc, char **argv)
{
    const struct command *c = find_command("cache");
    if (argc != 2 || strcmp(argv[1], "rebuild") != 0)
        return bad_usage(c, "%s", argc < 2 ? "missing subcommand" : "unknown subcommand or option");
    char err[512];
    int rc = EXIT_FAIL;
    struct pgc *pg = pgc_connect(cfg->pg_dsn, err, sizeof(err));
    struct rds *rds = NULL;
    if (!pg) {
        fprintf(stderr, "psopctl cache: %s\n", err);
        goto out;
    }
    rds = rds_connect(cfg->redis_url, 5000, err, sizeof(err));
    if (!rds) {
        fprintf(stderr, "psopctl cache: %s\n", err);
        goto out;
    }
    bool tty = isatty(STDERR_FILENO);
    long total = 0;
    for (size_t i = 0; i < sizeof(rebuilds) / sizeof(rebuilds[0]); i++) {
        struct progress p = {rebuilds[i].what, tty, 0};
        long written = 0;
        if (tty) {
            fprintf(stderr, "  %-28s ...", p.what);
            fflush(stderr);
        }
        int r = rebuilds[i].run(rds, pg, &p, &written, err, sizeof(err));
        if (tty)
            fprintf(stderr, "\r\033[K");
        if (r < 0) {
            fprintf(stderr, "psopctl cache: %s: %s\n", p.what, err);
            goto out;
        }
        printf("  %-28s %ld written\n", p.what, written);
        fflush(stdout);
        total += written;
    }
    printf("cache rebuilt: %ld keys written (documents already current are left alone)\n", total);
    rc = EXIT_OK;
out:
    rds_free(rds);
    pgc_free(pg);
    return rc;
}

static int cmd_dlq(const struct psop_config *cfg, int argc, char **argv)
{
    const struct command *self = find_command("dlq");
    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "replay") != 0))
        return bad_usage(self, "expected list or replay%s", "");
    struct dlq_opts o = {.replay = strcmp(argv[1], "replay") == 0, .timeout_ms = 30000};
    static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                         {"group", required_argument, NULL, 'g'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {0}};
    int ch;
    long secs;
    argc--;
    argv++;
    while ((ch = next_opt(self, argc, argv, opts)) != -1) {
        switch (ch) {
        case -2:
            return EXIT_USAGE;
        case 'i':
            o.command_id = optarg;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 't':
            if (parse_long(optarg, 1, 3600, &secs) < 0)
                return bad_usage(self, "--timeout must be 1..3600 seconds, not '%s'", optarg);
            o.timeout_ms = (int)secs * 1000;
            break;
        }
    }
    if (optind < argc)
        return bad_usage(self, "unexpected argument %s", argv[optind]);

    char err[1024];
    struct dlq_result r;
    int rc = dlq_run(cfg, &o, stdout, &r, err, sizeof(err));
    printf("dlq: %ld parked message(s) read, %ld %s, %ld skipped, %ld failed\n", r.seen,
           o.replay ? r.replayed : r.seen - r.skipped, o.replay ? "replayed" : "listed", r.skipped,
           r.failed);
    if (rc < 0) {
        fprintf(stderr, "psopctl dlq: %s\n", err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_help(const struct psop_config *cfg, int argc, char **argv);

/* One row per command; help lists them in this order. */
static const struct command commands[] = {
    {"migrate", "[--dir DIR] [--check]",
     "apply pending SQL migrations (default DIR: <schemas_dir>/sql); --check only tells: exit 0 "
     "when none is pending",
     cmd_migrate},
    {"topics", "[--replication N]",
     "create the psop Kafka topics that are missing (replication: the broker count, at most "
     "3, unless given; min.insync.replicas 2 from 3 copies)",
     cmd_topics},
    {"token",
     "--role R [--sub S] [--org ID] [--provider ID] [--client ID] [--ttl S] "
     "[--jwks-private FILE --kid K]",
     "print a signed API token (ttl default 3600 s; with --jwks-private, signed RS256/ES256 by "
     "that key as an identity provider would)",
     cmd_token},
    {"jwks", "generate --kid K [--kty RSA|EC] | public FILE",
     "print a new private key set of one key, or the public key set of a private one "
     "(jwt_jwks_file)",
     cmd_jwks},
    {"cache", "rebuild",
     "refill every Redis read model from PostgreSQL (after a flush; reads fall back meanwhile)",
     cmd_cache},
    {"dlq", "list|replay [--id COMMAND_ID] [--group G] [--timeout S]",
     "list the parked commands of psop.dlq, or produce them again to their topics "
     "(after a fix; duplicates are skipped by the workers)",
     cmd_dlq},
    {"help", "[COMMAND]", "show this help or a command's usage", cmd_help},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage_of(FILE *out, const struct command *c)
{
    fprintf(out, "usage: psopctl [--config PATH] %s %s\n", c->name, c->usage);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: psopctl [--config PATH] <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n           %s\n", commands[i].name, commands[i].usage,
                commands[i].summary);
    fprintf(out, "\nConfiguration: --config PATH, else $PSOP_CONFIG, else ./config/psop.conf;\n"
                 "PSOP_* environment variables override it. Exit: 0 ok, 1 failure, 2 usage.\n");
}

static int cmd_help(const struct psop_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc > 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (argc == 2) {
        const struct command *c = find_command(argv[1]);
        if (!c) {
            fprintf(stderr, "psopctl help: unknown command '%s'\n", argv[1]);
            return EXIT_USAGE;
        }
        usage_of(stdout, c);
        printf("  %s\n", c->summary);
        return EXIT_OK;
    }
    usage(stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    xmalloc_install();
    const char *config_path = config_path_from_args(argc, argv);

    /* argv without --config PATH / --config=PATH, wherever it was. */
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "psopctl: --config needs a path\n");
                free(args);
                return EXIT_USAGE;
            }
            i++;
            continue;
        }
        if (i > 0 && strncmp(argv[i], "--config=", 9) == 0)
            continue;
        args[nargs++] = argv[i];
    }
    args[nargs] = NULL;

    if (nargs < 2) {
        usage(stderr);
        free(args);
        return EXIT_USAGE;
    }
    const char *name = args[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    const struct command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "psopctl: unknown command '%s' (psopctl help lists them)\n", name);
        free(args);
        return EXIT_USAGE;
    }
    if (cmd->run == cmd_help) {
        int rc = cmd_help(NULL, nargs - 1, args + 1);
        free(args);
        return rc;
    }

    struct psop_config cfg;
    char err[512];
    memset(&cfg, 0, sizeof(cfg));
    if (config_load(&cfg, config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "psopctl: %s\n", err);
        config_free(&cfg);
        free(args);
        return EXIT_FAIL;
    }
    log_init("psopctl", log_level_parse(cfg.log_level));
    optind = 1; /* the command's argv[0] is its name */
    int rc = cmd->run(&cfg, nargs - 1, args + 1);
    config_free(&cfg);
    free(args);
    return rc;
}
