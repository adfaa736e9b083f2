#!/usr/bin/python3
"""faults.py - nothing lost, whatever fails: every multi-file writer under fault injection.

For each writer (world new, world new --force, package, package --aws-params, package of a
batch of two keys, key delete, toolset extract, keytransfer-cloud init)
the command is traced once with strace to list its state-changing system calls (openat that
creates or opens for writing, write and pwrite64 to a file, fsync, fdatasync, mkdir(at),
link(at), rename(at/at2), unlink(at)). Then, for each of them, one trial kills the command with
SIGKILL at that call (strace -e inject=NAME:signal=KILL:when=N), and for each write, fsync and
rename one trial makes it fail (ENOSPC, EIO, EXDEV and EACCES). After every trial:

  * before anything else runs, the folder holds the old state or a committed change (a half
    pair of package files, a half cloud, appears only beside a commit record);
  * the command's own recovery (the next keytransfer command) leaves the old state or the new
    one whole, and no temporary name, orphan card or orphan module file;
  * the world loads: world info, key list with nothing refused, world program with two cards;
  * a re-run of the same command succeeds (for world new and cloud init, which refuse to
    replace what stands, the re-run after a committed trial refuses saying it exists);
  * a failed command said why on stderr, and an injected error never gave exit 0 with the old
    state.

Prints the counts per writer (trials, kills, errors, failures) so they can be read from the CI
log. Exit 0 when every trial held, 1 otherwise, 77 when strace cannot trace here.

Environment: KT_BIN, KT_CLOUD, KT_ONLINE (the programs), KT_FAULT_JOBS (parallel trials,
default 2), KT_FAULT_ONLY (a writer name, to run one).
"""
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

KT = os.environ["KT_BIN"]
CLOUD = os.environ["KT_CLOUD"]
ONLINE = os.environ["KT_ONLINE"]
JOBS = int(os.environ.get("KT_FAULT_JOBS", "2"))
ONLY = os.environ.get("KT_FAULT_ONLY")

PINS = "pin-card-one-1\npin-card-two-2\npin-card-three-3\n"
QUORUM = "pin-card-one-1\npin-card-two-2\n"
TRACED = ("openat,write,pwrite64,fsync,fdatasync,mkdir,mkdirat,link,linkat,rename,renameat,"
          "renameat2,unlink,unlinkat")
ERRORS = {"write": ["ENOSPC"], "pwrite64": ["ENOSPC"], "fsync": ["EIO"], "fdatasync": ["EIO"],
          "rename": ["EXDEV", "EACCES"], "renameat": ["EXDEV", "EACCES"],
          "renameat2": ["EXDEV", "EACCES"], "link": ["EXDEV", "EACCES"],
          "linkat": ["EXDEV", "EACCES"]}

# Under ptrace LeakSanitizer cannot run; the traced runs do without it (the suite's other tests
# run every command with it).
ENV = dict(os.environ)
ENV["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
ENV["KEYTRANSFER_LOCK_TIMEOUT"] = "30"
ENV.pop("KEYTRANSFER_KMDATA", None)


class Broken(Exception):
    """An invariant that did not hold."""


def run(argv, cwd=None, inject=None, stdin=None):
    """Runs argv (under strace with inject, if given); returns (status, stdout, stderr)."""
    if inject is not None:
        argv = ["strace", "-qq", "-o", "/dev/null", "-e", "trace=" + inject.split(":")[0],
                "-e", "inject=" + inject] + argv
    p = subprocess.run(argv, cwd=cwd, env=ENV, input=stdin, capture_output=True, text=True,
                       timeout=300)
    status = p.returncode
    if status < 0 or status == 137:
        status = "killed"
    return status, p.stdout, p.stderr


def must(argv, what, status=0, cwd=None):
    got, out, err = run(argv, cwd=cwd)
    if got != status:
        raise Broken("%s: exit %s, expected %s: %s" % (what, got, status, (err or out)[-400:]))
    return out, err


def points(argv, cwd):
    """The state-changing calls of one clean run: [(syscall, n-th call of that name)]."""
    log = os.path.join(cwd, "..", "trace.log")
    p = subprocess.run(["strace", "-qq", "-o", log, "-e", "trace=" + TRACED] + argv, cwd=cwd,
                       env=ENV, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise Broken("clean traced run failed (exit %d): %s" % (p.returncode, p.stderr[-400:]))
    counts, found = {}, []
    with open(log) as f:
        for line in f:
            m = re.match(r"(\w+)\((.*)", line)
            if not m:
                continue
            name, args = m.group(1), m.group(2)
            counts[name] = counts.get(name, 0) + 1
            if name == "openat" and not re.search(r"O_CREAT|O_TMPFILE|O_WRONLY|O_RDWR", args):
                continue
            if name in ("write", "pwrite64") and re.match(r"[12],", args):
                continue  # stdout and stderr are not state
            found.append((name, counts[name]))
    os.unlink(log)
    return found


def names(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def no_temp(*dirs):
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            for n in subdirs + files:
                if ".kt-" in n:
                    raise Broken("temporary name left: %s" % os.path.join(root, n))


def committed_record(d):
    return any(re.fullmatch(r"\.kt-txn\.[0-9a-f]{16}\.commit", n) for n in names(d))


# ---- the world ------------------------------------------------------------------------------

def world_state(k):
    """('none', None) or ('world', info) after recovery, with the whole-world checks."""
    status, out, err = run([KT, "world", "info", "--kmdata", k, "--json"])
    if status == 4 and "no security world" in err:
        local, cards = os.path.join(k, "local"), os.path.join(k, "cards")
        left = [n for n in names(local) if n != "lock"] + names(cards)
        if left:
            raise Broken("no world, yet files are left: %s" % left)
        return "none", None
    if status != 0:
        raise Broken("world info: exit %s: %s" % (status, err[-400:]))
    info = json.loads(out)
    if len(info["cards"]) != info["quorum"]["n"]:
        raise Broken("world lists %d cards of %d" % (len(info["cards"]), info["quorum"]["n"]))
    if not info["module"]["programmed"]:
        raise Broken("the world's module is not programmed")
    # Nothing that belongs to no world: one module file, this world's cards only.
    local = names(os.path.join(k, "local"))
    modules = [n for n in local if n.startswith("module_")]
    if modules != ["module_" + info["module"]["esn"]]:
        raise Broken("module files %s for module %s" % (modules, info["module"]["esn"]))
    cards = names(os.path.join(k, "cards"))
    mine = sorted(os.path.basename(c) for c in info["cards"])
    if cards != mine:
        raise Broken("cards folder holds %s, the world's cards are %s" % (cards, mine))
    must([KT, "key", "list", "--kmdata", k], "key list")
    quorum = os.path.join(k, "..", "quorum")
    must([KT, "world", "program", "--force", "--kmdata", k, "--card", info["cards"][0],
          "--card", info["cards"][1], "--pin-file", quorum], "world program with two cards")
    no_temp(k)
    return "world", info


class WorldNew:
    name = "world new"

    def setup(self, t):
        for name, text in (("pins", PINS), ("quorum", QUORUM)):
            # PIN files others may read are refused, as ssh refuses such a key file
            fd = os.open(os.path.join(t, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        self.k = os.path.join(t, "kmdata")

    def argv(self, t):
        return [KT, "world", "new", "--acs-quorum", "2/3", "--kdf", "interactive",
                "--kmdata", os.path.join(t, "kmdata"), "--pin-file", os.path.join(t, "pins")]

    def before_recovery(self, t):
        pass

    def after(self, t, status):
        k = os.path.join(t, "kmdata")
        state, _ = world_state(k)
        if status == 0 and state != "world":
            raise Broken("exit 0 but no world")
        got, _, err = run(self.argv(t))
        if state == "none":
            if got != 0:
                raise Broken("re-run: exit %s: %s" % (got, err[-300:]))
            if world_state(k)[0] != "world":
                raise Broken("re-run made no whole world")
        elif got != 4 or "already exists" not in err:
            raise Broken("re-run over the committed world: exit %s: %s" % (got, err[-300:]))


class WorldForce(WorldNew):
    name = "world new --force"

    def setup(self, t):
        WorldNew.setup(self, t)
        must(WorldNew.argv(self, t), "the old world")
        self.old = world_state(os.path.join(t, "kmdata"))[1]["world_hash"]

    def argv(self, t):
        return WorldNew.argv(self, t) + ["--force"]

    def after(self, t, status):
        k = os.path.join(t, "kmdata")
        state, info = world_state(k)
        if state != "world":
            raise Broken("neither the old world nor the new one")
        if status == 0 and info["world_hash"] == self.old:
            raise Broken("exit 0 but the old world is still there")
        must(self.argv(t), "re-run")
        if world_state(k)[1]["world_hash"] == self.old:
            raise Broken("re-run did not replace the world")


# ---- package ---------------------------------------------------------------------------------

KID = "https://faults.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"


class Package:
    name = "package"

    def setup(self, t):
        WorldNew.setup(self, t)
        k = self.k
        must(WorldNew.argv(self, t), "world")
        must([KT, "key", "generate", "--type", "RSA", "--size", "2048", "--ident", "k1",
              "--kmdata", k], "key generate")
        key, pub = os.path.join(t, "kek.pem"), os.path.join(t, "kek.pub")
        must(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
              "-out", key], "openssl genpkey")
        must(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], "openssl pkey")
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        self.fp = hashlib.sha256(der).hexdigest()
        info = json.loads(must([KT, "world", "info", "--kmdata", k, "--json"], "info")[0])
        extra = ["--yes"] if "--yes" in must([KT, "modify-acls", "--help"], "help")[0] else []
        must([KT, "modify-acls", "--ident", "k1", "--kek-pem", pub, "--kid", KID,
              "--accept-unattested-kek", self.fp, "--card", info["cards"][0], "--card",
              info["cards"][1], "--pin-file", os.path.join(t, "quorum"), "--kmdata", k] + extra,
             "modify-acls")
        os.mkdir(os.path.join(t, "out"), 0o700)

    def argv(self, t):
        return [KT, "package", "--ident", "k1", "--kek-pem", os.path.join(t, "kek.pub"), "--kid",
                KID, "--accept-unattested-kek", self.fp, "--subscription", "s", "--name", "P1",
                "--out", os.path.join(t, "out"), "--kmdata", os.path.join(t, "kmdata")]

    PAIR = ["TransferPackage-P1.byok", "TransferPackage-P1.manifest.json"]

    def before_recovery(self, t):
        out = os.path.join(t, "out")
        final = [n for n in names(out) if not n.startswith(".")]
        if final not in ([], self.PAIR) and not committed_record(out):
            raise Broken("a half pair %s with no commit record" % final)

    def after(self, t, status):
        out = os.path.join(t, "out")
        if status == 0 and names(out) != self.PAIR:
            raise Broken("exit 0 but the folder holds %s" % names(out))
        must(self.argv(t), "re-run")
        if names(out) != self.PAIR:
            raise Broken("after the re-run the folder holds %s" % names(out))
        must([ONLINE, "check", out], "keytransfer-online check")
        must([KT, "key", "list", "--kmdata", os.path.join(t, "kmdata")], "key list")
        no_temp(out)


class PackageAws(Package):
    """package --aws-params: the EncryptedKeyMaterial, the ImportToken and the manifest as one
    change of three files."""
    name = "package aws"

    def setup(self, t):
        WorldNew.setup(self, t)
        k = self.k
        must(WorldNew.argv(self, t), "world")
        must([KT, "key", "generate", "--type", "EC", "--curve", "P-256", "--ident", "k1",
              "--kmdata", k], "key generate")
        key = os.path.join(t, "kek.pem")
        must(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
              "-out", key], "openssl genpkey")
        der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                             capture_output=True, check=True).stdout
        self.fp = hashlib.sha256(der).hexdigest()
        params = {"KeyId": "arn:aws:kms:eu-west-1:111122223333:key/"
                           "1234abcd-12ab-34cd-56ef-1234567890ab",
                  "ImportToken": "a2V5dHJhbnNmZXIgZmF1bHRzIGltcG9ydCB0b2tlbg==",
                  "PublicKey": base64.b64encode(der).decode(),
                  "ParametersValidTo": "2099-01-01T00:00:00+00:00"}
        with open(os.path.join(t, "params.json"), "w") as f:
            json.dump(params, f)
        info = json.loads(must([KT, "world", "info", "--kmdata", k, "--json"], "info")[0])
        must([KT, "modify-acls", "--ident", "k1", "--aws-params", os.path.join(t, "params.json"),
              "--accept-unattested-kek", self.fp, "--card", info["cards"][0], "--card",
              info["cards"][1], "--pin-file", os.path.join(t, "quorum"), "--kmdata", k, "--yes"],
             "modify-acls")
        os.mkdir(os.path.join(t, "out"), 0o700)

    def argv(self, t):
        return [KT, "package", "--ident", "k1", "--aws-params", os.path.join(t, "params.json"),
                "--accept-unattested-kek", self.fp, "--name", "P1", "--out",
                os.path.join(t, "out"), "--kmdata", os.path.join(t, "kmdata")]

    PAIR = ["TransferPackage-P1.aws.bin", "TransferPackage-P1.aws.manifest.json",
            "TransferPackage-P1.aws.token.bin"]


# ---- package, a batch of two keys in one group ------------------------------------------------

class PackageBatch(Package):
    name = "package batch"

    def setup(self, t):
        Package.setup(self, t)
        k = self.k
        must([KT, "key", "generate", "--type", "EC", "--curve", "P-256", "--ident", "k2",
              "--kmdata", k], "key generate k2")
        info = json.loads(must([KT, "world", "info", "--kmdata", k, "--json"], "info")[0])
        must([KT, "modify-acls", "--ident", "k2", "--kek-pem",
              os.path.join(t, "kek.pub"), "--kid", KID, "--accept-unattested-kek", self.fp,
              "--card", info["cards"][0], "--card", info["cards"][1], "--pin-file",
              os.path.join(t, "quorum"), "--kmdata", k, "--yes"], "modify-acls k2")

    def argv(self, t):
        return [KT, "package", "--ident", "k1", "--ident", "k2", "--kek-pem",
                os.path.join(t, "kek.pub"), "--kid", KID, "--accept-unattested-kek", self.fp,
                "--subscription", "s", "--name-prefix", "P-", "--out", os.path.join(t, "out"),
                "--kmdata", os.path.join(t, "kmdata")]

    # one group: both pairs appear together, or neither
    PAIR = ["TransferPackage-P-k1.byok", "TransferPackage-P-k1.manifest.json",
            "TransferPackage-P-k2.byok", "TransferPackage-P-k2.manifest.json"]


# ---- toolset extract -------------------------------------------------------------------------

class Toolset:
    name = "toolset extract"

    def __init__(self, zip_path):
        self.zip = zip_path

    def setup(self, t):
        pass

    def argv(self, t):
        return [KT, "toolset", "extract", self.zip, os.path.join(t, "tools")]

    def whole(self, d):
        with zipfile.ZipFile(self.zip) as z:
            want = {n: z.read(n) for n in z.namelist()}
        have = {}
        for root, _, files in os.walk(d):
            for n in files:
                p = os.path.join(root, n)
                with open(p, "rb") as f:
                    have[os.path.relpath(p, d)] = f.read()
        return have == want

    def before_recovery(self, t):
        d = os.path.join(t, "tools")
        if os.path.exists(d) and not self.whole(d):
            raise Broken("a partial toolset folder")

    def after(self, t, status):
        d = os.path.join(t, "tools")
        if status == 0 and not self.whole(d):
            raise Broken("exit 0 but no whole toolset")
        must(self.argv(t), "re-run")
        if not self.whole(d):
            raise Broken("re-run left no whole toolset")
        no_temp(t)


# ---- key delete ------------------------------------------------------------------------------

class KeyDelete(Package):
    """key delete: the key, its reduced record and the audit entry, one change. Checked without a
    world program (no Argon2id per trial): the files and the log's last entry agree."""
    name = "key delete"
    FILES = ["key_simple_k1", "key_xferacld_k1"]

    def argv(self, t):
        return [KT, "key", "delete", "--ident", "k1", "--yes", "--kmdata",
                os.path.join(t, "kmdata")]

    def before_recovery(self, t):
        pass

    def state(self, t):
        """'kept' or 'deleted' after recovery: both files and no entry, or neither and the entry."""
        k = os.path.join(t, "kmdata")
        out = must([KT, "audit", "show", "--json", "--kmdata", k], "audit show")[0]
        last = json.loads(out)["entries"][-1]["op"]
        left = [n for n in names(os.path.join(k, "local")) if n in self.FILES]
        no_temp(k)
        if left == self.FILES and last != "key delete":
            return "kept"
        if left == [] and last == "key delete":
            return "deleted"
        raise Broken("key files %s with the log's last entry %s" % (left, last))

    def after(self, t, status):
        state = self.state(t)
        if status == 0 and state != "deleted":
            raise Broken("exit 0 but the key is still there")
        got, _, err = run(self.argv(t))
        if state == "kept" and got != 0:
            raise Broken("re-run: exit %s: %s" % (got, err[-300:]))
        if state == "deleted" and (got != 4 or "there is no key" not in err):
            raise Broken("re-run after the deletion: exit %s: %s" % (got, err[-300:]))
        if self.state(t) != "deleted":
            raise Broken("the re-run did not delete the key")


# ---- keytransfer-cloud init ------------------------------------------------------------------

class CloudInit:
    name = "keytransfer-cloud init"
    OUT = ["BYOK-KEK-pkg-NA-1", "BYOK-SecurityWorld-pkg-NA-1", "KeyTransfer-BYOK-Tools-NA.zip",
           "published-hashes.txt"]

    def setup(self, t):
        pass

    def argv(self, t):
        return [CLOUD, "init", "--region", "NA", "--kek-size", "2048", "--out",
                os.path.join(t, "out"), "--state", os.path.join(t, "state")]

    def before_recovery(self, t):
        out = [n for n in names(os.path.join(t, "out")) if not n.startswith(".")]
        state = os.path.exists(os.path.join(t, "state"))
        whole = out == self.OUT and state
        if not whole and (out or state) and not committed_record(t):
            raise Broken("a half cloud (state %s, out %s) with no commit record" % (state, out))

    def check_whole(self, t):
        if names(os.path.join(t, "out")) != self.OUT:
            raise Broken("out holds %s" % names(os.path.join(t, "out")))
        o = os.path.join(t, "out")
        must([KT, "verify", "-k", os.path.join(o, self.OUT[0]), "-w", os.path.join(o, self.OUT[1])],
             "verify the cloud's packages")
        no_temp(t)

    def after(self, t, status):
        got, _, err = run(self.argv(t))
        if got == 0:
            if status == 0:
                raise Broken("exit 0, yet the re-run made a cloud again")
        elif got != 4 or "already" not in err:
            raise Broken("re-run: exit %s: %s" % (got, err[-300:]))
        self.check_whole(t)


# ---- the trials ------------------------------------------------------------------------------

def trial(writer, template, inject):
    t = tempfile.mkdtemp(prefix="kt-fault-")
    try:
        shutil.rmtree(t)
        shutil.copytree(template, t, symlinks=True)
        status, _, err = run(writer.argv(t), inject=inject)
        if status not in (0, "killed") and not err.strip():
            raise Broken("exit %s with no message" % status)
        writer.before_recovery(t)
        writer.after(t, status)
        return None
    except Broken as b:
        return "%s [%s]: %s" % (writer.name, inject, b)
    except subprocess.TimeoutExpired:
        return "%s [%s]: timed out" % (writer.name, inject)
    finally:
        shutil.rmtree(t, ignore_errors=True)


def campaign(writer, root):
    template = os.path.join(root, writer.name.replace(" ", "-"))
    os.mkdir(template, 0o700)
    writer.setup(template)
    scratch = tempfile.mkdtemp(prefix="kt-fault-probe-")
    shutil.rmtree(scratch)
    shutil.copytree(template, scratch, symlinks=True)
    found = points(writer.argv(scratch), scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    injects = ["%s:signal=KILL:when=%d" % p for p in found]
    kills = len(injects)
    for name, n in found:
        for err in ERRORS.get(name, []):
            injects.append("%s:error=%s:when=%d" % (name, err, n))
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        failures = [f for f in pool.map(lambda i: trial(writer, template, i), injects) if f]
    print("faults: %-24s %4d trials (%d kills, %d injected errors), %d failures"
          % (writer.name, len(injects), kills, len(injects) - kills, len(failures)), flush=True)
    for f in failures[:20]:
        print("  FAIL " + f, flush=True)
    return len(injects), len(failures)


def main():
    os.umask(0o077)
    if subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True).returncode:
        print("SKIP: strace cannot trace here")
        return 77
    root = tempfile.mkdtemp(prefix="kt-faults-")
    try:
        cloud = os.path.join(root, "cloud")
        must([CLOUD, "init", "--region", "NA", "--out", os.path.join(cloud, "out"), "--state",
              os.path.join(cloud, "state"), "--kek-size", "2048"], "a cloud for the toolset")
        writers = [WorldNew(), WorldForce(), Package(), PackageAws(), PackageBatch(), KeyDelete(),
                   Toolset(os.path.join(cloud, "out", "KeyTransfer-BYOK-Tools-NA.zip")),
                   CloudInit()]
        total = failed = 0
        for w in writers:
            if ONLY and w.name != ONLY:
                continue
            n, f = campaign(w, root)
            total += n
            failed += f
        print("faults: all writers: %d trials, %d failures" % (total, failed))
        return 1 if failed else 0
    except Broken as b:
        print("FAIL: setup: %s" % b)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
