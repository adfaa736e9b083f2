#!/usr/bin/env python3
"""verifykeypackage.py - verify a cloud's KEK package and security world package.

An independent second implementation of `keytransfer verify` (verify/include/verify.h): it makes the
same checks, in the same order, under the same names, and reaches the same verdicts, but shares
no code with it. Its only trust anchor is ROOT_SHA256 below: the SHA-256 of the HSM vendor's
root certificate's SubjectPublicKeyInfo. Compare it with the hash the vendor publishes.

Needs Python 3.7+ and pyca/cryptography 38 or newer (Debian's python3-cryptography), nothing
else. Usage:

    verifykeypackage.py -k KEKPKG -w WORLDPKG [--json]
    verifykeypackage.py --batch LISTFILE

Exit status: 0 verified, 1 a check failed, 2 usage, 3 malformed package, 4 unreadable file.
See verifykeypackage(1).
"""

import argparse
import base64
import calendar
import errno
import hashlib
import json
import os
import re
import stat
import sys
import time
import warnings

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write("verifykeypackage: python3-cryptography is required (%s)\n" % exc)
    sys.exit(5)

VERSION = "0.1.0"

# The trusted vendor root: SHA-256 of its SubjectPublicKeyInfo DER, lower-case hex. A build of
# keytransfer rewrites this one line with its KEYTRANSFER_ROOT_SHA256 (verify/CMakeLists.txt); the copy in
# the source tree trusts the DEMO root.
ROOT_SHA256 = "151c67afec1b75af01c18dfbbf379286cb890cf9b58999a6cc546ebf8991585a"

# The keytransfer DEMO root (packages/demo-vendor/), whose private key is public.
DEMO_ROOT_SHA256 = "151c67afec1b75af01c18dfbbf379286cb890cf9b58999a6cc546ebf8991585a"

REPORT_FORMAT = "keytransfer-verify/1"
KEK_SCHEMA = "keytransfer-kek/1"
WORLD_SCHEMA = "keytransfer-world/1"

EXIT_OK, EXIT_DENIED, EXIT_USAGE, EXIT_MALFORMED, EXIT_IO = 0, 1, 2, 3, 4

# Size limits of the package format (packages/include/pkg_*.h).
PACKAGE_MAX = 256 * 1024
PAYLOAD_MAX = 64 * 1024
HEADER_MAX = 64 * 1024
X5C_MAX = 5
CERT_MAX = 8192
SIGNATURE_LEN = 96
SPKI_MAX = 4096
JSON_DEPTH_MAX = 32
KEK_SIZES = (2048, 3072, 4096)

# The vendor certificate profile (docs/formats.md): exactly these three certificates, and on
# each only these extensions (by the DER of their OID); whether one may be critical.
CHAIN_LEN = 3  # the attestation leaf, the module warrant, the root
PATH_LEN_MAX = 255
# The attestation purpose: the OID under 2.25 of UUID 3aa30eec-7550-42df-84f8-1919df9260d0
# (ITU-T X.667), packages/include/pkg_x509.h PKG_EKU_ATTESTATION_OID. python3-cryptography 38 cannot parse
# an OID arc this large, which is one reason extensions are read here and not by pyca.
ATTESTATION_EKU = "2.25.77941870831353878035700664750549655760"

PROFILE_EXTENSIONS = {
    "2.5.29.19": ("basicConstraints", True),
    "2.5.29.15": ("keyUsage", True),
    "2.5.29.37": ("extendedKeyUsage", True),
    "2.5.29.14": ("subjectKeyIdentifier", False),
    "2.5.29.35": ("authorityKeyIdentifier", False),
}

# The checks, in the order they run: (name, what passing it establishes).
CHECKS = [
    ("format", "both files are well-formed ES384 JWS packages"),
    ("root-hash", "the KEK package's root has the embedded key hash"),
    ("chain", "the KEK package's certificates chain up to that root"),
    ("signature", "the KEK package's signature verifies with its leaf"),
    ("world-root-hash", "the world package's root has the embedded key hash"),
    ("world-chain", "the world package's certificates chain up to that root"),
    ("world-signature", "the world package's signature verifies with its leaf"),
    ("kek-payload", "the KEK payload is a strict " + KEK_SCHEMA),
    ("world-payload", "the world payload is a strict " + WORLD_SCHEMA),
    ("kek-type", "the KEK is an RSA-HSM key of 2048, 3072 or 4096 bits"),
    ("key-ops", 'the KEK allows exactly ["import"]'),
    ("exportable", "the KEK is not exportable"),
    ("module", "the KEK was generated in the module its warrant names"),
    ("fingerprint", "the KEK's public key matches its stated fingerprint"),
    ("world-hash", "the KEK belongs to the world package's world"),
    ("region", "the KEK and the world are for the same region"),
    ("world-modules", "the KEK's module belongs to that world"),
]

DEMO_WARNING = (
    "verifykeypackage: WARNING: this script trusts the keytransfer DEMO vendor root, whose\n"
    "verifykeypackage: WARNING: private key is public. Anyone can make packages that pass these\n"
    "verifykeypackage: WARNING: checks, so this verification proves nothing. For real use, run\n"
    "verifykeypackage: WARNING: the script built with your HSM vendor's root hash.\n"
)


class Refused(Exception):
    """A check said no. status is the exit status: 1, or 3 for malformed input."""

    def __init__(self, message, status=EXIT_DENIED):
        super().__init__(message)
        self.status = status


class Malformed(Refused):
    def __init__(self, message):
        super().__init__(message, EXIT_MALFORMED)


class Unreadable(Exception):
    """A file could not be read: not a verdict (exit 4)."""


def printable(text, limit=64):
    """Untrusted text made safe for a terminal: printable ASCII only, cut at limit."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    out = "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def utc(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def grouped(hex_digest):
    """A hash as vendors publish it: upper case, groups of 8 hex digits."""
    upper = hex_digest.upper()
    return " ".join(upper[i : i + 8] for i in range(0, len(upper), 8))


# --------------------------------------------------------------------------------------------
# Strict decoding: JSON, base64url, base64, DER framing
# --------------------------------------------------------------------------------------------


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError('duplicate member "%s"' % printable(key))
        obj[key] = value
    return obj


def _no_constant(name):
    raise ValueError("%s is not a JSON number" % name)


def _walk(value, depth):
    """Refuses what strict JSON readers refuse but Python's json accepts."""
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a string holds a NUL character")
        value.encode("utf-8")  # a lone surrogate escape (\ud800) raises here
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("an integer beyond 64 bits")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a number beyond the range of a double")
    else:
        if depth > JSON_DEPTH_MAX:
            raise ValueError("JSON nests deeper than %d levels" % JSON_DEPTH_MAX)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, member in items:
            if isinstance(key, str):
                _walk(key, depth)
            _walk(member, depth + 1)


def json_object(data, limit, what):
    """Exactly one JSON object of at most limit bytes, read strictly."""
    if len(data) > limit:
        raise Malformed("%s: %d bytes; the limit is %d" % (what, len(data), limit))
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, strict=True
        )
        _walk(value, 1)
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise Malformed("%s: not strict JSON: %s" % (what, printable(str(exc), 160)))
    if not isinstance(value, dict):
        raise Malformed("%s: not a JSON object" % what)
    return value


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64STD = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def unbase64url(text, what):
    """Unpadded base64url with exactly one spelling (RFC 7515 §2, RFC 4648 §5)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise Malformed("%s: not unpadded base64url" % what)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        raise Malformed("%s: base64url with bits beyond the data" % what)
    return raw


def unbase64(text, what):
    """Padded standard base64 with exactly one spelling (RFC 4648 §4), as x5c requires."""
    if not text or not _B64STD.fullmatch(text):
        raise Malformed("%s: not padded standard base64 (RFC 7515 §4.1.6)" % what)
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise Malformed("%s: base64 with bits beyond the data" % what)
    return raw


def der_elements(data):
    """The DER elements that fill data exactly, one after the other: a list of (tag, full
    encoding, contents). Single-byte tags, definite minimal lengths of at most 4 bytes."""

    def header(pos):
        if pos + 2 > len(data) or data[pos] & 0x1F == 0x1F:
            raise ValueError("truncated or unsupported DER")
        length, at = data[pos + 1], pos + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or at + count > len(data) or data[at] == 0:
                raise ValueError("bad DER length")
            length = int.from_bytes(data[at : at + count], "big")
            if length < 0x80:
                raise ValueError("non-minimal DER length")
            at += count
        if at + length > len(data):
            raise ValueError("truncated DER")
        return at, at + length

    elements, pos = [], 0
    while pos < len(data):
        start, end = header(pos)
        elements.append((data[pos], data[pos:end], data[start:end]))
        pos = end
    return elements


def der_single(data, tag):
    """The contents of the one DER element of the given tag that fills data."""
    elements = der_elements(data)
    if len(elements) != 1 or elements[0][0] != tag:
        raise ValueError("not one DER element of tag 0x%02x" % tag)
    return elements[0][2]


def der_parts(data):
    """The elements inside one DER SEQUENCE that fills data: a list of (tag, full encoding)."""
    if not data or data[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    return [(tag, full) for tag, full, _ in der_elements(der_single(data, 0x30))]


def oid_der(dotted):
    """The DER of OBJECT IDENTIFIER dotted (X.690 §8.19): base-128 subidentifiers, the first two
    arcs joined as 40 * first + second."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for value in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(chunk))
    return bytes([0x06, len(out)]) + bytes(out)


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


class Cert:
    """One x5c certificate: pyca's view plus the exact bytes of the fields compared here."""

    def __init__(self, der, where):
        self.der = der
        try:
            self.x509 = x509.load_der_x509_certificate(der)
            # pyca decodes names on first use; a name it cannot decode makes the certificate
            # malformed here, not a puzzle later.
            self.x509.subject.rfc4514_string()
            self.x509.issuer.rfc4514_string()
            outer = der_parts(der)  # Certificate ::= SEQUENCE { tbs, signatureAlgorithm, value }
            tbs = der_parts(outer[0][1])
            first = 1 if tbs[0][0] == 0xA0 else 0  # [0] EXPLICIT version, when present
            self.tbs = outer[0][1]
            self.outer_alg = outer[1][1]
            self.inner_alg = tbs[first + 1][1]
            self.issuer = tbs[first + 2][1]
            self.subject = tbs[first + 4][1]
            self.spki = tbs[first + 5][1]
            # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (pyca reads a
            # GeneralizedTime for any year).
            validity = der_parts(tbs[first + 3][1])
            years = (self.x509.not_valid_before.year, self.x509.not_valid_after.year)
            for (tag, _), year in zip(validity, years):
                if tag == 0x18 and year < 2050:
                    raise ValueError("a GeneralizedTime before 2050, where DER has a UTCTime")
            # [3] EXPLICIT Extensions, the last member of the TBSCertificate when present.
            self.extensions_der = tbs[-1][1] if tbs[-1][0] == 0xA3 else None
        except Exception as exc:  # noqa: BLE001 - pyca raises more than ValueError on bad DER
            reason = printable(str(exc), 300)
            raise Malformed("%s: not a DER X.509 certificate (%s)" % (where, reason))
        self.label = self._common_name()

    def _common_name(self):
        # pyca decodes names lazily and may raise anything on a damaged one: a label for
        # messages is never worth a refusal.
        try:
            names = self.x509.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            return printable(names[0].value) if names else "?"
        except Exception:  # noqa: BLE001
            return "?"

    def key(self):
        try:
            return self.x509.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None

    def window(self):
        return (
            calendar.timegm(self.x509.not_valid_before.utctimetuple()),
            calendar.timegm(self.x509.not_valid_after.utctimetuple()),
        )


def is_p384(key):
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"


def signed_by(cert, issuer_key, issuer_label):
    """RFC 5280 §6.1.3 (a)(1) in the vendor's profile: ECDSA-SHA384 by a P-384 key."""
    if cert.x509.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA384:
        raise Refused(
            'certificate "%s" is not signed with ECDSA-SHA384, the only algorithm vendor chains'
            " use" % cert.label
        )
    if cert.inner_alg != cert.outer_alg:
        raise Refused(
            'certificate "%s" names a different signature algorithm inside what it signs'
            % cert.label
        )
    if not is_p384(issuer_key):
        raise Refused(
            'the key of "%s" is not an ECDSA P-384 key, so it cannot have signed "%s"'
            % (issuer_label, cert.label)
        )
    try:
        issuer_key.verify(cert.x509.signature, cert.tbs, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise Refused(
            'the signature on certificate "%s" does not verify with the key of "%s"'
            % (cert.label, issuer_label)
        )


class Extensions:
    """The extensions of one certificate, read by hand against the vendor certificate profile
    (RFC 5280 §4.1, §4.2; docs/formats.md): pyca 38 cannot read the attestation purpose's OID,
    and a verifier whose library knows more or fewer extension types than another's would judge
    the same certificate differently. Each known extension is strict DER; any other extension,
    critical or not, is refused."""

    def __init__(self, cert):
        self.label = cert.label
        self.bc = self.ku = self.eku = self.ski = self.aki = None
        try:
            version = cert.x509.version
        except x509.InvalidVersion:
            version = None
        if version != x509.Version.v3:
            raise Refused('certificate "%s" is not an X.509 version 3 certificate' % cert.label)
        if cert.extensions_der is None:
            return
        try:
            listed = der_elements(der_single(der_single(cert.extensions_der, 0xA3), 0x30))
        except ValueError as exc:
            raise Refused('certificate "%s" has malformed extensions (%s)' % (cert.label, exc))
        known = {oid_der(dotted): value for dotted, value in PROFILE_EXTENSIONS.items()}
        seen = set()
        for tag, _, body in listed:
            oid, critical, value = self._framing(tag, body)
            if oid in seen:
                raise Refused('certificate "%s" repeats an extension' % cert.label)
            seen.add(oid)
            if oid not in known:
                raise Refused(
                    'certificate "%s" has %s extension %s outside the vendor certificate profile,'
                    " which allows basicConstraints, keyUsage, extendedKeyUsage,"
                    " subjectKeyIdentifier and authorityKeyIdentifier only"
                    % (cert.label, "a critical" if critical else "an", dotted_oid(oid))
                )
            name, may_be_critical = known[oid]
            if critical and not may_be_critical:
                raise Refused(
                    'certificate "%s" marks its %s critical; RFC 5280 requires it non-critical'
                    % (cert.label, name)
                )
            try:
                getattr(self, "_read_" + name)(value)
            except (ValueError, IndexError):
                raise Refused(
                    'certificate "%s" has a malformed %s extension (not DER)' % (cert.label, name)
                )

    def _framing(self, tag, body):
        """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }"""
        try:
            if tag != 0x30:
                raise ValueError("an extension is not a SEQUENCE")
            parts = der_elements(body)
            critical = False
            if len(parts) == 3 and parts[1][0] == 0x01:
                if parts[1][2] != b"\xff":  # DER: TRUE is 0xFF, and FALSE is left out
                    raise ValueError("a critical flag that is not DER")
                critical = True
                parts = [parts[0], parts[2]]
            if len(parts) != 2 or parts[0][0] != 0x06 or parts[1][0] != 0x04:
                raise ValueError("an extension is not OID, critical, value")
            return parts[0][1], critical, parts[1][2]
        except ValueError as exc:
            raise Refused('certificate "%s" has a malformed extension (%s)' % (self.label, exc))

    def _read_basicConstraints(self, value):
        """BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER
        (0..MAX) OPTIONAL }"""
        parts = der_elements(der_single(value, 0x30))
        ca, path_len = False, None
        if parts and parts[0][0] == 0x01:
            if parts[0][2] != b"\xff":  # an encoded DEFAULT FALSE, or a TRUE that is not 0xFF
                raise ValueError("cA is not DER")
            ca, parts = True, parts[1:]
        if parts and parts[0][0] == 0x02:
            path_len, parts = der_integer(parts[0][2]), parts[1:]
        if parts:
            raise ValueError("unexpected members")
        self.bc = (ca, path_len)

    def _read_keyUsage(self, value):
        body = der_single(value, 0x03)
        if len(body) < 2 or body[0] > 7 or body[-1] & ((1 << body[0]) - 1):
            raise ValueError("not a DER BIT STRING")
        self.ku = body

    def _read_extendedKeyUsage(self, value):
        purposes = der_elements(der_single(value, 0x30))
        if any(tag != 0x06 for tag, _, _ in purposes):
            raise ValueError("a purpose is not an OID")
        self.eku = [full for _, full, _ in purposes]

    def _read_subjectKeyIdentifier(self, value):
        self.ski = der_single(value, 0x04)

    def _read_authorityKeyIdentifier(self, value):
        self.aki = der_elements(der_single(value, 0x30))

    def usage(self, bit):
        """keyUsage bit number bit (RFC 5280 §4.2.1.3), 0 = digitalSignature."""
        data = self.ku[1:] if self.ku is not None else b""
        return bit // 8 < len(data) and bool(data[bit // 8] & (0x80 >> (bit % 8)))

    def rules(self):
        """What the profile asks of each extension, whatever the certificate's place."""
        label = self.label
        if self.bc is not None and self.bc[1] is not None:
            if not self.bc[0]:
                raise Refused(
                    'certificate "%s" states a path length but is not a CA (RFC 5280 §4.2.1.9)'
                    % label
                )
            if not 0 <= self.bc[1] <= PATH_LEN_MAX:
                raise Refused(
                    'certificate "%s" has a path length outside 0 to %d' % (label, PATH_LEN_MAX)
                )
        # X.690 §11.2.2: a DER named bit list ends with a one bit, and keyUsage names one.
        if self.ku is not None and (len(self.ku) < 2 or not (self.ku[-1] >> self.ku[0]) & 1):
            raise Refused(
                'certificate "%s" has a keyUsage with no usage or with trailing zero bits (not DER)'
                % label
            )
        if self.eku is not None and not self.eku:
            raise Refused('certificate "%s" has an empty extendedKeyUsage' % label)
        if self.ski is not None and not self.ski:
            raise Refused('certificate "%s" has an empty subjectKeyIdentifier' % label)
        if self.aki is not None and (
            len(self.aki) != 1 or self.aki[0][0] != 0x80 or not self.aki[0][2]
        ):
            raise Refused(
                'certificate "%s" has an authorityKeyIdentifier that is not a key identifier'
                " alone (the profile names the issuer by its key identifier only)" % label
            )


def der_integer(body):
    """The value of a DER INTEGER's contents (X.690 §8.3: minimal two's complement)."""
    if not body or len(body) > 1 and (body[0], body[1] & 0x80) in ((0, 0), (0xFF, 0x80)):
        raise ValueError("not a DER INTEGER")
    return int.from_bytes(body, "big", signed=True)


def dotted_oid(der):
    """The dotted text of an OID's DER, for messages ("?" when it is not one)."""
    try:
        body, arcs, value = der_single(der, 0x06), [], 0
        for byte in body:
            value = value << 7 | byte & 0x7F
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])
    except (ValueError, IndexError):
        return "?"


def certificate_rules(cert, position, now):
    """What each certificate must be by itself, at its position: 0 the attestation leaf, 1 the
    module warrant, 2 the root. Returns its extensions."""
    exts = Extensions(cert)
    exts.rules()
    not_before, not_after = cert.window()
    if now < not_before:
        raise Refused(
            'certificate "%s" is not valid before %s (now: %s)'
            % (cert.label, utc(max(not_before, 0)), utc(now))
        )
    if now > not_after:
        raise Refused(
            'certificate "%s" expired at %s (now: %s)'
            % (cert.label, utc(max(not_after, 0)), utc(now))
        )
    is_ca = exts.bc is not None and exts.bc[0]
    if position == 0:
        if is_ca:
            raise Refused(
                'the attestation certificate "%s" (x5c[0]) is a CA; the signer of a package must'
                " be an end-entity certificate" % cert.label
            )
        if not exts.usage(0):
            raise Refused(
                'the attestation certificate "%s" (x5c[0]) is not allowed to sign: its keyUsage'
                " lacks digitalSignature" % cert.label
            )
        if exts.eku is None:
            raise Refused(
                'the attestation certificate "%s" (x5c[0]) has no extendedKeyUsage; a vendor'
                " attestation key carries the attestation purpose %s"
                % (cert.label, ATTESTATION_EKU)
            )
        if exts.eku != [oid_der(ATTESTATION_EKU)]:
            raise Refused(
                'the attestation certificate "%s" (x5c[0]) is for other purposes than vendor'
                " attestation: its extendedKeyUsage must be %s alone"
                % (cert.label, ATTESTATION_EKU)
            )
        return exts
    if not is_ca:
        raise Refused(
            'certificate "%s" issues another certificate but is not a CA (basicConstraints CA'
            " is not true)" % cert.label
        )
    if not exts.usage(5):
        raise Refused(
            'certificate "%s" issues another certificate but its keyUsage lacks keyCertSign'
            % cert.label
        )
    if exts.eku is not None:
        raise Refused(
            'CA certificate "%s" (x5c[%d]) has an extendedKeyUsage; in a vendor chain only the'
            " attestation leaf states a purpose" % (cert.label, position)
        )
    limit = exts.bc[1]
    if position == 1 and limit != 0:
        raise Refused(
            'the module warrant "%s" (x5c[1]) must be a CA with path length 0, so that it'
            " certifies attestation keys only; it %s"
            % (cert.label, "states no path length" if limit is None else "allows CAs below it")
        )
    if position != 1 and limit == 0:
        raise Refused(
            'certificate "%s" allows no CA certificate below it, but the module warrant is one'
            % cert.label
        )
    return exts


# --------------------------------------------------------------------------------------------
# Packages: envelope and payloads
# --------------------------------------------------------------------------------------------


class Package:
    """A JWS in flattened JSON serialization (RFC 7515 §7.2.2), read strictly."""

    def __init__(self, data, what):
        self.what = what
        top = json_object(data, PACKAGE_MAX, what)
        if "header" in top:
            raise Malformed(
                '%s: an unprotected "header" is not accepted; everything must be in the'
                " protected header" % what
            )
        extra = sorted(set(top) - {"protected", "payload", "signature"})
        if extra:
            raise Malformed('%s: unknown member "%s"' % (what, printable(extra[0])))
        for member in ("protected", "payload", "signature"):
            if not isinstance(top.get(member), str):
                raise Malformed('%s: member "%s" is missing or not a string' % (what, member))
        self._read_header(top["protected"])
        self._read_signature(top["signature"])
        if len(top["payload"]) > (PAYLOAD_MAX + 2) // 3 * 4:
            raise Malformed("%s: the payload is over %d bytes" % (what, PAYLOAD_MAX))
        self.payload = unbase64url(top["payload"], what + ": payload")
        if not self.payload:
            raise Malformed("%s: the payload is empty" % what)
        # RFC 7515 §5.2 step 8: the signing input is the two encoded strings as received.
        self.signing_input = (top["protected"] + "." + top["payload"]).encode("ascii")

    def _read_header(self, encoded):
        what = self.what + ": protected header"
        header = json_object(unbase64url(encoded, what), HEADER_MAX, what)
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Malformed('%s: "alg" is missing or not a string' % what)
        if alg != "ES384":
            # Whatever else the header says: only ES384 is ever accepted (a refusal, not a
            # malformed file: an algorithm swap is a forgery attempt).
            raise Refused(
                '%s: algorithm "%s" is not accepted; packages are signed with ES384'
                % (what, printable(alg))
            )
        if "crit" in header:
            raise Malformed('%s: critical extensions ("crit") are not supported' % what)
        extra = sorted(set(header) - {"alg", "typ", "x5c"})
        if extra:
            raise Malformed('%s: unknown member "%s"' % (what, printable(extra[0])))
        if header.get("typ") != "JOSE+JSON":
            raise Malformed('%s: "typ" must be "JOSE+JSON"' % what)
        chain = header.get("x5c")
        if not isinstance(chain, list) or not 1 <= len(chain) <= X5C_MAX:
            raise Malformed("%s: x5c must list 1 to %d certificates" % (what, X5C_MAX))
        self.chain = []
        for i, entry in enumerate(chain):
            where = "%s: x5c[%d]" % (what, i)
            if not isinstance(entry, str) or len(entry) > (CERT_MAX + 2) // 3 * 4:
                raise Malformed("%s: not a certificate of at most %d bytes" % (where, CERT_MAX))
            der = unbase64(entry, where)
            if len(der) > CERT_MAX:
                raise Malformed("%s: over %d bytes" % (where, CERT_MAX))
            self.chain.append(Cert(der, where))

    def _read_signature(self, encoded):
        what = self.what + ": signature"
        if len(encoded) > 512:
            raise Malformed("%s: %d characters; ES384 needs 128" % (what, len(encoded)))
        sig = unbase64url(encoded, what)
        if len(sig) != SIGNATURE_LEN:
            hint = " of DER" if sig[:1] == b"\x30" else ""
            raise Malformed(
                "%s: %d bytes%s; ES384 requires the raw r||s form of exactly %d bytes"
                " (RFC 7518 §3.4)" % (what, len(sig), hint, SIGNATURE_LEN)
            )
        self.signature = sig

    # -- the three authentication checks ---------------------------------------------------

    def check_root(self):
        root = self.chain[-1]
        digest = hashlib.sha256(root.spki).hexdigest()
        if digest != ROOT_SHA256:
            raise Refused(
                '%s: the root certificate "%s" has the key hash %s, not the embedded root hash'
                " %s: it was not made under the trusted vendor root"
                % (self.what, root.label, grouped(digest), grouped(ROOT_SHA256))
            )
        if root.subject != root.issuer:
            raise Refused(
                '%s: the root certificate "%s" is not self-issued' % (self.what, root.label)
            )
        try:
            signed_by(root, root.key(), root.label)
        except Refused as exc:
            raise Refused("%s: the root is not self-signed: %s" % (self.what, exc))
        return '%s: the root "%s" (x5c[%d]) has the embedded key hash and signs itself' % (
            self.what,
            root.label,
            len(self.chain) - 1,
        )

    def check_chain(self, now):
        if len(self.chain) != CHAIN_LEN:
            raise Refused(
                "%s: x5c holds %d certificate(s); a vendor chain is exactly %d: the attestation"
                " leaf, the module warrant and the root" % (self.what, len(self.chain), CHAIN_LEN)
            )
        try:
            exts = [certificate_rules(cert, i, now) for i, cert in enumerate(self.chain)]
            for position, cert in enumerate(self.chain):
                up = min(position + 1, len(self.chain) - 1)  # the root issues itself
                issuer = self.chain[up]
                # RFC 5280 §4.2.1.1: the authority key identifier is the issuer's subject key
                # identifier, when both are there (as `openssl verify` holds them).
                aki, ski = exts[position].aki, exts[up].ski
                if aki is not None and ski is not None and aki[0][2] != ski:
                    raise Refused(
                        'certificate "%s" names another authority key identifier than the subject'
                        ' key identifier of "%s"' % (cert.label, issuer.label)
                    )
                if up == position:
                    break
                if cert.issuer != issuer.subject:
                    raise Refused(
                        'certificate "%s" (x5c[%d]) was not issued by the next one in x5c, "%s":'
                        " x5c must run from the attestation leaf up to the root, in order"
                        % (cert.label, position, issuer.label)
                    )
                signed_by(cert, issuer.key(), issuer.label)
        except Refused as exc:
            raise Refused("%s: %s" % (self.what, exc))
        return (
            '%s: %d certificates (leaf, warrant, root), each signed by the next and valid now;'
            ' signer "%s", for vendor attestation'
            % (self.what, len(self.chain), self.chain[0].label)
        )

    def check_signature(self):
        leaf = self.chain[0]
        key = leaf.key()
        if not is_p384(key):
            raise Refused(
                '%s: the key of "%s" is not an ECDSA P-384 key, so it cannot have made an ES384'
                " signature" % (self.what, leaf.label)
            )
        # RFC 7518 §3.4: r and s, 48 big-endian bytes each; pyca takes DER, so re-encode.
        r = int.from_bytes(self.signature[:48], "big")
        s = int.from_bytes(self.signature[48:], "big")
        try:
            key.verify(encode_dss_signature(r, s), self.signing_input, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            raise Refused(
                '%s: the ES384 signature does not verify with the key of "%s": the package was'
                " altered or signed by another key" % (self.what, leaf.label)
            )
        return '%s: the ES384 signature verifies with the key of "%s"' % (self.what, leaf.label)

    def warrant_esn(self):
        """The module ESN certified by the warrant, x5c[1], right above the attestation leaf."""
        if len(self.chain) < 3:
            raise Refused(
                "%s: x5c holds %d certificate(s), so no module warrant stands between the"
                " attestation key and the root" % (self.what, len(self.chain))
            )
        warrant = self.chain[1]
        try:
            names = warrant.x509.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        except Exception:  # noqa: BLE001 - a name pyca cannot decode names no module
            names = None
        if not names:
            raise Refused(
                '%s: the module warrant "%s" (x5c[1]) names no module (no serialNumber in its'
                " subject)" % (self.what, warrant.label)
            )
        if len(names) > 1:
            raise Refused(
                '%s: the module warrant "%s" (x5c[1]) names more than one module'
                % (self.what, warrant.label)
            )
        esn = names[0].value
        if not isinstance(esn, str) or len(esn.encode("utf-8")) > 14 or "\0" in esn:
            raise Refused(
                '%s: the module warrant "%s" (x5c[1]) names module "%s", which is not a module'
                " ESN" % (self.what, warrant.label, printable(esn))
            )
        return esn


_TOKEN = re.compile(r"[A-Za-z0-9-]+")
_OP = re.compile(r"[A-Za-z0-9_-]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ESN = re.compile(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}")
_REGION = re.compile(r"[A-Z0-9]{1,16}")
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_KEY_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_KEY_VERSION = re.compile(r"[0-9a-f]{32}")


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "an array"}


class Payload:
    """Typed, shaped access to one payload's members; every failure is malformed input."""

    def __init__(self, doc, what, members):
        self.doc, self.what = doc, what
        extra = sorted(set(doc) - set(members))
        if extra:
            raise Malformed('%s: unknown member "%s"' % (what, printable(extra[0])))

    def fail(self, member, rule):
        raise Malformed("%s: %s %s" % (self.what, member, rule))

    def get(self, member, kind):
        if member not in self.doc:
            self.fail(member, "is missing")
        value = self.doc[member]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            self.fail(member, "must be " + _KIND_NAMES[kind])
        return value

    def text(self, member, pattern, max_bytes):
        value = self.get(member, str)
        if not 1 <= len(value.encode("utf-8")) <= max_bytes or not pattern.fullmatch(value):
            self.fail(member, "is not of the required form")
        return value

    def hash(self, member):
        return self.text(member, _HEX64, 64)

    def time(self, member):
        value = self.get(member, str)
        match = _TIME.fullmatch(value)
        if not match:
            self.fail(member, "must be a UTC time written YYYY-MM-DDThh:mm:ssZ")
        y, mo, d, h, mi, s = (int(g) for g in match.groups())
        if (
            y < 1970
            or not 1 <= mo <= 12
            or not 1 <= d <= calendar.monthrange(y, mo)[1]
            or h > 23
            or mi > 59
            or s > 59
        ):
            self.fail(member, "is not a real time from 1970 on")
        return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def read_schema(doc, want, other, what):
    schema = doc.get("schema")
    if not isinstance(schema, str):
        raise Malformed('%s: "schema" is missing or not a string' % what)
    if schema == want:
        return
    if schema.startswith(want.split("/")[0] + "/"):
        raise Malformed(
            '%s: schema "%s" is not supported; this reads %s' % (what, printable(schema), want)
        )
    if schema == other:
        raise Malformed(
            "%s: this is a %s payload, not a %s one (were the KEK package and the world package"
            " swapped?)" % (what, other, want)
        )
    raise Malformed('%s: schema "%s" is not %s' % (what, printable(schema), want))


def kid_is_valid(kid):
    """A Key Vault key URL with its version: https://HOST/keys/NAME/VERSION (packages/byok.c)."""
    if len(kid) > 511 or not kid.startswith("https://"):
        return False
    host, _, path = kid[len("https://") :].partition("/")
    labels = host.split(".")
    if not 1 <= len(host) <= 253 or len(labels) < 2 or labels[-1].isdigit():
        return False
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    parts = path.split("/")
    return (
        len(parts) == 3
        and parts[0] == "keys"
        and _KEY_NAME.fullmatch(parts[1]) is not None
        and _KEY_VERSION.fullmatch(parts[2]) is not None
    )


# The DER of OBJECT IDENTIFIER rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 appendix C).
RSA_ENCRYPTION_OID = bytes.fromhex("06092a864886f70d010101")


def spki_algorithm(der):
    """The OBJECT IDENTIFIER (its DER) of a SubjectPublicKeyInfo's algorithm."""
    try:
        return der_parts(der_parts(der)[0][1])[0][1]
    except (ValueError, IndexError):
        return b""


def spki_key(der, what):
    """A SubjectPublicKeyInfo that fills der exactly; None when well-formed but of a type pyca
    does not know (it is then simply not an RSA key)."""
    try:
        der_parts(der)
        return serialization.load_der_public_key(der)
    except UnsupportedAlgorithm:
        return None
    except ValueError:
        raise Malformed("%s: public_key is not a DER SubjectPublicKeyInfo" % what)


class KekStatement:
    MEMBERS = (
        "schema", "kid", "kty", "key_size", "key_ops", "exportable", "public_key",
        "public_key_sha256", "module_esn", "region", "world_hash", "created",
    )  # fmt: skip

    def __init__(self, data):
        what = "KEK package: KEK payload"
        doc = json_object(data, PAYLOAD_MAX, what)
        read_schema(doc, KEK_SCHEMA, WORLD_SCHEMA, what)
        p = Payload(doc, what, self.MEMBERS)
        self.kid = p.get("kid", str)
        if not kid_is_valid(self.kid):
            p.fail(
                "kid", "must be the KEK's key URL https://VAULT.vault.azure.net/keys/NAME/VERSION"
            )
        self.kty = p.text("kty", _TOKEN, 32)
        self.key_size = p.get("key_size", int)
        if not 1 <= self.key_size <= 65536:
            p.fail("key_size", "must be 1 to 65536")
        self.key_ops = p.get("key_ops", list)
        if len(self.key_ops) > 16 or not all(
            isinstance(op, str) and 1 <= len(op.encode("utf-8")) <= 32 and _OP.fullmatch(op)
            for op in self.key_ops
        ):
            p.fail("key_ops", "must list at most 16 operation names")
        self.exportable = p.get("exportable", bool)
        encoded = p.get("public_key", str)
        if not 1 <= len(encoded) <= (SPKI_MAX + 2) // 3 * 4:
            p.fail("public_key", "must be 1 to %d bytes of SPKI DER" % SPKI_MAX)
        self.public_key = unbase64url(encoded, what + ": public_key")
        if not 1 <= len(self.public_key) <= SPKI_MAX:
            p.fail("public_key", "must be 1 to %d bytes of SPKI DER" % SPKI_MAX)
        self.public_key_sha256 = p.hash("public_key_sha256")
        self.module_esn = p.text("module_esn", _ESN, 14)
        self.region = p.text("region", _REGION, 16)
        self.world_hash = p.hash("world_hash")
        self.created = p.time("created")
        self.key = spki_key(self.public_key, what)

    def facts(self):
        return {
            "kid": self.kid,
            "kty": self.kty,
            "key_size": self.key_size,
            "key_ops": list(self.key_ops),
            "exportable": self.exportable,
            "public_key_sha256": self.public_key_sha256,
            "module_esn": self.module_esn,
            "region": self.region,
            "world_hash": self.world_hash,
            "created": utc(self.created),
        }


class WorldStatement:
    MEMBERS = ("schema", "world_hash", "region", "cipher_suite", "module_esns", "created")

    def __init__(self, data):
        what = "world package: world payload"
        doc = json_object(data, PAYLOAD_MAX, what)
        read_schema(doc, WORLD_SCHEMA, KEK_SCHEMA, what)
        p = Payload(doc, what, self.MEMBERS)
        self.world_hash = p.hash("world_hash")
        self.region = p.text("region", _REGION, 16)
        self.cipher_suite = p.text("cipher_suite", _OP, 63)
        self.module_esns = p.get("module_esns", list)
        if not 1 <= len(self.module_esns) <= 16 or not all(
            isinstance(esn, str) and _ESN.fullmatch(esn) for esn in self.module_esns
        ):
            p.fail("module_esns", "must list 1 to 16 module ESNs XXXX-XXXX-XXXX")
        self.created = p.time("created")

    def facts(self):
        return {
            "world_hash": self.world_hash,
            "region": self.region,
            "cipher_suite": self.cipher_suite,
            "module_esns": list(self.module_esns),
            "created": utc(self.created),
        }


# --------------------------------------------------------------------------------------------
# The verification
# --------------------------------------------------------------------------------------------


class Verification:
    """Runs CHECKS in order over the bytes of the two files; stops at the first refusal."""

    def __init__(self, kek_data, world_data, now):
        self.inputs = (kek_data, world_data)
        self.now = now
        self.kek_pkg = self.world_pkg = None
        self.kek = self.world = None
        self.outcomes = []  # (name, "pass" | "fail", detail) for each check that ran
        self.failure = None  # (name, message, exit status)

    def run(self):
        for name, _ in CHECKS:
            method = getattr(self, "check_" + name.replace("-", "_"))
            try:
                detail = method()
            except Refused as exc:
                self.outcomes.append((name, "fail", str(exc)))
                self.failure = (name, str(exc), exc.status)
                return self
            except Exception as exc:  # noqa: BLE001 - fail closed, and say so
                message = "unexpected %s while checking: %s" % (
                    type(exc).__name__,
                    printable(str(exc), 160),
                )
                self.outcomes.append((name, "fail", message))
                self.failure = (name, message, EXIT_DENIED)
                return self
            self.outcomes.append((name, "pass", detail))
        return self

    @property
    def status(self):
        return EXIT_OK if self.failure is None else self.failure[2]

    # -- authentication ------------------------------------------------------------------------

    def check_format(self):
        for data in self.inputs:
            if isinstance(data, Refused):  # a file over the size limit, found while reading
                raise data
        self.kek_pkg = Package(self.inputs[0], "KEK package")
        self.world_pkg = Package(self.inputs[1], "world package")
        return "both packages are JWS (ES384, flattened JSON) with %d and %d certificates" \
            " in x5c" % (len(self.kek_pkg.chain), len(self.world_pkg.chain))

    def check_root_hash(self):
        return self.kek_pkg.check_root()

    def check_chain(self):
        return self.kek_pkg.check_chain(self.now)

    def check_signature(self):
        return self.kek_pkg.check_signature()

    def check_world_root_hash(self):
        return self.world_pkg.check_root()

    def check_world_chain(self):
        return self.world_pkg.check_chain(self.now)

    def check_world_signature(self):
        return self.world_pkg.check_signature()

    # -- payloads, read only now that both signatures verify ----------------------------------

    def check_kek_payload(self):
        self.kek = KekStatement(self.kek_pkg.payload)
        return "KEK package: a %s payload" % KEK_SCHEMA

    def check_world_payload(self):
        self.world = WorldStatement(self.world_pkg.payload)
        return "world package: a %s payload" % WORLD_SCHEMA

    # -- the KEK -------------------------------------------------------------------------------

    def check_kek_type(self):
        kek = self.kek
        if kek.kty != "RSA-HSM":
            raise Refused(
                'the KEK\'s kty is "%s"; a KEK must be "RSA-HSM" (an RSA key held in an HSM)'
                % printable(kek.kty)
            )
        if kek.key_size not in KEK_SIZES:
            raise Refused(
                "the KEK's key_size is %d; a KEK must be RSA 2048, 3072 or 4096" % kek.key_size
            )
        # pyca hands out an RSAPublicKey for an RSASSA-PSS key too: the algorithm decides.
        if spki_algorithm(kek.public_key) != RSA_ENCRYPTION_OID or not isinstance(
            kek.key, rsa.RSAPublicKey
        ):
            raise Refused("the KEK's public_key is not an RSA (rsaEncryption) key")
        if kek.key.key_size != kek.key_size:
            raise Refused(
                "the KEK's public_key is RSA-%d, but its key_size says %d bits"
                % (kek.key.key_size, kek.key_size)
            )
        exponent = kek.key.public_numbers().e
        if exponent < 3 or exponent % 2 == 0:
            raise Refused("the KEK's RSA public exponent is not an odd number of at least 3")
        return "RSA-HSM, %d bits" % kek.key.key_size

    def check_key_ops(self):
        if self.kek.key_ops != ["import"]:
            raise Refused(
                'the KEK\'s key_ops is %s; a KEK must allow exactly ["import"] so that it can only'
                " unwrap keys into its HSM" % json.dumps(self.kek.key_ops, separators=(",", ":"))
            )
        return 'key_ops is exactly ["import"]'

    def check_exportable(self):
        if self.kek.exportable is not False:
            raise Refused(
                "the KEK package states the KEK is exportable: a KEK that can leave its HSM must"
                " not be trusted with a key"
            )
        return "the KEK cannot be exported from its HSM"

    def check_module(self):
        esn = self.kek_pkg.warrant_esn()
        warrant = self.kek_pkg.chain[1].label
        if esn != self.kek.module_esn:
            raise Refused(
                'the KEK package says the KEK was generated in module %s, but its attestation key'
                ' is warranted for module %s ("%s")'
                % (self.kek.module_esn, printable(esn), warrant)
            )
        return 'generated in module %s, named by the warrant "%s"' % (esn, warrant)

    def check_fingerprint(self):
        digest = hashlib.sha256(self.kek.public_key).hexdigest()
        if digest != self.kek.public_key_sha256:
            raise Refused(
                "the KEK package states the fingerprint %s, but its public_key hashes to %s"
                % (self.kek.public_key_sha256, digest)
            )
        canonical = self.kek.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if canonical != self.kek.public_key:
            raise Refused(
                "the KEK's public_key is not the canonical DER encoding of its key, so its"
                " fingerprint is ambiguous"
            )
        return "SHA-256 of public_key is the stated %s" % digest

    # -- the KEK against the world -------------------------------------------------------------

    def check_world_hash(self):
        if self.kek.world_hash != self.world.world_hash:
            raise Refused(
                "the KEK belongs to security world %s, but the world package is for world %s"
                % (self.kek.world_hash, self.world.world_hash)
            )
        return "the KEK belongs to the world package's world %s" % self.world.world_hash

    def check_region(self):
        if self.kek.region != self.world.region:
            raise Refused(
                "the KEK is from region %s, but the world package is for region %s"
                % (self.kek.region, self.world.region)
            )
        return "both are for region %s" % self.world.region

    def check_world_modules(self):
        if self.kek.module_esn not in self.world.module_esns:
            raise Refused(
                "the KEK was generated in module %s, which the world package does not list among"
                " the world's modules" % self.kek.module_esn
            )
        attester = self.world_pkg.warrant_esn()
        if attester not in self.world.module_esns:
            raise Refused(
                "the world package was attested by module %s, which it does not list among the"
                " world's modules" % printable(attester)
            )
        return "module %s is one of the world's %d module(s); module %s attested it" % (
            self.kek.module_esn,
            len(self.world.module_esns),
            attester,
        )

    # -- reports -------------------------------------------------------------------------------

    def report(self):
        ran = {name: (result, detail) for name, result, detail in self.outcomes}
        failed = self.failure[0] if self.failure else None
        return {
            "format": REPORT_FORMAT,
            "verifier": "verifykeypackage.py " + VERSION,
            "root": {
                "sha256": ROOT_SHA256,
                "sha256_groups": grouped(ROOT_SHA256),
                "demo": ROOT_SHA256 == DEMO_ROOT_SHA256,
            },
            "time": utc(self.now),
            "checks": [
                {
                    "name": name,
                    "result": ran.get(name, ("not-run", ""))[0],
                    "detail": ran.get(name, ("", ""))[1],
                }
                for name, _ in CHECKS
            ],
            "kek": self.kek.facts() if self.kek else None,
            "world": self.world.facts() if self.world else None,
            "result": "SUCCESS" if failed is None else "FAILURE",
            "failed_check": failed,
            "reason": None if failed is None else "%s: %s" % (failed, self.failure[1]),
            "exit_status": self.status,
        }


def read_package(path, what):
    """The bytes of a regular file (links are not followed), or a Malformed refusal when it is
    over the size limit (a verdict: the format check reports it)."""
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unreadable("%s '%s' is a symbolic link; refusing to read it" % (what, path))
        raise Unreadable("cannot open %s '%s': %s" % (what, path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("%s '%s' is not a regular file" % (what, path))
        chunks, size = [], 0
        while size <= PACKAGE_MAX:
            chunk = os.read(fd, PACKAGE_MAX + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise Unreadable("cannot read %s '%s': %s" % (what, path, exc.strerror))
    finally:
        os.close(fd)
    if size > PACKAGE_MAX:
        return Malformed("%s: '%s' is over the limit of %d bytes" % (what, path, PACKAGE_MAX))
    return b"".join(chunks)


def verify_files(kek_path, world_path, now=None):
    """Reads and verifies the two files; raises Unreadable when one cannot be read."""
    kek_data = read_package(kek_path, "KEK package")
    world_data = read_package(world_path, "world package")
    return Verification(kek_data, world_data, int(time.time()) if now is None else now).run()


def print_text(kek_path, world_path, v):
    report = v.report()
    out = sys.stdout
    out.write("KEK package:    %s\nWorld package:  %s\n\n" % (kek_path, world_path))
    out.write(
        "Vendor root key hash embedded in this verifier (SHA-256 of its SubjectPublicKeyInfo);\n"
        "compare it with the hash your HSM vendor publishes:\n    %s\n" % grouped(ROOT_SHA256)
    )
    if report["root"]["demo"]:
        out.write(
            "    This is the keytransfer DEMO root: its private key is public, so this\n"
            "    verification proves nothing.\n"
        )
    out.write("\nChecks:\n")
    labels = {"pass": "pass", "fail": "FAIL", "not-run": "not run"}
    for check in report["checks"]:
        line = "    %-8s %-16s %s" % (labels[check["result"]], check["name"], check["detail"])
        out.write(line.rstrip() + "\n")
    verified = ", verified" if v.failure is None else ""
    if v.kek:
        k = report["kek"]
        out.write(
            "\nKEK (as its package states it%s):\n"
            "    kid          %s\n"
            "    type         %s, %d bits\n"
            "    fingerprint  %s (SHA-256 of its SubjectPublicKeyInfo)\n"
            "    module       %s\n"
            "    region       %s\n"
            % (
                verified,
                k["kid"],
                k["kty"],
                k["key_size"],
                k["public_key_sha256"],
                k["module_esn"],
                k["region"],
            )
        )
    if v.world:
        w = report["world"]
        out.write(
            "\nTarget security world (as its package states it%s):\n"
            "    world hash   %s\n"
            "    region       %s\n"
            "    cipher suite %s\n"
            "    modules      %s\n"
            % (
                verified,
                w["world_hash"],
                w["region"],
                w["cipher_suite"],
                ", ".join(w["module_esns"]),
            )
        )
    if v.failure is None:
        out.write("\nResult: SUCCESS\n")
    else:
        out.write("\nResult: FAILURE: %s\n" % report["reason"])


def run_batch(list_path):
    """--batch: one "KEKPKG<TAB>WORLDPKG" pair a line; one compact JSON report a line. The exit
    status is the highest of the pairs' statuses."""
    try:
        with open(list_path, "r", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeError) as exc:
        sys.stderr.write("verifykeypackage: cannot read '%s': %s\n" % (list_path, exc))
        return EXIT_IO
    worst = EXIT_OK
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        paths = line.split("\t")
        if len(paths) != 2:
            sys.stderr.write(
                "verifykeypackage: %s:%d: expected KEKPKG<TAB>WORLDPKG\n" % (list_path, number)
            )
            return EXIT_USAGE
        try:
            report = verify_files(paths[0], paths[1]).report()
        except Unreadable as exc:
            report = {"result": "ERROR", "reason": str(exc), "exit_status": EXIT_IO}
        report["kek_package"], report["world_package"] = paths
        sys.stdout.write(json.dumps(report, sort_keys=True, separators=(",", ":")) + "\n")
        worst = max(worst, report["exit_status"])
    return worst


def main(argv=None):
    warnings.simplefilter("ignore")  # pyca's deprecation notes about odd certificates
    parser = argparse.ArgumentParser(
        prog="verifykeypackage.py",
        description="Check that a cloud's KEK and security world were attested by a genuine "
        "vendor HSM under the embedded root, that the KEK can only import and never be "
        "exported, and that it belongs to that world.",
    )
    parser.add_argument("-k", "--kek-package", metavar="FILE", help="the KEK package")
    parser.add_argument("-w", "--world-package", metavar="FILE", help="the world package")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--batch",
        metavar="LISTFILE",
        help="verify many pairs: one KEKPKG<TAB>WORLDPKG a line, one JSON report a line",
    )
    parser.add_argument("--version", action="version", version="%(prog)s " + VERSION)
    args = parser.parse_args(argv)
    if args.batch is not None:
        if args.kek_package or args.world_package or args.json:
            parser.error("--batch takes no -k, -w or --json")
    elif not args.kek_package or not args.world_package:
        parser.error("give the KEK package with -k FILE and the world package with -w FILE")
    if ROOT_SHA256 == DEMO_ROOT_SHA256:
        sys.stderr.write(DEMO_WARNING)
    if args.batch is not None:
        return run_batch(args.batch)
    try:
        v = verify_files(args.kek_package, args.world_package)
    except Unreadable as exc:
        sys.stderr.write("verifykeypackage: %s\n" % exc)
        return EXIT_IO
    if args.json:
        report = v.report()
        report["kek_package"], report["world_package"] = args.kek_package, args.world_package
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    else:
        print_text(args.kek_package, args.world_package, v)
    return v.status


if __name__ == "__main__":
    sys.exit(main())
