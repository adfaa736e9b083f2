#!/usr/bin/env python3
# make-root.py - how root-cert.pem was made from root-key.pem (python3-cryptography): a
# self-signed ECDSA P-384 root shaped like the DEMO root (packages/demo-vendor/), for the
# test-only programs built with its hash instead of the DEMO root's. Run in this folder; then
# put the printed hash into CMakeLists.txt here.
import datetime, hashlib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

key = serialization.load_pem_private_key(open("root-key.pem", "rb").read(), None)
name = x509.Name([
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keytransfer test vendor"),
    x509.NameAttribute(NameOID.COMMON_NAME, "keytransfer test vendor root - tests only"),
])
cert = (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2025, 1, 1))
        .not_valid_after(datetime.datetime(2045, 1, 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384()))
open("root-cert.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
print(hashlib.sha256(spki).hexdigest())
