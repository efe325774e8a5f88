#!/usr/bin/env python3
"""Static checks of the deployment files (docs/deployment.md, "What is checked").

No container engine runs on the development machines, so nothing in docker/
is ever built or started here. This script checks what can be checked
without one, against facts read from the repository (tests/deploy/repo_facts.py)
and from this Debian machine's package database:

  Dockerfile  packages = scripts/lib.sh's PSOP_PACKAGES (or their runtime
              dependencies); every pkg-config module CMake requires is
              installed in the build stage; every shared library the built
              binaries link is installed in their runtime image; the cmake
              steps are build_project's; every program is in an image; non-root
              users; HEALTHCHECK on a route the api has, on the port it listens on.
  compose     parses; images, build targets, ports, files, depends_on
              conditions and healthchecks exist; kafka/postgres/redis/haproxy
              versions match the ones scripts/ run; every worker role twice
              with distinct instance ids; every PSOP_* variable is read by a
              program; every ${VAR} is documented in docker/.env.example;
              haproxy.cfg keeps scripts/dev's settings and passes haproxy -c.
  k8s         parses; kustomization resources exist; readiness /readyz,
              maxUnavailable 0, a PDB per workload, a StatefulSet per worker
              role with its pod name as instance id, CronJob, migrate Job;
              ConfigMap/Secret references resolve; PSOP_* variables are read.
  AsyncAPI    docs/asyncapi.yaml is 3.0.0, current (scripts/gen-asyncapi
              --check), every internal $ref and every payload $ref resolves to
              an existing schema file, every topic and every schema is covered.

  --self-test also copies the repository to a temporary directory, makes one
  drift at a time (a package removed, a variable misspelt, a role dropped, ...)
  and requires this script to fail on each: the checks are not vacuous.

Exit status 0 when everything holds; 1 with one line per problem otherwise.
"""
import functools
import glob
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import repo_facts as rf  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("check_deploy: python3-yaml is missing (it is in PSOP_PACKAGES)")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ROOT = os.environ.get("PSOP_DEPLOY_ROOT") or rf.ROOT
rf.ROOT = ROOT
BUILD = os.path.abspath(os.environ.get("PSOP_BUILD") or os.path.join(ROOT, "build"))
PSOP_IMAGE = re.compile(r"^psop/([\w-]+)(?::.*)?$")

problems = []


def fail(area, msg):
    problems.append("%s: %s" % (area, msg))


def p(rel):
    return os.path.join(ROOT, rel)


# ---- Debian package database ---------------------------------------------------

def sh(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout


_deps_cache = {}
_owner_cache = {}


def prime_deps(pkgs):
    """Reads the Depends of many installed packages with one dpkg-query."""
    out = sh(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n"] + list(pkgs))
    for line in out.splitlines():
        name, _, deps = line.partition("\t")
        names = set()
        for item in deps.split(","):
            for alt in item.split("|"):
                alt = alt.strip()
                if alt:
                    names.add(re.split(r"[\s(:]", alt, 1)[0])
        _deps_cache[name] = names


def runtime_deps(pkg):
    """Direct Depends/Pre-Depends of an installed package (names only)."""
    if pkg not in _deps_cache:
        prime_deps([pkg])
    return _deps_cache.get(pkg, set())


def installed_version(pkg):
    return sh(["dpkg-query", "-W", "-f=${Version}", pkg]).strip()


def owner_packages(paths):
    """{path: package} for files dpkg knows, with one dpkg -S per batch."""
    todo = [x for x in paths if x not in _owner_cache]
    if todo:
        real = {x: os.path.realpath(x) for x in todo}
        out = sh(["dpkg", "-S"] + sorted(set(todo) | set(real.values())))
        found = {}
        for line in out.splitlines():
            m = re.match(r"^([\w.+-]+)(?::\w+)?: (.+)$", line)
            if m:
                found[m.group(2)] = m.group(1)
        for x in todo:
            _owner_cache[x] = found.get(x) or found.get(real[x])
    return {x: _owner_cache[x] for x in paths}


def owner_package(path):
    return owner_packages([path])[path]


@functools.lru_cache(maxsize=None)
def needed_packages(binary):
    """Packages owning the shared libraries the binary links directly."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", sh(["readelf", "-d", binary]))
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", sh(["ldd", binary]), re.M))
    owners = owner_packages([paths[lib] for lib in needed if lib in paths])
    return {lib: owners.get(paths.get(lib)) if lib in paths else None for lib in needed}


def pc_file_packages(modules):
    """{module: package owning its .pc file} with one dpkg -S."""
    dirs = ["/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig",
            "/usr/lib/pkgconfig", "/usr/share/pkgconfig"] + glob.glob("/usr/lib/*/pkgconfig")
    files = {}
    for m in modules:
        for d in dirs:
            f = os.path.join(d, m + ".pc")
            if os.path.exists(f):
                files[m] = f
                break
    owners = owner_packages(list(files.values()))
    return {m: owners.get(files[m]) if m in files else None for m in modules}


def pc_file_package(module):
    for d in ("/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig",
              "/usr/lib/pkgconfig", "/usr/share/pkgconfig"):
        f = os.path.join(d, module + ".pc")
        if os.path.exists(f):
            return owner_package(f)
    for d in glob.glob("/usr/lib/*/pkgconfig"):
        f = os.path.join(d, module + ".pc")
        if os.path.exists(f):
            return owner_package(f)
    return None


def os_codename():
    with open("/etc/os-release", encoding="utf-8") as f:
        m = re.search(r"^VERSION_CODENAME=(\w+)", f.read(), re.M)
    return m.group(1) if m else None


# ---- Dockerfile ----------------------------------------------------------------

def parse_dockerfile(text):
    """[{name, base, instrs: [(KEYWORD, args)]}] per stage."""
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    stages = []
    for line in lines:
        kw, _, args = line.partition(" ")
        kw = kw.upper()
        if kw == "FROM":
            m = re.match(r"^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$", args.strip(), re.I)
            stages.append({"name": m.group(2) if m else None, "base": m.group(1) if m else args, "instrs": []})
        elif stages:
            stages[-1]["instrs"].append((kw, args.strip()))
    return stages


def apt_packages(run_args):
    pkgs = []
    for seg in run_args.split("&&"):
        toks = shlex.split(seg)
        if "apt-get" in toks and "install" in toks:
            for t in toks[toks.index("install") + 1:]:
                if not t.startswith("-"):
                    pkgs.append(t)
    return pkgs


def stage_chain(stages, stage):
    by_name = {s["name"]: s for s in stages if s["name"]}
    chain, cur = [], stage
    while cur is not None:
        chain.append(cur)
        cur = by_name.get(cur["base"])
    return chain


def stage_env(chain):
    env = {}
    for st in reversed(chain):
        for kw, args in st["instrs"]:
            if kw == "ENV":
                for tok in shlex.split(args):
                    if "=" in tok:
                        k, v = tok.split("=", 1)
                        env[k] = v
    return env


def check_dockerfile():
    area = "docker/Dockerfile"
    try:
        with open(p("docker/Dockerfile"), encoding="utf-8") as f:
            stages = parse_dockerfile(f.read())
    except FileNotFoundError:
        fail(area, "missing")
        return {}
    if not stages:
        fail(area, "no FROM")
        return {}
    names = {s["name"] for s in stages if s["name"]}
    pkgs_all = set(rf.psop_packages())
    allowed = set(pkgs_all)
    prime_deps(pkgs_all)
    for pk in pkgs_all:
        allowed |= runtime_deps(pk)
    codename = os_codename()

    build_stage = None
    for st in stages:
        base = st["base"]
        if base not in names:
            if not re.match(r"^debian:%s-slim$" % re.escape(codename or "?"), base):
                fail(area, "stage %s is FROM %s, not debian:%s-slim (the release scripts/ run on)" % (st["name"], base, codename))
        for kw, args in st["instrs"]:
            if kw == "RUN":
                for pk in apt_packages(args):
                    if pk not in allowed:
                        fail(area, "stage %s installs %s, which is neither in PSOP_PACKAGES (scripts/lib.sh) nor a dependency of one" % (st["name"], pk))
                if "cmake" in args and "-S" in args:
                    build_stage = st
    check_copy_sources(area, stages)
    if build_stage is None:
        fail(area, "no stage runs cmake")
        return {"stages": stages}

    bpk = set()
    for st in stage_chain(stages, build_stage):
        for kw, args in st["instrs"]:
            if kw == "RUN":
                bpk.update(apt_packages(args))
    for tool in ("build-essential", "cmake", "pkg-config"):
        if tool in pkgs_all and tool not in bpk:
            fail(area, "build stage does not install %s (PSOP_PACKAGES has it for the build)" % tool)
    pc_owners = pc_file_packages(rf.required_pkg_modules())
    for mod in rf.required_pkg_modules():
        owner = pc_owners[mod]
        if owner is None:
            fail(area, "pkg-config module %s (required by CMakeLists.txt) is not installed here: cannot check" % mod)
        elif owner not in bpk:
            fail(area, "CMakeLists.txt requires pkg-config module %s (package %s), the build stage does not install it" % (mod, owner))
    runs = " ".join(a for k, a in build_stage["instrs"] if k == "RUN")
    bt = rf.build_type()
    if "-DCMAKE_BUILD_TYPE=%s" % bt not in runs:
        fail(area, "the build stage does not configure with -DCMAKE_BUILD_TYPE=%s as build_project() in scripts/lib.sh" % bt)
    if "cmake --build" not in runs:
        fail(area, "the build stage never runs cmake --build")
    m = re.search(r"-B\s+(\S+)", runs)
    builddir = m.group(1) if m else None
    copied = set()
    for kw, args in build_stage["instrs"]:
        if kw == "COPY":
            toks = [t for t in shlex.split(args) if not t.startswith("--")]
            copied.update(t.rstrip("/") for t in toks[:-1])
    for d in ["CMakeLists.txt", "lib", "schemas"] + [d for d in rf.cmake_subdirs() if os.path.exists(p(d + "/CMakeLists.txt"))]:
        if d not in copied:
            fail(area, "the build stage does not COPY %s, which the CMake build needs" % d)

    exes = rf.executables()
    placed = {}
    for st in stages:
        if st is build_stage:
            continue
        for kw, args in st["instrs"]:
            if kw == "COPY" and "--from=%s" % build_stage["name"] in args:
                toks = [t for t in shlex.split(args) if not t.startswith("--")]
                for src in toks[:-1]:
                    for exe, rel in exes.items():
                        if builddir and src == "%s/%s" % (builddir, rel):
                            placed.setdefault(exe, []).append((st, toks[-1]))
    for exe in exes:
        if exe not in placed:
            fail(area, "program %s (add_executable) is in no image" % exe)
        elif not re.search(r"--target\b[^&]*\b%s\b" % re.escape(exe), runs):
            fail(area, "program %s is copied but not among the cmake --build --target list" % exe)

    routes = rf.plain_routes()
    for exe, where in placed.items():
        for st, dest in where:
            chain = stage_chain(stages, st)
            installed = set()
            for s2 in chain:
                for kw, args in s2["instrs"]:
                    if kw == "RUN":
                        installed.update(apt_packages(args))
            binary = os.path.join(BUILD, exes[exe])
            if not os.path.exists(binary):
                fail(area, "%s is not built (%s): build first (scripts/test does)" % (exe, binary))
            else:
                for lib, pkg in needed_packages(binary).items():
                    if pkg is None:
                        fail(area, "%s links %s, which no installed package owns" % (exe, lib))
                    elif pkg != "libc6" and pkg not in installed:
                        fail(area, "%s links %s (package %s), stage %s does not install it" % (exe, lib, pkg, st["name"]))
            users = [a for s2 in reversed(chain) for k, a in s2["instrs"] if k == "USER"]
            if not users or users[-1].split(":")[0] in ("0", "root"):
                fail(area, "stage %s (with %s) does not run as a non-root USER" % (st["name"], exe))
            env = stage_env(chain)
            for k in env:
                if k.startswith("PSOP_") and not rf.env_name_is_read(k):
                    fail(area, "stage %s sets %s, which no program reads" % (st["name"], k))
            hcs = [a for k, a in st["instrs"] if k == "HEALTHCHECK"]
            if exe == "psop-api":
                if not hcs:
                    fail(area, "stage %s (psop-api) has no HEALTHCHECK" % st["name"])
                for hc in hcs:
                    m = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)", hc)
                    if not m:
                        fail(area, "stage %s: HEALTHCHECK does not probe http://127.0.0.1:PORT/PATH" % st["name"])
                        continue
                    if m.group(1) != env.get("PSOP_API_PORT"):
                        fail(area, "stage %s: HEALTHCHECK port %s is not PSOP_API_PORT (%s)" % (st["name"], m.group(1), env.get("PSOP_API_PORT")))
                    if m.group(2) not in routes:
                        fail(area, "stage %s: HEALTHCHECK path %s is not a route of api/routes.c" % (st["name"], m.group(2)))
                if env.get("PSOP_API_LISTEN_ADDR") not in ("0.0.0.0", "::"):
                    fail(area, "stage %s: psop-api must listen on 0.0.0.0 in a container (PSOP_API_LISTEN_ADDR)" % st["name"])
                if "curl" in " ".join(hcs) and "curl" not in installed:
                    fail(area, "stage %s: HEALTHCHECK uses curl, which the stage does not install" % st["name"])
            elif exe == "psop-worker":
                # liveness by heartbeat file: the worker must write it and know --check-alive
                if not any("--check-alive" in hc for hc in hcs):
                    fail(area, "stage %s (psop-worker) has no HEALTHCHECK running psop-worker --check-alive" % st["name"])
                if "--check-alive" not in rf.read("workers/main.c"):
                    fail(area, "stage %s: psop-worker has no --check-alive (workers/main.c)" % st["name"])
                if not env.get("PSOP_WORKER_HEARTBEAT_FILE"):
                    fail(area, "stage %s: PSOP_WORKER_HEARTBEAT_FILE is not set, so --check-alive always fails" % st["name"])
            elif hcs:
                fail(area, "stage %s: %s has no health endpoint, yet the stage has a HEALTHCHECK" % (st["name"], exe))
            for var, what in (("PSOP_SCHEMAS_DIR", "schemas"), ("PSOP_OPENAPI_FILE", "docs/openapi.yaml")):
                dest = env.get(var)
                ok = dest and any(k == "COPY" and shlex.split(a)[-1].rstrip("/") == dest.rstrip("/")
                                  for s2 in chain for k, a in s2["instrs"])
                if not ok:
                    fail(area, "stage %s: %s (%s) is not where the image puts %s" % (st["name"], var, dest, what))
            for k, a in st["instrs"]:
                if k == "ENTRYPOINT":
                    try:
                        ep = json.loads(a)[0]
                    except (ValueError, IndexError):
                        fail(area, "stage %s: ENTRYPOINT is not in exec (JSON) form" % st["name"])
                        continue
                    dests = [shlex.split(a2)[-1] for s2 in chain for k2, a2 in s2["instrs"] if k2 == "COPY"]
                    if ep not in dests:
                        fail(area, "stage %s: ENTRYPOINT %s is not a file the stage copies" % (st["name"], ep))
    return {"stages": stages, "targets": names, "healthy_targets": {
        st["name"] for st in stages if any(k == "HEALTHCHECK" for k, _ in st["instrs"])}}


def dockerignore_excludes(rel):
    """True when .dockerignore keeps rel out of the build context (the
    allow-list form: '*' then '!path' lines; later lines win)."""
    try:
        with open(p(".dockerignore"), encoding="utf-8") as f:
            rules = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    except OSError:
        return False
    excluded = False
    rel = rel.strip("/")
    for r in rules:
        neg = r.startswith("!")
        pat = r[1:] if neg else r
        pat = pat.strip("/")
        if pat == "*" or rel == pat or rel.startswith(pat + "/") or pat.startswith(rel + "/"):
            excluded = not neg
    return excluded


def check_copy_sources(area, stages):
    for st in stages:
        for kw, args in st["instrs"]:
            if kw != "COPY":
                continue
            toks = shlex.split(args)
            if any(t.startswith("--from=") for t in toks):
                continue
            for src in [t for t in toks if not t.startswith("--")][:-1]:
                if not os.path.exists(p(src)):
                    fail(area, "COPY %s: no such file in the build context (repository root)" % src)
                elif dockerignore_excludes(src):
                    fail(area, "COPY %s: .dockerignore keeps it out of the build context" % src)


def check_infra_dockerfiles():
    """docker/<part>/Dockerfile: the infrastructure images (Kafka, PostgreSQL,
    Redis, HAProxy), FROM the same Debian base with Debian packages only.
    Returns {part: {"stages", "packages", "healthcheck", "args", "dir"}}."""
    out = {}
    pkgs_all = set(rf.psop_packages())
    allowed = set(pkgs_all)
    prime_deps(pkgs_all)
    for pk in pkgs_all:
        allowed |= runtime_deps(pk)
    codename = os_codename()
    for path in sorted(glob.glob(p("docker/*/Dockerfile"))):
        part = os.path.basename(os.path.dirname(path))
        area = "docker/%s/Dockerfile" % part
        with open(path, encoding="utf-8") as f:
            stages = parse_dockerfile(f.read())
        if not stages:
            fail(area, "no FROM")
            continue
        names = {s["name"] for s in stages if s["name"]}
        pk_final, args = set(), {}
        for st in stages:
            if st["base"] not in names and st["base"] != "debian:%s-slim" % codename:
                fail(area, "stage %s is FROM %s, not debian:%s-slim (the only base image)" % (st["name"], st["base"], codename))
            for kw, a in st["instrs"]:
                if kw == "RUN":
                    for pk in apt_packages(a):
                        if pk not in allowed:
                            fail(area, "installs %s, which is neither in PSOP_PACKAGES (scripts/lib.sh) nor a dependency of one" % pk)
                if kw == "ARG" and "=" in a:
                    k, v = a.split("=", 1)
                    args[k.strip()] = v.strip()
        final = stages[-1]
        chain = stage_chain(stages, final)
        for st in chain:
            for kw, a in st["instrs"]:
                if kw == "RUN":
                    pk_final.update(apt_packages(a))
        users = [a for st in reversed(chain) for k, a in st["instrs"] if k == "USER"]
        if not users or users[-1].split(":")[0] in ("0", "root"):
            fail(area, "the image does not run as a non-root USER")
        check_copy_sources(area, stages)
        for st in chain:
            for kw, a in st["instrs"]:
                if kw == "ENTRYPOINT":
                    try:
                        json.loads(a)
                    except ValueError:
                        fail(area, "ENTRYPOINT is not in exec (JSON) form")
        out[part] = {"stages": stages, "packages": pk_final, "args": args,
                     "healthcheck": any(k == "HEALTHCHECK" for st in chain for k, _ in st["instrs"]),
                     "dir": os.path.dirname(path)}
    for part, pkg in (("kafka", "openjdk-17-jre-headless"), ("postgres", "postgresql-%s" % rf.pg_major()),
                      ("redis", "redis-server"), ("haproxy", "haproxy")):
        if part not in out:
            fail("docker/%s/Dockerfile" % part, "missing (every part of the system has its image)")
        elif pkg not in out[part]["packages"]:
            fail("docker/%s/Dockerfile" % part, "does not install %s (what scripts/ run)" % pkg)
    if "kafka" in out and out["kafka"]["args"].get("KAFKA_VERSION") != rf.kafka_version():
        fail("docker/kafka/Dockerfile", "ARG KAFKA_VERSION=%s, scripts/lib.sh runs %s"
             % (out["kafka"]["args"].get("KAFKA_VERSION"), rf.kafka_version()))
    for part in ("kafka", "postgres", "redis"):
        if part in out and not out[part]["healthcheck"]:
            fail("docker/%s/Dockerfile" % part, "no HEALTHCHECK (compose waits for it to be healthy)")
    return out


# ---- compose -------------------------------------------------------------------

def image_matches(area, svc, image, expect_repo, expect_tag_re, what):
    m = re.match(r"^([\w./-]+):([\w.-]+)$", image or "")
    if not m or m.group(1) != expect_repo or not re.match(expect_tag_re, m.group(2)):
        fail(area, "service %s: image %s, expected %s:%s (%s)" % (svc, image, expect_repo, expect_tag_re.strip("^$"), what))


def check_compose(df, infra):
    area = "docker/compose.yml"
    try:
        with open(p("docker/compose.yml"), encoding="utf-8") as f:
            raw = f.read()
        doc = yaml.load(raw, Loader=LOADER)
    except (OSError, yaml.YAMLError) as e:
        fail(area, "does not parse: %s" % e)
        return
    services = doc.get("services") or {}
    if not services:
        fail(area, "no services")
        return
    # ${VAR} interpolation: every variable documented in .env.example
    try:
        with open(p("docker/.env.example"), encoding="utf-8") as f:
            env_example = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", f.read(), re.M))
    except OSError:
        env_example = {}
        fail(area, "docker/.env.example is missing")
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", raw))
    for v in sorted(used - set(env_example)):
        fail(area, "${%s} is not documented in docker/.env.example" % v)
    for v in sorted(set(env_example) - used):
        if not v.startswith("COMPOSE_"):  # compose's own settings (project name)
            fail("docker/.env.example", "%s is not used by docker/compose.yml" % v)
    if re.search(r"^name:", raw, re.M):
        fail(area, "a top-level name: (docker-compose 1.29 rejects it; COMPOSE_PROJECT_NAME in .env.example)")
    for v in env_example:
        if v.startswith("PSOP_") and not rf.env_name_is_read(v):
            fail("docker/.env.example", "%s looks like a psop setting but no program reads it" % v)

    # variables the helper scripts of docker/ read
    script_vars = set()
    for sfile in glob.glob(p("docker/*.sh")):
        with open(sfile, encoding="utf-8") as f:
            script_vars |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)[:}-]", f.read()))

    targets = df.get("targets", set())
    healthy_targets = df.get("healthy_targets", set())
    roles = rf.worker_roles()
    role_ids = {}
    instance_ids = {}
    api_services = {}
    parts = {}  # service -> infrastructure image part (kafka, postgres, ...)
    psop_services = set()
    for name, svc in services.items():
        svc = svc or {}
        image = svc.get("image")
        build = svc.get("build")
        target = None
        is_psop = False
        if build:
            ctx = os.path.normpath(os.path.join(p("docker"), build.get("context", ".")))
            if ctx != os.path.normpath(ROOT):
                fail(area, "service %s: build context %s is not the repository root" % (name, ctx))
            dfile = os.path.realpath(os.path.join(ctx, build.get("dockerfile", "Dockerfile")))
            part = os.path.basename(os.path.dirname(dfile))
            if dfile == os.path.realpath(p("docker/Dockerfile")):
                is_psop = True
                target = build.get("target")
                if target not in targets:
                    fail(area, "service %s: build target %s is not a stage of docker/Dockerfile" % (name, target))
                m = PSOP_IMAGE.match(image or "")
                if not m or m.group(1) != target:
                    fail(area, "service %s: image %s should be psop/%s" % (name, image, target))
            elif part in infra and dfile == os.path.realpath(os.path.join(infra[part]["dir"], "Dockerfile")):
                parts[name] = part
                m = PSOP_IMAGE.match(image or "")
                if not m or m.group(1) != part:
                    fail(area, "service %s: image %s should be psop/%s" % (name, image, part))
            else:
                fail(area, "service %s builds %s, which is neither docker/Dockerfile nor docker/<part>/Dockerfile" % (name, dfile))
        else:
            fail(area, "service %s: image %s is not built from this repository (the only image a registry holds is the Debian base)" % (name, image))
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        part_text = ""
        if name in parts:
            for f2 in glob.glob(os.path.join(infra[parts[name]]["dir"], "*")):
                if os.path.isfile(f2):
                    with open(f2, encoding="utf-8", errors="replace") as fh:
                        part_text += fh.read()
        for k in env:
            if k.startswith("PSOP_"):
                if not rf.env_name_is_read(k):
                    fail(area, "service %s sets %s, which no program reads (lib/core/config.c, getenv)" % (name, k))
            elif is_psop and not re.match(r"^PG[A-Z]+$", k) and k not in script_vars:
                fail(area, "service %s sets %s, which neither psop, libpq nor docker/*.sh reads" % (name, k))
            elif name in parts and k not in part_text and not (parts[name] == "kafka" and k.startswith("KAFKA_")):
                fail(area, "service %s sets %s, which docker/%s/ never reads" % (name, k, parts[name]))
        if is_psop:
            psop_services.add(name)
        for port in svc.get("ports") or []:
            if parts.get(name) != "haproxy" and not str(port).startswith("127.0.0.1:"):
                fail(area, "service %s publishes %s beyond 127.0.0.1 (operators' ports stay on the host)" % (name, port))
        if target == "worker":
            role = str(env.get("PSOP_WORKER_ROLE", ""))
            inst = str(env.get("PSOP_WORKER_INSTANCE_ID", ""))
            if role not in roles:
                fail(area, "service %s: PSOP_WORKER_ROLE %r is not a role of psop-worker (%s)" % (name, role, ", ".join(roles)))
            if not inst:
                fail(area, "service %s: no PSOP_WORKER_INSTANCE_ID (static membership needs one per replica)" % name)
            elif inst in instance_ids:
                fail(area, "services %s and %s share PSOP_WORKER_INSTANCE_ID %s" % (instance_ids[inst], name, inst))
            instance_ids[inst] = name
            role_ids.setdefault(role, []).append(name)
            for k in ("PSOP_KAFKA_BROKERS", "PSOP_PG_DSN", "PSOP_REDIS_URL"):
                if k not in env:
                    fail(area, "service %s does not set %s" % (name, k))
        if target == "api":
            api_services[name] = env
        # infrastructure addresses point at services of this file
        kb = str(env.get("PSOP_KAFKA_BROKERS", ""))
        for hp in filter(None, kb.split(",")):
            host = hp.split(":")[0]
            if host not in services:
                fail(area, "service %s: PSOP_KAFKA_BROKERS host %s is not a service" % (name, host))
        dsn = str(env.get("PSOP_PG_DSN", ""))
        m = re.search(r"host=(\S+)", dsn)
        if dsn and (not m or m.group(1) not in services):
            fail(area, "service %s: PSOP_PG_DSN host is not a service" % name)
        ru = str(env.get("PSOP_REDIS_URL", ""))
        m = re.match(r"redis://(?:[^@]*@)?([\w.-]+)", ru)
        if ru and (not m or m.group(1) not in services):
            fail(area, "service %s: PSOP_REDIS_URL host is not a service" % name)
        # depends_on
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            if dep not in services:
                fail(area, "service %s depends on %s, which does not exist" % (name, dep))
                continue
            cond = (spec or {}).get("condition", "service_started")
            dsvc = services[dep] or {}
            dtarget = (dsvc.get("build") or {}).get("target")
            dpart = infra.get(parts.get(dep, ""), {})
            if cond == "service_healthy" and not dsvc.get("healthcheck") and dtarget not in healthy_targets \
                    and not dpart.get("healthcheck"):
                fail(area, "service %s waits for %s to be healthy, which has no healthcheck" % (name, dep))
            if cond == "service_completed_successfully" and str(dsvc.get("restart", "no")) != "no":
                fail(area, "service %s waits for %s to complete, which restarts" % (name, dep))
            if cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                fail(area, "service %s: unknown depends_on condition %s" % (name, cond))
        # bind mounts
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source")
            if src.startswith(".") or src.startswith("/"):
                if not os.path.exists(os.path.normpath(os.path.join(p("docker"), src))):
                    fail(area, "service %s mounts %s, which does not exist" % (name, src))
            elif src not in (doc.get("volumes") or {}):
                fail(area, "service %s uses volume %s, which is not declared" % (name, src))

    for role in roles:
        if len(role_ids.get(role, [])) < 2:
            fail(area, "worker role %s has %d replicas, expected 2" % (role, len(role_ids.get(role, []))))
    if len(api_services) < 2:
        fail(area, "%d api replicas, expected 2" % len(api_services))

    # ordering: every psop service waits (transitively) for the migrate job
    migrate = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "tools"
               and "migrate" in json.dumps(s.get("entrypoint") or s.get("command") or "")]
    if not migrate:
        fail(area, "no one-shot service runs psopctl migrate")
    else:
        mj = migrate[0]
        mdeps = services[mj].get("depends_on") or {}
        for dep in [n for n, pt in parts.items() if pt in ("kafka", "postgres")]:
            if (mdeps.get(dep) or {}).get("condition") != "service_healthy":
                fail(area, "%s must wait for %s to be healthy" % (mj, dep))
        mcmd = json.dumps(services[mj].get("entrypoint") or services[mj].get("command"))
        if "topics" not in mcmd:
            fail(area, "%s does not create the topics (psopctl topics)" % mj)
        m = re.search(r"topics --replication (\d+)", mcmd)
        nbrokers = sum(1 for pt in parts.values() if pt == "kafka")
        if not m or int(m.group(1)) != nbrokers:
            fail(area, "%s: psopctl topics --replication %s, but there are %d brokers" % (mj, m.group(1) if m else "?", nbrokers))

        def waits_for(n, seen=()):
            deps = services[n].get("depends_on") or {}
            if (deps.get(mj) or {}).get("condition") == "service_completed_successfully":
                return True
            return any(waits_for(d, seen + (n,)) for d in deps if d in services and d not in seen)
        for n, s in services.items():
            if n in psop_services and n != mj and not waits_for(n):
                fail(area, "service %s does not wait for %s to complete" % (n, mj))

    check_kafka_cluster(area, services, parts)
    check_haproxy(services, api_services, parts)


def kafka_env(svc):
    env = (svc or {}).get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def check_kafka_cluster(area, services, parts):
    """3 KRaft brokers+controllers that form one quorum, replication 3 with
    min.insync.replicas 2, each reachable inside (what the programs are told)
    and from the host (its external listener = its published port)."""
    brokers = sorted(n for n, pt in parts.items() if pt == "kafka")
    if len(brokers) < 3:
        fail(area, "%d Kafka brokers, expected 3 (replication 3, min.insync.replicas 2)" % len(brokers))
        if not brokers:
            return
    ids, internal = {}, []
    voters_seen = set()
    for b in brokers:
        env = kafka_env(services[b])
        roles = env.get("KAFKA_PROCESS_ROLES", "")
        if "broker" not in roles or "controller" not in roles:
            fail(area, "%s is not a KRaft broker+controller (KAFKA_PROCESS_ROLES)" % b)
        nid = env.get("KAFKA_NODE_ID")
        if not nid or nid in ids:
            fail(area, "%s: KAFKA_NODE_ID %s is missing or shared with %s" % (b, nid, ids.get(nid)))
        ids[nid] = b
        voters_seen.add(env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", ""))
        for key, want in (("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"), ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
                          ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
                          ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
                          ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2"),
                          ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")):
            if env.get(key, "").lower() != want:
                fail(area, "%s: %s is %r, expected %s" % (b, key, env.get(key), want))
        adv = dict(re.findall(r"(\w+)://([\w.${}:-]+:[\w${}:-]+)", env.get("KAFKA_ADVERTISED_LISTENERS", "")))
        inter = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "")
        if inter not in adv or not adv[inter].startswith(b + ":"):
            fail(area, "%s: the inter-broker listener %s is not advertised as %s:PORT" % (b, inter, b))
        else:
            internal.append(adv[inter])
        ext = [v for k, v in adv.items() if k != inter]
        published = [str(x) for x in services[b].get("ports") or []]
        for e in ext:
            hostport = e.split(":", 1)[1]
            if not e.startswith("127.0.0.1:") or not any(x.startswith("127.0.0.1:%s:" % hostport) for x in published):
                fail(area, "%s: external listener %s is not the port it publishes on 127.0.0.1 (%s)" % (b, e, published))
        if not ext:
            fail(area, "%s has no external listener for clients on the host" % b)
        vol = [v for v in services[b].get("volumes") or [] if isinstance(v, str) and v.endswith(":/var/lib/kafka/data")]
        if not vol:
            fail(area, "%s keeps its log in no volume (/var/lib/kafka/data)" % b)
    if len(voters_seen) != 1:
        fail(area, "the brokers disagree on KAFKA_CONTROLLER_QUORUM_VOTERS")
    else:
        voters = dict(v.split("@", 1) for v in voters_seen.pop().split(",") if "@" in v)
        want = {nid: "%s:" % b for nid, b in ids.items()}
        if set(voters) != set(want) or any(not voters[k].startswith(want[k]) for k in want):
            fail(area, "KAFKA_CONTROLLER_QUORUM_VOTERS %s is not every broker at its own address" % voters)
    for n, s2 in services.items():
        kb = str(((s2 or {}).get("environment") or {}).get("PSOP_KAFKA_BROKERS", ""))
        if kb and sorted(kb.split(",")) != sorted(internal):
            fail(area, "service %s: PSOP_KAFKA_BROKERS %s is not every broker's internal listener %s" % (n, kb, internal))


def check_haproxy(services, api_services, parts):
    area = "docker/haproxy.cfg"
    hp = [n for n, pt in parts.items() if pt == "haproxy"]
    if not hp:
        fail("docker/compose.yml", "no haproxy service")
        return
    svc = services[hp[0]]
    mounts = [v for v in svc.get("volumes") or [] if isinstance(v, str) and v.split(":")[0].endswith("haproxy.cfg")]
    if not mounts:
        fail("docker/compose.yml", "haproxy does not mount docker/haproxy.cfg")
        return
    cfgpath = os.path.normpath(os.path.join(p("docker"), mounts[0].split(":")[0]))
    try:
        with open(cfgpath, encoding="utf-8") as f:
            cfg = f.read()
    except OSError:
        fail(area, "missing")
        return
    norm = {" ".join(l.split()) for l in cfg.splitlines()}
    for line in rf.dev_haproxy_lines():
        if line not in norm:
            fail(area, "lacks '%s', which scripts/dev's HAProxy configuration has" % line)
    servers = re.findall(r"^\s*server\s+\S+\s+([\w.-]+):(\d+)", cfg, re.M)
    seen = set()
    for host, port in servers:
        if host not in api_services:
            fail(area, "server %s:%s is not an api service of compose.yml" % (host, port))
        elif str(api_services[host].get("PSOP_API_PORT")) != port:
            fail(area, "server %s:%s, but that service listens on %s" % (host, port, api_services[host].get("PSOP_API_PORT")))
        seen.add(host)
    for a in api_services:
        if a not in seen:
            fail(area, "api service %s is not a server of the backend" % a)
    if not re.search(r"^\s*stats socket \S+ .*level admin", cfg, re.M):
        fail(area, "no runtime API (stats socket ... level admin): the rollout cannot drain a replica")
    binds = re.findall(r"^\s*bind\s+\S*:(\d+)", cfg, re.M)
    published = [str(x).rsplit(":", 1)[-1] for x in svc.get("ports") or []]
    for port in published:
        if port not in binds:
            fail("docker/compose.yml", "haproxy publishes container port %s, haproxy.cfg binds %s" % (port, binds))
    if shutil.which("haproxy"):
        r = subprocess.run(["haproxy", "-c", "-f", cfgpath], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if r.returncode != 0:
            fail(area, "haproxy -c rejects it: %s" % r.stdout.strip().splitlines()[-1:])


# ---- Kubernetes ------------------------------------------------------------------

def pod_spec(doc):
    k = doc.get("kind")
    spec = doc.get("spec") or {}
    if k in ("Deployment", "StatefulSet", "Job"):
        return (spec.get("template") or {}).get("spec") or {}, ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if k == "CronJob":
        t = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return t.get("spec") or {}, (t.get("metadata") or {}).get("labels") or {}
    return None, None


def check_k8s(df):
    area = "docker/k8s"
    kdir = p("docker/k8s")
    try:
        with open(os.path.join(kdir, "kustomization.yaml"), encoding="utf-8") as f:
            kust = yaml.load(f, Loader=LOADER)
    except (OSError, yaml.YAMLError) as e:
        fail(area, "kustomization.yaml: %s" % e)
        return
    resources = kust.get("resources") or []
    patch_files = [pt.get("path") for pt in kust.get("patches") or [] if pt.get("path")]
    for pf in patch_files:
        if not os.path.exists(os.path.join(kdir, pf)):
            fail(area, "kustomization.yaml patches with %s, which does not exist" % pf)
    worker_patch = [pt for pt in kust.get("patches") or []
                    if (pt.get("target") or {}).get("labelSelector") == "app.kubernetes.io/component=worker"]
    if not any("--check-alive" in rf.read(os.path.join("docker/k8s", pt.get("path", "")))
               for pt in worker_patch if os.path.exists(os.path.join(kdir, pt.get("path", "")))):
        fail(area, "no kustomize patch gives the worker StatefulSets a psop-worker --check-alive liveness probe")
    docs = []
    for r in resources:
        path = os.path.join(kdir, r)
        if not os.path.exists(path):
            fail(area, "kustomization.yaml lists %s, which does not exist" % r)
            continue
        try:
            with open(path, encoding="utf-8") as f:
                docs += [(r, d) for d in yaml.load_all(f, Loader=LOADER) if d]
        except yaml.YAMLError as e:
            fail(area, "%s does not parse: %s" % (r, e))
    examples = []
    for path in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
        b = os.path.basename(path)
        if b == "kustomization.yaml" or b in resources or b in patch_files:
            continue
        if not b.endswith(".example.yaml"):
            fail(area, "%s is neither in kustomization.yaml nor an *.example.yaml" % b)
        try:
            with open(path, encoding="utf-8") as f:
                examples += [d for d in yaml.load_all(f, Loader=LOADER) if d]
        except yaml.YAMLError as e:
            fail(area, "%s does not parse: %s" % (b, e))
    for r, d in docs:
        if not d.get("apiVersion") or not d.get("kind") or not (d.get("metadata") or {}).get("name"):
            fail(area, "%s: a document without apiVersion, kind or metadata.name" % r)

    targets = df.get("targets", set())
    used_images = set()
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for _, d in docs if d.get("kind") == "ConfigMap"}
    secrets = {d["metadata"]["name"]: set((d.get("stringData") or {}).keys()) | set((d.get("data") or {}).keys())
               for d in examples + [d for _, d in docs] if d.get("kind") == "Secret"}
    for cm, data in configmaps.items():
        for k in data:
            if k.startswith("PSOP_") and not rf.env_name_is_read(k):
                fail(area, "ConfigMap %s sets %s, which no program reads" % (cm, k))
    services = [d for _, d in docs if d.get("kind") == "Service"]
    pdbs = [d for _, d in docs if d.get("kind") == "PodDisruptionBudget"]
    roles_seen = {}
    routes = rf.plain_routes()
    have = {"CronJob": 0, "Job": 0}
    for r, d in docs:
        kind, name = d.get("kind"), d["metadata"]["name"]
        spec, labels = pod_spec(d)
        if spec is None:
            continue
        where = "%s %s" % (kind, name)
        containers = spec.get("containers") or []
        if not containers:
            fail(area, "%s has no containers" % where)
        for c in containers:
            img = c.get("image", "")
            m = PSOP_IMAGE.match(img)
            if not m or m.group(1) not in targets:
                fail(area, "%s: image %s is not psop/<a target of docker/Dockerfile>" % (where, img))
                continue
            used_images.add("psop/" + m.group(1))
            target = m.group(1)
            env = {}
            for e in c.get("env") or []:
                env[e.get("name")] = e
                n = e.get("name", "")
                if n.startswith("PSOP_") and not rf.env_name_is_read(n):
                    fail(area, "%s sets %s, which no program reads" % (where, n))
                elif not n.startswith("PSOP_") and not re.match(r"^PG[A-Z]+$", n):
                    fail(area, "%s sets %s, which neither psop nor libpq reads" % (where, n))
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
                    fail(area, "%s: secret %s key %s is neither in the manifests nor in secret.example.yaml" % (where, ref.get("name"), ref.get("key")))
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("key") not in configmaps.get(ref.get("name"), {}):
                    fail(area, "%s: ConfigMap %s has no key %s" % (where, ref.get("name"), ref.get("key")))
            for ef in c.get("envFrom") or []:
                cmr = (ef.get("configMapRef") or {}).get("name")
                if cmr and cmr not in configmaps:
                    fail(area, "%s: envFrom ConfigMap %s does not exist" % (where, cmr))
            sc = c.get("securityContext") or {}
            if not sc.get("runAsNonRoot"):
                fail(area, "%s: container %s does not set runAsNonRoot" % (where, c.get("name")))
            if target == "api":
                if kind != "Deployment":
                    fail(area, "%s runs the api; expected a Deployment" % where)
                ports = {pt.get("name"): pt.get("containerPort") for pt in c.get("ports") or []}
                api_port = (env.get("PSOP_API_PORT") or {}).get("value") or configmaps.get("psop-config", {}).get("PSOP_API_PORT")
                for probe, path_expected in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                    hg = (c.get(probe) or {}).get("httpGet") or {}
                    if hg.get("path") != path_expected:
                        fail(area, "%s: %s is not httpGet %s" % (where, probe, path_expected))
                    if hg.get("path") and hg.get("path") not in routes:
                        fail(area, "%s: %s path %s is not a route of api/routes.c" % (where, probe, hg.get("path")))
                    port = ports.get(hg.get("port"), hg.get("port"))
                    if str(port) != str(api_port):
                        fail(area, "%s: %s port %s is not PSOP_API_PORT %s" % (where, probe, port, api_port))
                la = (env.get("PSOP_API_LISTEN_ADDR") or {}).get("value")
                if la not in ("0.0.0.0", "::"):
                    fail(area, "%s: PSOP_API_LISTEN_ADDR must be 0.0.0.0 in a pod" % where)
            if target == "worker":
                if kind != "StatefulSet":
                    fail(area, "%s runs a worker; expected a StatefulSet (stable group.instance.id)" % where)
                role = (env.get("PSOP_WORKER_ROLE") or {}).get("value")
                inst = ((env.get("PSOP_WORKER_INSTANCE_ID") or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                if inst != "metadata.name":
                    fail(area, "%s: PSOP_WORKER_INSTANCE_ID is not the pod name (fieldRef metadata.name)" % where)
                if role not in rf.worker_roles():
                    fail(area, "%s: PSOP_WORKER_ROLE %r is not a role of psop-worker" % (where, role))
                else:
                    roles_seen.setdefault(role, []).append(name)
                if (d["spec"].get("replicas") or 1) < 2:
                    fail(area, "%s: fewer than 2 replicas" % where)
                sn = d["spec"].get("serviceName")
                if sn not in [s["metadata"]["name"] for s in services]:
                    fail(area, "%s: serviceName %s is not a Service" % (where, sn))
            if target == "batch":
                have["CronJob"] += kind == "CronJob"
                if kind != "CronJob":
                    fail(area, "%s runs psop-batch; expected a CronJob" % where)
                elif not d["spec"].get("timeZone"):
                    fail(area, "%s: no timeZone (the batch runs at 02:15 Europe/Helsinki)" % where)
                if "PSOP_API_URL" not in env:
                    fail(area, "%s: psop-batch needs PSOP_API_URL" % where)
            if target == "tools" and kind == "Job":
                cmd = " ".join(c.get("command") or []) + " " + " ".join(c.get("args") or [])
                if "psopctl migrate" in cmd and "psopctl topics" in cmd:
                    have["Job"] += 1
        if kind in ("Deployment", "StatefulSet"):
            sel = ((d["spec"].get("selector") or {}).get("matchLabels") or {})
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                fail(area, "%s: selector does not match its pod labels" % where)
            if not any(all(labels.get(k) == v for k, v in ((pd.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items())
                       for pd in pdbs):
                fail(area, "%s has no PodDisruptionBudget" % where)
        if kind == "Deployment":
            ru = ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {})
            if ru.get("maxUnavailable") not in (0, "0", "0%"):
                fail(area, "%s: rolling update maxUnavailable is not 0" % where)
    for role in rf.worker_roles():
        if len(roles_seen.get(role, [])) != 1:
            fail(area, "worker role %s: %d StatefulSets, expected 1" % (role, len(roles_seen.get(role, []))))
    if not have["CronJob"]:
        fail(area, "no CronJob runs psop-batch")
    if not have["Job"]:
        fail(area, "no Job runs psopctl migrate and psopctl topics")
    pods = [pod_spec(d) for _, d in docs if pod_spec(d)[1] is not None]
    for s in services:
        sel = (s.get("spec") or {}).get("selector") or {}
        selected = [ps for ps, l in pods if all(l.get(k) == v for k, v in sel.items())]
        if not selected:
            fail(area, "Service %s selects no pods" % s["metadata"]["name"])
        cports = {(pt.get("name"), pt.get("containerPort")) for ps in selected
                  for c in ps.get("containers") or [] for pt in c.get("ports") or []}
        for sp in (s.get("spec") or {}).get("ports") or []:
            tp = sp.get("targetPort", sp.get("port"))
            if not any(tp in (n, cp) for n, cp in cports):
                fail(area, "Service %s: targetPort %s is no container port of its pods" % (s["metadata"]["name"], tp))
    check_k8s_kafka(area, examples, configmaps, docs)
    for r, d in docs:
        if d.get("kind") == "Deployment" and (d["spec"].get("replicas") or 1) < 2:
            fail(area, "Deployment %s: fewer than 2 replicas" % d["metadata"]["name"])
    for im in kust.get("images") or []:
        if im.get("name") not in used_images:
            fail(area, "kustomization.yaml sets the tag of %s, which no workload uses" % im.get("name"))


def check_k8s_kafka(area, examples, configmaps, docs):
    """The Kafka the manifests expect (kafka-strimzi.example.yaml): 3 KRaft
    nodes, replication 3, min.insync.replicas 2; the ConfigMap points at its
    bootstrap Service and the migrate Job creates topics with replication 3."""
    kafkas = [d for d in examples if d.get("kind") == "Kafka"]
    pools = [d for d in examples if d.get("kind") == "KafkaNodePool"]
    if len(kafkas) != 1:
        fail(area, "no Strimzi Kafka example (kafka-strimzi.example.yaml) with the cluster's shape")
        return
    k = kafkas[0]
    name = k["metadata"]["name"]
    mine = [pl for pl in pools if ((pl.get("metadata") or {}).get("labels") or {}).get("strimzi.io/cluster") == name]
    nodes = sum(int((pl.get("spec") or {}).get("replicas") or 0) for pl in mine)
    roles = {r for pl in mine for r in (pl.get("spec") or {}).get("roles") or []}
    if nodes < 3 or roles != {"broker", "controller"}:
        fail(area, "Kafka %s: %d KRaft nodes with roles %s, expected 3 brokers+controllers" % (name, nodes, sorted(roles)))
    cfg = ((k.get("spec") or {}).get("kafka") or {}).get("config") or {}
    for key, want in (("default.replication.factor", 3), ("min.insync.replicas", 2),
                      ("offsets.topic.replication.factor", 3), ("transaction.state.log.min.isr", 2),
                      ("auto.create.topics.enable", False)):
        if cfg.get(key) != want:
            fail(area, "Kafka %s: %s is %r, expected %r" % (name, key, cfg.get(key), want))
    plain = [lst for lst in ((k.get("spec") or {}).get("kafka") or {}).get("listeners") or [] if not lst.get("tls")]
    want = {"%s-kafka-bootstrap.kafka.svc:%s" % (name, lst.get("port")) for lst in plain}
    have = configmaps.get("psop-config", {}).get("PSOP_KAFKA_BROKERS")
    if have not in want:
        fail(area, "ConfigMap psop-config: PSOP_KAFKA_BROKERS %s is not the bootstrap Service of Kafka %s (%s)" % (have, name, sorted(want)))
    for _, d in docs:
        if d.get("kind") == "Job":
            spec, _ = pod_spec(d)
            for c in spec.get("containers") or []:
                cmd = " ".join(c.get("command") or []) + " " + " ".join(c.get("args") or [])
                m = re.search(r"topics --replication (\d+)", cmd)
                if "psopctl topics" in cmd and (not m or int(m.group(1)) != min(nodes, 3)):
                    fail(area, "Job %s: psopctl topics --replication %s, the cluster has %d nodes" % (d["metadata"]["name"], m.group(1) if m else "?", nodes))


# ---- AsyncAPI ----------------------------------------------------------------------

def json_pointer(doc, pointer):
    cur = doc
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def walk_refs(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield path, v
            else:
                yield from walk_refs(v, path + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_refs(v, "%s/%d" % (path, i))


def check_asyncapi():
    area = "docs/asyncapi.yaml"
    try:
        with open(p("docs/asyncapi.yaml"), encoding="utf-8") as f:
            doc = yaml.load(f, Loader=LOADER)
    except (OSError, yaml.YAMLError) as e:
        fail(area, "does not load: %s" % e)
        return
    if doc.get("asyncapi") != "3.0.0":
        fail(area, "asyncapi is %r, not 3.0.0" % doc.get("asyncapi"))
    info = doc.get("info") or {}
    if not info.get("title") or not info.get("version"):
        fail(area, "info.title and info.version are required")
    for sname, s in (doc.get("servers") or {}).items():
        if not s.get("host") or s.get("protocol") != "kafka":
            fail(area, "server %s needs host and protocol kafka" % sname)
    # every $ref resolves: internal ones in the document, file ones to a schema file
    for where, ref in walk_refs(doc):
        if ref.startswith("#"):
            if json_pointer(doc, ref[1:]) is None:
                fail(area, "%s: $ref %s does not resolve" % (where, ref))
        else:
            fpart, _, frag = ref.partition("#")
            path = os.path.normpath(os.path.join(p("docs"), fpart))
            if not os.path.isfile(path):
                fail(area, "%s: $ref %s: no such file" % (where, ref))
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    target = json.load(f)
            except ValueError as e:
                fail(area, "%s: $ref %s: not JSON: %s" % (where, ref, e))
                continue
            if frag and json_pointer(target, frag) is None:
                fail(area, "%s: $ref %s: no %s in the file" % (where, ref, frag))
    channels = doc.get("channels") or {}
    topics = rf.topics()
    by_address = {}
    for cid, ch in channels.items():
        if not ch.get("address"):
            fail(area, "channel %s has no address" % cid)
        by_address.setdefault(ch.get("address"), []).append(cid)
    for t, _, _ in topics:
        if len(by_address.get(t, [])) != 1:
            fail(area, "topic %s (lib/store/topics.c) has %d channels, expected 1" % (t, len(by_address.get(t, []))))
    for a in by_address:
        if a not in [t for t, _, _ in topics]:
            fail(area, "channel address %s is not a topic of lib/store/topics.c" % a)
    msgs = (doc.get("components") or {}).get("messages") or {}

    def payload_files(msg):
        return {os.path.normpath(os.path.join(p("docs"), r.partition("#")[0]))
                for _, r in walk_refs(msg.get("payload") or {}) if not r.startswith("#")}

    def channel_files(address):
        out = set()
        for cid in by_address.get(address, []):
            for mref in (channels[cid].get("messages") or {}).values():
                m = json_pointer(doc, mref.get("$ref", "#")[1:]) if isinstance(mref, dict) and "$ref" in mref else mref
                if isinstance(m, dict):
                    out |= payload_files(m)
        return out
    event_topics = [t for t, k, _ in topics if k == "events"]
    for e in rf.event_types():
        f = os.path.normpath(p("schemas/events/%s.json" % e))
        for t in rf.event_topics(e, event_topics):
            if f not in channel_files(t):
                fail(area, "event %s (schemas/events) is not a message of channel %s" % (e, t))
    for e, tops in sorted(rf.published_events().items()):
        for t in sorted(tops):
            names = set()
            for cid in by_address.get(t, []):
                names |= set((channels[cid].get("messages") or {}).keys())
            if e not in names:
                fail(area, "event %s (published by workers/) is not a message of channel %s" % (e, t))
    routes = rf.command_routes()
    for c in rf.command_types():
        f = os.path.normpath(p("schemas/commands/%s.json" % c))
        for t in sorted((routes.get(c) or {}).get("topics", [])):
            if f not in channel_files(t):
                fail(area, "command %s (schemas/commands) is not a message of channel %s" % (c, t))
    for name, m in msgs.items():
        pl = m.get("payload")
        if pl is None:
            fail(area, "message %s has no payload" % name)
    for oid, op in (doc.get("operations") or {}).items():
        if op.get("action") not in ("send", "receive"):
            fail(area, "operation %s: action must be send or receive" % oid)
        chref = (op.get("channel") or {}).get("$ref", "")
        if not chref.startswith("#/channels/"):
            fail(area, "operation %s: channel is not a $ref to #/channels/..." % oid)
            continue
        cid = chref[len("#/channels/"):]
        for mr in op.get("messages") or []:
            if not mr.get("$ref", "").startswith("#/channels/%s/messages/" % cid):
                fail(area, "operation %s: message %s is not one of its channel's" % (oid, mr.get("$ref")))
    gen = os.path.join(ROOT, "scripts", "gen-asyncapi")
    if not os.path.exists(gen):
        fail(area, "scripts/gen-asyncapi is missing")
        return
    # Loaded in this process: it reads the repository through repo_facts,
    # whose ROOT is the tree being checked.
    loader = importlib.machinery.SourceFileLoader("gen_asyncapi", gen)
    spec = importlib.util.spec_from_loader("gen_asyncapi", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    try:
        with open(p("docs/asyncapi.yaml"), encoding="utf-8") as f:
            current = f.read()
        if current != mod.render(mod.build()):
            fail(area, "stale: run scripts/gen-asyncapi")
    except rf.RepoFactError as e:
        fail(area, "scripts/gen-asyncapi cannot build it: %s" % e)


# ---- self-test: drifts that must fail ----------------------------------------------

def _edit(rel, old, new):
    def go(root):
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8") as f:
            s = f.read()
        if old not in s:
            raise AssertionError("self-test: %r not in %s" % (old, rel))
        with open(path, "w", encoding="utf-8") as f:
            f.write(s.replace(old, new, 1))
    return go


def _add_file(rel, text):
    def go(root):
        with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
            f.write(text)
    return go


def _both(a, b):
    def go(root):
        a(root)
        b(root)
    return go


DRIFTS = [
    ("a runtime library missing from the image", _edit("docker/Dockerfile", " libpq5 ", " ")),
    ("a package the scripts do not install", _edit("docker/Dockerfile", "ca-certificates tzdata", "ca-certificates tzdata wget")),
    ("a -dev package missing from the build stage", _edit("docker/Dockerfile", " libhiredis-dev ", " ")),
    ("a package dropped from PSOP_PACKAGES", _edit("scripts/lib.sh", " curl ", " ")),
    ("another build type", _edit("docker/Dockerfile", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCMAKE_BUILD_TYPE=Debug")),
    ("a new program in no image", _edit("tools/CMakeLists.txt", "add_executable(psopctl ",
                                         "add_executable(psop-new psopctl.c)\nadd_executable(psopctl ")),
    ("the api image running as root", _edit("docker/Dockerfile", "EXPOSE 8080\nUSER 10001:10001", "EXPOSE 8080\nUSER root")),
    ("a healthcheck on a route the api lacks", _edit("docker/Dockerfile", "8080/healthz", "8080/health")),
    ("a worker image without its heartbeat file", _edit("docker/Dockerfile", "ENV PSOP_WORKER_HEARTBEAT_FILE=/tmp/psop-worker.alive\n", "")),
    ("the worker liveness patch dropped", _edit("docker/k8s/kustomization.yaml", "  - path: worker-liveness.yaml\n", "  - path: worker-liveness.example.yaml\n")),
    ("a misspelt PSOP_ variable in compose", _edit("docker/compose.yml", "PSOP_API_THREADS:", "PSOP_API_THREAD:")),
    ("a worker role with one replica", _edit("docker/compose.yml", "PSOP_WORKER_ROLE: relay, PSOP_WORKER_INSTANCE_ID: relay-2",
                                              "PSOP_WORKER_ROLE: settlement, PSOP_WORKER_INSTANCE_ID: relay-2")),
    ("a new worker role", _edit("workers/worker.c", '{"settlement", TOPIC_CMD_SETTLEMENT},',
                               '{"settlement", TOPIC_CMD_SETTLEMENT}, {"contract", TOPIC_CMD_PROVIDER},')),
    ("another Kafka version", _edit("scripts/lib.sh", "KAFKA_VERSION:-4.1.1", "KAFKA_VERSION:-4.2.0")),
    ("an undocumented compose variable", _edit("docker/compose.yml", "${IMAGE_TAG:-latest}", "${PSOP_TAG:-latest}")),
    ("a mounted file that is missing", _edit("docker/compose.yml", "./haproxy.cfg:", "./haproxy-missing.cfg:")),
    ("haproxy settings drifting from scripts/dev", _edit("scripts/dev", "timeout server 30s", "timeout server 60s")),
    ("depending on a healthcheck that does not exist", _edit("docker/compose.yml", "      postgres:\n        condition: service_healthy",
                                                               "      redis:\n        condition: service_healthy\n      batch:\n        condition: service_healthy")),
    ("readiness on another path", _edit("docker/k8s/api.yaml", "path: /readyz", "path: /ready")),
    ("maxUnavailable 1", _edit("docker/k8s/api.yaml", "maxUnavailable: 0", "maxUnavailable: 1")),
    ("a misspelt PSOP_ variable in k8s", _edit("docker/k8s/config.yaml", "PSOP_WORKER_BATCH_MAX", "PSOP_WORKER_BATCHMAX")),
    ("a Service port that no container has", _edit("docker/k8s/api.yaml", "port: 80, targetPort: http", "port: 80, targetPort: web")),
    ("a k8s resource file missing", _edit("docker/k8s/kustomization.yaml", "  - api.yaml\n", "  - api.yaml\n  - ingress.yaml\n")),
    ("a new event schema not in AsyncAPI", lambda root: shutil.copy(
        os.path.join(root, "schemas/events/voucher.granted.json"), os.path.join(root, "schemas/events/voucher.extended.json"))),
    ("a new topic not in AsyncAPI", _both(
        _edit("lib/store/topics.h", '#define TOPIC_DLQ "psop.dlq"', '#define TOPIC_DLQ "psop.dlq"\n#define TOPIC_EVT_AUDIT "psop.events.audit"'),
        _edit("lib/store/topics.c", "{TOPIC_DLQ, TOPIC_KIND_DLQ,", '{TOPIC_EVT_AUDIT, TOPIC_KIND_EVENTS, "audit", 0},\n    {TOPIC_DLQ, TOPIC_KIND_DLQ,'))),
    ("a new published event without a schema", _edit("workers/h_voucher.c", '"voucher.refused", ev);', '"voucher.refused", ev);\n    outbox_add(ctx, TOPIC_EVT_VOUCHER, v.id, "voucher.extended", ev);')),
    ("a broker left out of the KRaft quorum", _edit("docker/compose.yml", "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093", "1@kafka-1:9093,2@kafka-2:9093")),
    ("min.insync.replicas 1", _edit("docker/compose.yml", 'KAFKA_MIN_INSYNC_REPLICAS: "2"', 'KAFKA_MIN_INSYNC_REPLICAS: "1"')),
    ("a broker publishing another port than it advertises", _edit("docker/compose.yml", '"127.0.0.1:${KAFKA_3_PORT:-29096}:19092"', '"127.0.0.1:29097:19092"')),
    ("topics with replication 1 on 3 brokers", _edit("docker/compose.yml", "psopctl topics --replication 3", "psopctl topics --replication 1")),
    ("an image pulled from a registry", _edit("docker/compose.yml", "image: psop/redis:${IMAGE_TAG:-latest}\n    build:\n      context: ..\n      dockerfile: docker/redis/Dockerfile\n", "image: redis:7-bookworm\n")),
    ("an infrastructure image on another base", _edit("docker/redis/Dockerfile", "FROM debian:bookworm-slim", "FROM redis:7-bookworm")),
    ("a COPY source .dockerignore keeps out", _edit(".dockerignore", "!scripts/kafka\n", "")),
    ("HAProxy without its runtime API", _edit("docker/haproxy.cfg", "    stats socket /run/haproxy/admin.sock mode 600 level admin\n", "")),
    ("a one-node Kafka in k8s", _edit("docker/k8s/kafka-strimzi.example.yaml", "replicas: 3", "replicas: 1")),
    ("one api replica in k8s", _edit("docker/k8s/api.yaml", "replicas: 2", "replicas: 1")),
    ("an AsyncAPI payload $ref to a missing schema", _edit("docs/asyncapi.yaml", "../schemas/events/voucher.granted.json", "../schemas/events/voucher.grantd.json")),
]

COPY_PATHS = [".dockerignore", "CMakeLists.txt", "lib", "api", "workers", "tools", "schemas", "scripts", "docker", "docs", "tests/deploy"]


def tool_checks():
    """Where the tools exist (not on the development machines), let them
    judge too: docker compose config, kubectl kustomize. Returns notes."""
    notes = []
    env = dict(os.environ)
    with open(p("docker/.env.example"), encoding="utf-8") as f:
        env.update(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", f.read(), re.M))
    # Both compose implementations judge the file: v2 (docker compose, the
    # Docker CLI plugin) where it exists, v1 (docker-compose 1.29, Debian's,
    # which scripts/containers drives) where it exists. Neither needs a daemon.
    tools = []
    if subprocess.run(["sh", "-c", "docker compose version"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, check=False).returncode == 0:
        tools.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        tools.append(["docker-compose"])
    for tool in tools:
        r = subprocess.run(tool + ["-f", p("docker/compose.yml"), "--env-file", p("docker/.env.example"), "config", "-q"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if r.returncode != 0:
            fail("docker/compose.yml", "%s config: %s" % (" ".join(tool), r.stdout.strip()))
        notes.append("%s config" % " ".join(tool))
    if not tools:
        notes.append("no compose tool here (docker compose, docker-compose): compose file checked by this script only")
    if shutil.which("kubectl"):
        r = subprocess.run(["kubectl", "kustomize", p("docker/k8s")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, check=False)
        if r.returncode != 0:
            fail("docker/k8s", "kubectl kustomize: %s" % r.stderr.strip())
        notes.append("kubectl kustomize")
    else:
        notes.append("kubectl not available: manifests checked by this script only")
    return notes


def run_checks(root):
    """Runs every check against the tree at root; returns the problems."""
    global ROOT
    ROOT = root
    rf.ROOT = root
    rf.clear_caches()
    del problems[:]
    try:
        df = check_dockerfile()
        infra = check_infra_dockerfiles()
        check_compose(df, infra)
        check_k8s(df)
        check_asyncapi()
    except rf.RepoFactError as e:
        fail("repository", str(e))
    return list(problems)


def self_test():
    """Each drift on a fresh copy of the repository must be caught. Runs in
    this process (the dpkg answers are cached: they do not depend on the tree)."""
    bad = []
    origin = ROOT
    with tempfile.TemporaryDirectory(prefix="psop-deploy-check-") as tmp:
        def fresh():
            root = os.path.join(tmp, "repo")
            if os.path.exists(root):
                shutil.rmtree(root)
            for rel in COPY_PATHS:
                src = os.path.join(origin, rel)
                dst = os.path.join(root, rel)
                if os.path.isdir(src):
                    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy(src, dst)
            return root
        found = run_checks(fresh())
        if found:
            bad.append("the unchanged copy fails:\n  " + "\n  ".join(found))
        for what, drift in DRIFTS:
            root = fresh()
            drift(root)
            found = run_checks(root)
            if not found:
                bad.append("drift not caught: %s" % what)
                print("self-test: NOT caught: %s" % what)
            else:
                print("self-test: caught %-48s -> %s" % (what, found[0]))
    run_checks(origin)
    return bad


def main():
    found = run_checks(ROOT)
    for note in tool_checks():
        print("check_deploy: " + note)
    found = list(problems) if problems else found
    if found:
        print("check_deploy: %d problem(s):" % len(found))
        for pr in found:
            print("  " + pr)
        return 1
    print("check_deploy: Dockerfile, compose, k8s, AsyncAPI consistent with the repository")
    if "--self-test" in sys.argv:
        bad = self_test()
        if bad:
            for b in bad:
                print("check_deploy: " + b)
            return 1
        print("check_deploy: self-test: all %d drifts caught" % len(DRIFTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
