#!/usr/bin/env python3
# forge_kek_package.py - what anyone holding a vendor root's private key can do, written with
# python3-cryptography and none of keytransfer's code: issue a module warrant and an attestation
# certificate under the root, and sign a KEK package (keytransfer-kek/1) for a KEK of their own
# choosing, with its world package (keytransfer-world/1), in the JWS shape of docs/formats.md
# (flattened JSON, ES384 raw r||s, x5c = [leaf, warrant, root]). With the DEMO root, whose key is
# committed in packages/demo-vendor/, this is the forgery the fail-closed default is about: the packages verify,
# and every key wrapped to the forged KEK opens with its private key.
#
#   forge_kek_package.py ROOT_CERT ROOT_KEY KEK_PUB_PEM KID OUT_KEK OUT_WORLD
import base64, datetime, hashlib, json, sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

root_cert_path, root_key_path, kek_pub_path, kid, out_kek, out_world = sys.argv[1:7]
ESN = "0123-4567-89AB"
REGION = "NA"
WORLD_HASH = hashlib.sha256(b"a world the forger made up").hexdigest()

root_cert = x509.load_pem_x509_certificate(open(root_cert_path, "rb").read())
root_key = serialization.load_pem_private_key(open(root_key_path, "rb").read(), None)
kek = serialization.load_pem_public_key(open(kek_pub_path, "rb").read())
now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def attestation_eku():
    """extendedKeyUsage { 2.25.77941870831353878035700664750549655760 } as raw DER: pyca 38
    cannot name an arc this large (the verifiers read it with their own DER reader)."""
    arc = 77941870831353878035700664750549655760
    body = [0x69]  # 2 * 40 + 25
    groups = []
    while True:
        groups.append(arc & 0x7F)
        arc >>= 7
        if not arc:
            break
    body += [g | 0x80 for g in reversed(groups[1:])] + [groups[0]]
    oid = bytes([0x06, len(body)] + body)
    return x509.UnrecognizedExtension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE,
                                      bytes([0x30, len(oid)]) + oid)


def issue(subject, key, issuer_cert, issuer_key, ca):
    usage = dict(digital_signature=True, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    builder = x509.CertificateBuilder()
    if not ca:
        builder = builder.add_extension(attestation_eku(), critical=False)
    return (builder
            .subject_name(subject).issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
            .add_extension(x509.KeyUsage(**usage), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_cert.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA384()))


warrant_key = ec.generate_private_key(ec.SECP384R1())
warrant = issue(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "forged vendor"),
                           x509.NameAttribute(NameOID.COMMON_NAME, "module warrant " + ESN),
                           x509.NameAttribute(NameOID.SERIAL_NUMBER, ESN)]),
                warrant_key, root_cert, root_key, True)
leaf_key = ec.generate_private_key(ec.SECP384R1())
leaf = issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "module %s attestation key" % ESN),
                        x509.NameAttribute(NameOID.SERIAL_NUMBER, ESN)]),
             leaf_key, warrant, warrant_key, False)
x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
       for c in (leaf, warrant, root_cert)]


def jws(payload):
    protected = b64u(json.dumps({"alg": "ES384", "typ": "JOSE+JSON", "x5c": x5c},
                                separators=(",", ":")).encode())
    body = b64u(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    der = leaf_key.sign((protected + "." + body).encode(), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")  # RFC 7518 §3.4
    return json.dumps({"payload": body, "protected": protected, "signature": b64u(sig)}) + "\n"


spki = kek.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
open(out_kek, "w").write(jws({
    "created": created, "exportable": False, "key_ops": ["import"], "key_size": kek.key_size,
    "kid": kid, "kty": "RSA-HSM", "module_esn": ESN, "public_key": b64u(spki),
    "public_key_sha256": hashlib.sha256(spki).hexdigest(), "region": REGION,
    "schema": "keytransfer-kek/1", "world_hash": WORLD_HASH}))
open(out_world, "w").write(jws({
    "cipher_suite": "KTv1-Ed25519-XChaCha20Poly1305-Argon2id", "created": created,
    "module_esns": [ESN], "region": REGION, "schema": "keytransfer-world/1",
    "world_hash": WORLD_HASH}))
print(WORLD_HASH)
