#!/usr/bin/python3
"""sdk_test.py - the real Azure clients against `keytransfer-cloud serve --tls`.

Drives Debian's azure.keyvault.keys.KeyClient (azure-keyvault-keys, azure-core) through the whole
new BYOK flow: create a KEK with key_ops ["import"] in the vault and in the Managed HSM, read its
public key with get_key, reduce and package RSA 2048/3072/4096, EC P-256/P-384/P-521/P-256K
(vault) and AES 128/192/256 (Managed HSM) with keytransfer for that KEK, import_key each with tags
and an expiry (and an exportable one with a release policy at 7.3 and later), get_key each and compare the public key with the source key's, and check that
the emulated HSM holds the very key (the key hash in the cloud's world is the source's). Then the
same import through az CLI's own keyvault import_key, called in process with the SDK client.

The only stand-ins: a credential object that returns the emulator's token, and a
socket.getaddrinfo wrapper inside this process that resolves <vault>.vault.azure.net and
<vault>.managedhsm.azure.net (port 443) to the emulator's loopback port, so the URLs are the real
ones and the SDK's own challenge-resource check stays on. The CA is the emulator's certificate,
passed as the connection's connection_verify.

Environment: KT_BIN, KT_CLOUD (ctest sets them). Exit 0 all passed, 1 a failure, 77 no SDK.
"""
import datetime
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import HttpResponseError
    from azure.keyvault.keys import JsonWebKey, KeyClient, KeyReleasePolicy
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError as exc:
    print("SKIP: the Azure SDK for Python is not installed (python3-azure): %s" % exc)
    sys.exit(77)

KT = os.environ["KT_BIN"]
CLOUD = os.environ["KT_CLOUD"]
VAULT = "kt-sdk-test"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
passed = failed = 0


def ok():
    global passed
    passed += 1


def fail(what):
    global failed
    failed += 1
    print("FAIL: " + what, file=sys.stderr)


def check(cond, what):
    ok() if cond else fail(what)


def run(*args, env=None, want=0):
    r = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != want:
        raise RuntimeError("%s: exit %d, expected %d\n%s%s" % (" ".join(args), r.returncode, want,
                                                               r.stdout, r.stderr))
    return r.stdout


# The source keys: (ident, keytransfer key generate arguments, kty, crv, service).
KEYS = [
    ("rsa2048", ["--type", "RSA", "--size", "2048"], "RSA-HSM", None, "vault"),
    ("rsa3072", ["--type", "RSA", "--size", "3072"], "RSA-HSM", None, "vault"),
    ("rsa4096", ["--type", "RSA", "--size", "4096"], "RSA-HSM", None, "vault"),
    ("p256", ["--type", "EC", "--curve", "P-256"], "EC-HSM", "P-256", "vault"),
    ("p384", ["--type", "EC", "--curve", "P-384"], "EC-HSM", "P-384", "vault"),
    ("p521", ["--type", "EC", "--curve", "P-521"], "EC-HSM", "P-521", "vault"),
    ("p256k", ["--type", "EC", "--curve", "secp256k1"], "EC-HSM", "P-256K", "vault"),
    ("aes128", ["--type", "AES", "--size", "128"], "oct-HSM", None, "mhsm"),
    ("aes192", ["--type", "AES", "--size", "192"], "oct-HSM", None, "mhsm"),
    ("aes256", ["--type", "AES", "--size", "256"], "oct-HSM", None, "mhsm"),
]
# The api-versions the SDK speaks, spread over the imports (the Managed HSM's from 7.2).
VAULT_APIS = ["7.0", "7.1", "7.2", "7.3", "7.4-preview.1"]
MHSM_APIS = ["7.2", "7.3", "7.4-preview.1"]
OPS = {"RSA-HSM": ["sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"],
       "EC-HSM": ["sign", "verify"], "oct-HSM": ["encrypt", "decrypt", "wrapKey", "unwrapKey"]}


class EmulatorCredential:
    """The one stand-in for Azure AD: hands out the emulator's token for the scope asked."""

    def __init__(self, token):
        self.token, self.scopes = token, []

    def get_token(self, *scopes, **kwargs):
        self.scopes.append((scopes, kwargs.get("tenant_id")))
        return AccessToken(self.token, int(time.time()) + 3600)


def resolve_to(port):
    """Resolves the two Azure domains, port 443, to the emulator inside this process only."""
    real = socket.getaddrinfo

    def getaddrinfo(host, p, *args, **kwargs):
        if isinstance(host, str) and (host.endswith(".vault.azure.net") or
                                      host.endswith(".managedhsm.azure.net")):
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, p, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def public_numbers(pem):
    return serialization.load_pem_public_key(pem.encode()).public_numbers()


def jwk_matches(jwk, pub):
    """The JWK get_key returned is the source public key (n and e, or the curve point)."""
    if isinstance(pub, rsa.RSAPublicNumbers):
        return (int.from_bytes(jwk.n, "big") == pub.n and int.from_bytes(jwk.e, "big") == pub.e)
    if isinstance(pub, ec.EllipticCurvePublicNumbers):
        return (int.from_bytes(jwk.x, "big") == pub.x and int.from_bytes(jwk.y, "big") == pub.y)
    return False


def key_hash(out):
    m = re.search(r"^  key hash\s+([0-9a-f]{64})$", out, re.M)
    return m.group(1) if m else None


def kek_pem(client, name, size, t):
    """create_key for an import-only KEK, then its public key from get_key, as PEM."""
    made = client.create_rsa_key(name, size=size, hardware_protected=True,
                                 key_operations=["import"])
    check(made.key_type == "RSA-HSM" and made.key_operations == ["import"],
          "create_rsa_key %s: %s %s" % (name, made.key_type, made.key_operations))
    got = client.get_key(name)
    check(got.id == made.id, "get_key %s: kid %s, created %s" % (name, got.id, made.id))
    check(got.properties.version == made.properties.version, "get_key %s: version" % name)
    pub = rsa.RSAPublicNumbers(int.from_bytes(got.key.e, "big"),
                               int.from_bytes(got.key.n, "big")).public_key()
    check(pub.key_size == size, "KEK %s is %d bits, not %d" % (name, pub.key_size, size))
    path = os.path.join(t, name + ".pem")
    with open(path, "wb") as f:
        f.write(pub.public_bytes(serialization.Encoding.PEM,
                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, got.id, hashlib.sha256(der).hexdigest()


def main(t):
    env = dict(os.environ, KEYTRANSFER_KMDATA=os.path.join(t, "kmdata"))
    cloud_env = dict(os.environ, KEYTRANSFER_KMDATA=os.path.join(t, "cloud", "kmdata"))
    pins, quorum, token_file = (os.path.join(t, n) for n in ("pins", "quorum", "token"))
    for path, text in ((pins, "sdk-pin-card-1\nsdk-pin-card-2\n"), (quorum, "sdk-pin-card-1\n"),
                       (token_file, "sdk-test-token-0123456789abcdef\n")):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    token = "sdk-test-token-0123456789abcdef"

    # The cloud, and the custodian's world with the ten source keys.
    run(CLOUD, "init", "--region", "NA", "--vault", VAULT, "--out", os.path.join(t, "download"),
        "--state", os.path.join(t, "cloud"))
    run(KT, "world", "new", "--acs-quorum", "1/2", "--kdf", "interactive", "--pin-file", pins,
        env=env)
    cards = sorted(os.listdir(os.path.join(t, "kmdata", "cards")))
    card = os.path.join(t, "kmdata", "cards", [c for c in cards if c.endswith("_1")][0])
    source = {}
    for ident, gen, _, _, _ in KEYS:
        run(KT, "key", "generate", *gen, "--ident", ident, env=env)
        shown = run(KT, "key", "show", ident, env=env)
        pem = None
        if not ident.startswith("aes"):
            pem = run(KT, "key", "public", ident, env=env)
        source[ident] = (key_hash(shown), pem)

    # The emulator over https with its self-signed certificate.
    srv = subprocess.Popen([CLOUD, "serve", "--state", os.path.join(t, "cloud"), "--tls",
                            "--token-file", token_file], stdout=subprocess.PIPE,
                           stderr=open(os.path.join(t, "serve.log"), "w"), text=True)
    try:
        lines = {}
        for line in srv.stdout:
            parts = line.split()
            if len(parts) >= 2:
                lines[parts[0]] = parts[1:]
            if line.startswith("Stop it"):
                break
        port = int(lines["url"][0].rsplit(":", 1)[1])
        cacert = lines["cacert"][0]
        check(lines["url"][0].startswith("https://127.0.0.1:"), "serve --tls: %s" % lines["url"])
        with open(cacert, "rb") as f:
            der = x509.load_pem_x509_certificate(f.read()).public_bytes(
                serialization.Encoding.DER)
        check(lines["tls"][1] == hashlib.sha256(der).hexdigest(),
              "serve printed SHA-256 %s; the certificate's is %s" %
              (lines["tls"][1], hashlib.sha256(der).hexdigest()))
        resolve_to(port)
        flow(t, env, cloud_env, card, quorum, token, cacert, source)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        with open(os.path.join(t, "serve.log")) as f:
            log = f.read()
        check("-> 401 Unauthorized" in log, "the server's log shows no 401 challenge")
        if failed:
            print(log[-4000:], file=sys.stderr)


def flow(t, env, cloud_env, card, quorum, token, cacert, source):
    cred = EmulatorCredential(token)
    vault_url = "https://%s.vault.azure.net" % VAULT
    mhsm_url = "https://%s.managedhsm.azure.net" % VAULT

    def client(url, api=None):
        kw = {"api_version": api} if api else {}
        return KeyClient(url, cred, connection_verify=cacert, **kw)

    # 1. The KEKs: made in the HSM by create_key, their public keys read back by get_key.
    keks = {"vault": kek_pem(client(vault_url), "byok-kek-vault", 3072, t),
            "mhsm": kek_pem(client(mhsm_url), "byok-kek-mhsm", 2048, t)}
    check(cred.scopes[0] == (("https://vault.azure.net/.default",), cred.scopes[0][1]),
          "the vault's challenge asked for %s" % (cred.scopes[0],))
    check(any(s[0] == ("https://managedhsm.azure.net/.default",) for s in cred.scopes),
          "the Managed HSM's challenge asked for %s" % (cred.scopes,))
    check(re.match(r"^[0-9a-f-]{36}$", cred.scopes[0][1] or "") is not None,
          "the challenge named no tenant: %s" % (cred.scopes[0],))
    check(keks["mhsm"][1].startswith(mhsm_url + "/keys/byok-kek-mhsm/"),
          "the Managed HSM KEK's kid is %s" % keks["mhsm"][1])

    # 2. Offline: reduce each key's ACL to its KEK and package it.
    usb = os.path.join(t, "usb")
    os.mkdir(usb, 0o700)
    for ident, _, _, _, service in KEYS:
        pem, kid, fp = keks[service]
        unattested = ["--kek-pem", pem, "--kid", kid, "--accept-unattested-kek", fp]
        run(KT, "modify-acls", "--ident", ident, *unattested, "--card", card, "--pin-file", quorum,
            "--yes", env=env)
        run(KT, "package", "--ident", ident, *unattested, "--subscription", SUBSCRIPTION,
            "--name", "sdk-" + ident, "--out", usb, env=env)

    # 3. import_key each with tags and an expiry, at the api-versions the SDK speaks; get_key.
    expires = datetime.datetime(2031, 5, 17, 12, 0, tzinfo=datetime.timezone.utc)
    not_before = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    for i, (ident, _, kty, crv, service) in enumerate(KEYS):
        apis = VAULT_APIS if service == "vault" else MHSM_APIS
        api = apis[i % len(apis)]
        c = client(vault_url if service == "vault" else mhsm_url, api)
        name = "sdk-" + ident
        with open(os.path.join(usb, "TransferPackage-%s.byok" % name), "rb") as f:
            byok = f.read()
        jwk = JsonWebKey(kty=kty, crv=crv, key_ops=OPS[kty], t=byok)
        tags = {"custodian": "sdk-test", "source": ident}
        try:
            got = c.import_key(name, jwk, hardware_protected=True, tags=tags,
                               expires_on=expires, not_before=not_before)
        except HttpResponseError as exc:
            fail("import_key %s (api-version %s): %s" % (name, api, exc.message))
            continue
        check(got.properties.tags == tags, "%s: tags %s" % (name, got.properties.tags))
        check(got.properties.expires_on == expires, "%s: expires %s" % (name, got.properties.expires_on))
        check(got.properties.not_before == not_before, "%s: nbf %s" % (name, got.properties.not_before))
        check(got.properties.enabled is True, "%s: enabled %s" % (name, got.properties.enabled))
        check(got.key_type == kty and sorted(got.key_operations) == sorted(OPS[kty]),
              "%s: %s %s" % (name, got.key_type, got.key_operations))
        # exportable exists from 7.3 on, as that version answers.
        want_exportable = False if api >= "7.3" else None
        check(got.properties.exportable == want_exportable,
              "%s at %s: exportable %s" % (name, api, got.properties.exportable))
        back = client(vault_url if service == "vault" else mhsm_url).get_key(name)
        check(back.id == got.id and back.properties.tags == tags and
              back.properties.expires_on == expires, "%s: get_key %s" % (name, back.id))
        hash_, pem = source[ident]
        if pem is not None:
            pub = public_numbers(pem)
            check(jwk_matches(back.key, pub), "%s: get_key's public key is not the source's" % name)
            if kty == "EC-HSM":
                check(back.key.crv == crv, "%s: crv %s" % (name, back.key.crv))
        # The emulated HSM holds the very key: the same key hash in the cloud's world.
        shown = run(KT, "key", "show", name.lower(), "--app", "imported", env=cloud_env)
        check(key_hash(shown) == hash_, "%s: the cloud holds key hash %s, the source is %s" %
              (name, key_hash(shown), hash_))

    # 3b. Secure key release as the SDK sends it (7.3 on): exportable with a release policy.
    policy = (b'{"version":"1.0.0","anyOf":[{"authority":"https://sharedeus.eus.attest.azure.net",'
              b'"allOf":[{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}]}]}')
    with open(os.path.join(usb, "TransferPackage-sdk-rsa2048.byok"), "rb") as f:
        rsa_byok = f.read()
    for api in ("7.3", "7.4-preview.1"):
        c = client(vault_url, api)
        name = "sdk-skr-" + api.replace(".", "-")
        got = c.import_key(name, JsonWebKey(kty="RSA-HSM", t=rsa_byok, key_ops=["sign"]),
                           hardware_protected=True, exportable=True,
                           release_policy=KeyReleasePolicy(policy, immutable=False))
        rp = got.properties.release_policy
        check(got.properties.exportable is True and rp is not None and
              rp.encoded_policy == policy and rp.immutable is False,
              "%s at %s: exportable %s, policy %s" % (name, api, got.properties.exportable,
                                                    rp and rp.encoded_policy))
    try:
        client(vault_url, "7.4-preview.1").import_key(
            "sdk-skr-nopolicy", JsonWebKey(kty="RSA-HSM", t=rsa_byok), hardware_protected=True,
            exportable=True)
        fail("an exportable key without a release policy was taken")
    except HttpResponseError as exc:
        check(exc.status_code == 400 and "release policy" in exc.message,
              "exportable without a policy: %s" % exc)

    # 4. What the service refuses, through the SDK.
    c = client(vault_url)
    with open(os.path.join(usb, "TransferPackage-sdk-aes256.byok"), "rb") as f:
        aes = f.read()
    try:
        c.import_key("sdk-aes-in-vault", JsonWebKey(kty="oct-HSM", t=aes), hardware_protected=True)
        fail("a key vault took an oct-HSM key")
    except HttpResponseError as exc:
        check(exc.status_code == 400 and "Managed HSM" in exc.message, "oct-HSM in a vault: %s" % exc)
    try:
        client(mhsm_url, "7.1").get_key("sdk-aes128")
        fail("the Managed HSM answered api-version 7.1")
    except HttpResponseError as exc:
        check(exc.status_code == 400, "Managed HSM at 7.1: %s" % exc)
    try:
        c.create_rsa_key("sdk-not-a-kek", size=2048, hardware_protected=True,
                         key_operations=["sign", "verify"])
        fail("create_key made a key that is not an import-only KEK")
    except HttpResponseError as exc:
        check(exc.status_code == 400 and "import" in exc.message, "a signing key: %s" % exc)
    try:
        KeyClient(vault_url, EmulatorCredential("not-the-token-0123456789"),
                  connection_verify=cacert).get_key("sdk-rsa2048")
        fail("another token was taken")
    except HttpResponseError as exc:
        check(exc.status_code == 401, "another token: %s" % exc)
    check(c.get_key("KEKforBYOK").key_operations == ["import"], "the cloud's own KEK")

    # 5. az CLI's own request-building code: its keyvault module's import_key, in process.
    az_import(t, client(vault_url), usb, source, cloud_env)


def az_import(t, sdk_client, usb, source, cloud_env):
    try:
        from azure.cli.core import AzCommandsLoader
        from azure.cli.core.commands import AzCliCommand
        from azure.cli.core.mock import DummyCli
        from azure.cli.command_modules.keyvault.custom import import_key
        cmd = AzCliCommand(AzCommandsLoader(DummyCli()), "keyvault key import", None)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the reason to give
        print("SKIP (az CLI part only): Debian's az keyvault module does not load in process: "
              "%s: %s" % (type(exc).__name__, exc))
        return
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    for ident, kty, crv in (("rsa2048", "RSA", None), ("p384", "EC", "P-384")):
        byok = os.path.join(usb, "TransferPackage-sdk-%s.byok" % ident)
        name = "az-" + ident
        got = import_key(cmd, sdk_client, name=name, protection="hsm", byok_file=byok, kty=kty,
                         curve=crv, tags={"via": "az"}, expires=expires,
                         key_ops=["sign", "verify"])
        check(got.key_type == kty + "-HSM" and got.properties.tags == {"via": "az"} and
              got.properties.expires_on == expires, "az import_key %s: %s %s %s" %
              (name, got.key_type, got.properties.tags, got.properties.expires_on))
        back = sdk_client.get_key(name)
        check(jwk_matches(back.key, public_numbers(source[ident][1])),
              "az import_key %s: not the source key" % name)
        shown = run(KT, "key", "show", name, "--app", "imported", env=cloud_env)
        check(key_hash(shown) == source[ident][0], "az import_key %s: another key hash" % name)


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="kt-azure-sdk.")
    os.chmod(tmp, 0o700)
    try:
        main(tmp)
    except Exception as exc:  # noqa: BLE001 - report, clean up, fail
        import traceback
        traceback.print_exc()
        fail("the test stopped: %s: %s" % (type(exc).__name__, exc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
