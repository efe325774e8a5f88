"""Facts read from the repository itself, so that the deployment checks and
the AsyncAPI generator never keep their own lists: the Debian packages of
scripts/lib.sh, the settings of lib/core/config.c, topics of lib/store/topics.[ch],
worker roles, command routes, executables and pkg-config modules of CMake.

Every parser fails loudly (RepoFactError) when it finds nothing: a parser
that silently returns an empty list would make every check pass.
"""
import functools
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RepoFactError(Exception):
    pass


def clear_caches():
    """Forget what was read: call after changing ROOT."""
    for f in list(globals().values()):
        if hasattr(f, "cache_clear"):
            f.cache_clear()


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def _need(value, what):
    if not value:
        raise RepoFactError("could not read %s from the repository" % what)
    return value


# ---- scripts/lib.sh -------------------------------------------------------

def psop_packages():
    """The PSOP_PACKAGES=( ... ) array of scripts/lib.sh."""
    m = re.search(r"^PSOP_PACKAGES=\((.*?)^\)", read("scripts/lib.sh"), re.S | re.M)
    _need(m, "PSOP_PACKAGES in scripts/lib.sh")
    body = re.sub(r"#[^\n]*", "", m.group(1))
    return _need(body.split(), "PSOP_PACKAGES entries")


def build_type():
    """CMAKE_BUILD_TYPE that build_project() configures with."""
    m = re.search(r"^build_project\(\).*?-DCMAKE_BUILD_TYPE=(\w+)", read("scripts/lib.sh"), re.S | re.M)
    return _need(m, "build_project's CMAKE_BUILD_TYPE").group(1)


def kafka_version():
    m = re.search(r"KAFKA_VERSION=\$\{KAFKA_VERSION:-([0-9.]+)\}", read("scripts/lib.sh"))
    return _need(m, "KAFKA_VERSION").group(1)


def pg_major():
    m = re.search(r"PG_BIN=\$\{PG_BIN:-/usr/lib/postgresql/(\d+)/bin\}", read("scripts/lib.sh"))
    return _need(m, "PG_BIN's PostgreSQL major").group(1)


def dev_haproxy_lines():
    """The lines of the HAProxy configuration scripts/dev writes that do not
    depend on ports or addresses (no $ in them, no server/bind lines)."""
    m = re.search(r"cat <<CFG\n(.*?)\nCFG\n", read("scripts/dev"), re.S)
    _need(m, "the haproxy.cfg heredoc of scripts/dev")
    out = []
    for line in m.group(1).splitlines():
        s = " ".join(line.split())
        if not s or "$" in s or s.startswith("bind ") or s.startswith("server "):
            continue
        out.append(s)
    return _need(out, "haproxy settings in scripts/dev")


# ---- lib/core/config.c and getenv ------------------------------------------------

@functools.lru_cache(maxsize=None)
def config_keys():
    """Keys of the config table; each is read from PSOP_<KEY upper-cased>."""
    keys = re.findall(r"^\s*E\((\w+),\s*CFG_", read("lib/core/config.c"), re.M)
    return _need(keys, "the config table of lib/core/config.c")


@functools.lru_cache(maxsize=None)
def config_defaults():
    return dict(re.findall(r'^\s*E\((\w+),\s*CFG_\w+,\s*"([^"]*)"', read("lib/core/config.c"), re.M))


@functools.lru_cache(maxsize=None)
def psop_env_names():
    """Every PSOP_* variable some program reads: the config table, plus direct
    getenv("PSOP_...") calls in lib/, api/, workers/, tools/."""
    names = {"PSOP_" + k.upper() for k in config_keys()}  # noqa: cached per process
    for d in ("lib", "api", "workers", "tools"):
        for path in glob.glob(os.path.join(ROOT, d, "*.c")):
            with open(path, encoding="utf-8") as f:
                names.update(re.findall(r'getenv\("(PSOP_[A-Z0-9_]+)"\)', f.read()))
    return names


KAFKA_PASSTHROUGH = re.compile(r"^PSOP_KAFKA__[A-Z0-9_]+$")


def env_name_is_read(name):
    """True when a program reads this PSOP_* variable (table, getenv, or the
    kafka.* passthrough PSOP_KAFKA__X_Y -> x.y)."""
    return name in psop_env_names() or bool(KAFKA_PASSTHROUGH.match(name))


# ---- topics, roles, routes ---------------------------------------------------

@functools.lru_cache(maxsize=None)
def topic_macros():
    """{macro: topic name} from lib/store/topics.h."""
    d = dict(re.findall(r'^#define (TOPIC_\w+) "([^"]+)"', read("lib/store/topics.h"), re.M))
    return _need(d, "topic macros in lib/store/topics.h")


@functools.lru_cache(maxsize=None)
def topics():
    """[(name, kind, aggregate)] of psop_topics[] in lib/store/topics.c."""
    macros = topic_macros()
    out = []
    for macro, kind, agg in re.findall(r"\{(TOPIC_\w+),\s*TOPIC_KIND_(\w+),\s*(\"\w+\"|NULL)", read("lib/store/topics.c")):
        if macro not in macros:
            raise RepoFactError("lib/store/topics.c uses %s, which lib/store/topics.h does not define" % macro)
        out.append((macros[macro], kind.lower(), None if agg == "NULL" else agg.strip('"')))
    return _need(out, "psop_topics[] in lib/store/topics.c")


def dlq_partitions():
    m = re.search(r"#define TOPIC_DLQ_PARTITIONS (\d+)", read("lib/store/topics.h"))
    return int(_need(m, "TOPIC_DLQ_PARTITIONS").group(1))


@functools.lru_cache(maxsize=None)
def worker_roles():
    """Roles psop-worker accepts: roles[] of workers/worker.c, plus the ones
    workers/main.c compares cfg.worker_role with (relay)."""
    src = read("workers/worker.c")
    m = re.search(r"struct worker_role roles\[\] = \{(.*?)\};", src, re.S)
    _need(m, "roles[] in workers/worker.c")
    roles = re.findall(r'\{"(\w+)",\s*TOPIC_', m.group(1))
    roles += re.findall(r'strcmp\(cfg\.worker_role, "(\w+)"\)', read("workers/main.c"))
    return _need(roles, "worker roles")


@functools.lru_cache(maxsize=None)
def command_routes():
    """{command type: {"topics": set of topic names, "keys": set of key fields}}
    from the CMD rows of api/routes.c (SERVICE_EVENT_ROUTES expanded)."""
    src = read("api/routes.c").replace("\\\n", " ")
    macros = topic_macros()
    cmd_re = re.compile(r'CMD\(\s*"[A-Z]+",\s*[^,]*?,\s*"([a-z_]+\.[a-z_]+)",\s*[^,]+?,\s*(\w+),\s*("\w+"|pid)')
    # SERVICE_EVENT_ROUTES(parent, pid, topic) invocations give (pid, topic).
    se_calls = re.findall(r'SERVICE_EVENT_ROUTES\("[^"]*",\s*"(\w+)",\s*(TOPIC_\w+)\)', src)
    out = {}
    for ctype, topic, key in cmd_re.findall(src):
        if topic == "topic":
            pairs = [(macros[t], k) for k, t in se_calls]
        else:
            if topic not in macros:
                raise RepoFactError("api/routes.c: %s uses unknown topic %s" % (ctype, topic))
            pairs = [(macros[topic], key.strip('"'))]
        e = out.setdefault(ctype, {"topics": set(), "keys": set()})
        for t, k in pairs:
            e["topics"].add(t)
            e["keys"].add(k)
    return _need(out, "command routes in api/routes.c")


def plain_routes():
    return _need(re.findall(r'PLAIN\("GET",\s*"(/[a-z]+)"', read("api/routes.c")), "fixed GET routes")


# ---- schemas -----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def event_types():
    """Event types with a schema (schemas/events/<type>.json, not the envelope)."""
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "schemas/events/*.json")))
    return _need([n for n in names if n != "cloudevent"], "schemas/events/*.json")


@functools.lru_cache(maxsize=None)
def command_types():
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "schemas/commands/*.json")))
    return _need(names, "schemas/commands/*.json")


def schema(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def published_events():
    """{event type: set of topics} from the outbox_add() calls of workers/*.c
    (string literals and TOPIC_EVT_* macros inside each call). Calls whose
    topic is computed (command.rejected: the role's events topic) give no
    topic and are left to the schema's description."""
    macros = topic_macros()
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "workers", "*.c"))):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        for m in re.finditer(r"\boutbox_add\(", src):
            if src[:m.start()].rstrip().endswith("void"):
                continue  # the definition
            call = src[m.end():src.find(";", m.end())]
            types = re.findall(r'"([a-z_]+\.[a-z_]+)"', call)
            tops = {macros[t] for t in re.findall(r"\b(TOPIC_EVT_\w+)\b", call) if t in macros}
            if types:
                for t in types[:2] if "?" in call else types[:1]:
                    out.setdefault(t, set()).update(tops)
    return _need(out, "outbox_add calls in workers/")


def event_topics(etype, all_event_topics):
    """The events topics an event type is published on, as its schema's
    description says ("<type> on psop.events.X ..."; command.rejected goes to
    the topic of the command's family, i.e. all of them)."""
    published = published_events().get(etype, set())
    if not os.path.exists(os.path.join(ROOT, "schemas/events/%s.json" % etype)):
        if not published:
            raise RepoFactError("event %s is published on no topic this parser can see" % etype)
        return [t for t in all_event_topics if t in published]
    desc = schema("schemas/events/%s.json" % etype).get("description", "")
    named = [t for t in re.findall(r"psop\.events\.[a-z_]+", desc) if t in all_event_topics]
    named += [t for t in all_event_topics if t in published and t not in named]
    if etype == "command.rejected" or "events topic of the command's family" in desc:
        return list(all_event_topics)
    if not named:
        raise RepoFactError("schemas/events/%s.json: its description names no psop.events.* topic" % etype)
    return sorted(set(named), key=named.index)


# ---- CMake -------------------------------------------------------------------

def executables():
    """{name: build-dir-relative path} of the programs (add_executable in
    api/, workers/, tools/ whose sources are not under tests/)."""
    out = {}
    for d in ("api", "workers", "tools"):
        path = os.path.join(ROOT, d, "CMakeLists.txt")
        if not os.path.exists(path):
            continue
        for name, srcs in re.findall(r"add_executable\(([\w-]+)\s+([^)]*)\)", read(d + "/CMakeLists.txt")):
            if "tests/" in srcs:
                continue
            out[name] = "%s/%s" % (d, name)
    return _need(out, "add_executable in api/workers/tools")


def cmake_subdirs():
    m = re.search(r"foreach\(sub ([\w ]+)\)", read("CMakeLists.txt"))
    return _need(m, "the foreach(sub ...) of CMakeLists.txt").group(1).split()


def required_pkg_modules():
    """pkg-config modules CMakeLists.txt REQUIRES."""
    mods = re.findall(r"pkg_check_modules\(\w+\s+REQUIRED\s+IMPORTED_TARGET\s+([\w.+-]+)\)", read("CMakeLists.txt"))
    return _need(mods, "pkg_check_modules REQUIRED in CMakeLists.txt")
