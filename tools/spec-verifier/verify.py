#!/usr/bin/env python3
"""Independent receipt and status-proof verifier for the evidence ledger, written from SPEC.md
alone (SPEC.md version 11: genesis v3, block header v3, receipt v1 and v2 with hand-offs and
the filer's registration and revocation, status proof v1 with its state proofs and the status
of a receipt's version; Ed25519 and SM2 signatures, the national suite).

Standard library only (Python 3.11). BLAKE3, Ed25519 and SM2 (on Python integers) are
implemented here; SHA-256, SHA-512 and SM3 come from hashlib (SM3 through the local OpenSSL:
where it is missing, anything that needs SM3 fails with a message saying so).

Usage:
    verify.py --genesis G --receipt R --document FILE
    verify.py --genesis G --status-proof S [--receipt R --document FILE]
    verify.py --vectors DIR
    verify.py --self-test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import struct
import sys

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class VerifyError(Exception):
    """A verification failure carrying a machine-readable code (SPEC §9)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class DecodeError(Exception):
    """Strict decoding failure (SPEC §2)."""


class GenesisError(Exception):
    """The genesis file is not acceptable (SPEC §10)."""


# ---------------------------------------------------------------------------
# BLAKE3 (default hash mode, 32-byte output), from the BLAKE3 specification
# ---------------------------------------------------------------------------

_B3_IV = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)
_B3_PERM = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_B3_CHUNK_START = 1
_B3_CHUNK_END = 2
_B3_PARENT = 4
_B3_ROOT = 8
_B3_CHUNK_LEN = 1024
_B3_BLOCK_LEN = 64
_M32 = 0xFFFFFFFF


def _b3_compress(cv, block_words, counter, block_len, flags):
    s = [
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
        _B3_IV[0], _B3_IV[1], _B3_IV[2], _B3_IV[3],
        counter & _M32, (counter >> 32) & _M32, block_len, flags,
    ]
    m = list(block_words)

    def g(a, b, c, d, x, y):
        s[a] = (s[a] + s[b] + x) & _M32
        t = s[d] ^ s[a]
        s[d] = ((t >> 16) | (t << 16)) & _M32
        s[c] = (s[c] + s[d]) & _M32
        t = s[b] ^ s[c]
        s[b] = ((t >> 12) | (t << 20)) & _M32
        s[a] = (s[a] + s[b] + y) & _M32
        t = s[d] ^ s[a]
        s[d] = ((t >> 8) | (t << 24)) & _M32
        s[c] = (s[c] + s[d]) & _M32
        t = s[b] ^ s[c]
        s[b] = ((t >> 7) | (t << 25)) & _M32

    for r in range(7):
        g(0, 4, 8, 12, m[0], m[1])
        g(1, 5, 9, 13, m[2], m[3])
        g(2, 6, 10, 14, m[4], m[5])
        g(3, 7, 11, 15, m[6], m[7])
        g(0, 5, 10, 15, m[8], m[9])
        g(1, 6, 11, 12, m[10], m[11])
        g(2, 7, 8, 13, m[12], m[13])
        g(3, 4, 9, 14, m[14], m[15])
        if r < 6:
            m = [m[i] for i in _B3_PERM]
    for i in range(8):
        s[i] ^= s[i + 8]
        s[i + 8] ^= cv[i]
    return s


def _b3_words(block: bytes):
    block = block + b"\x00" * (_B3_BLOCK_LEN - len(block))
    return struct.unpack("<16I", block)


class _B3Output:
    __slots__ = ("cv", "words", "counter", "block_len", "flags")

    def __init__(self, cv, words, counter, block_len, flags):
        self.cv, self.words, self.counter = cv, words, counter
        self.block_len, self.flags = block_len, flags

    def chaining_value(self):
        return _b3_compress(self.cv, self.words, self.counter, self.block_len, self.flags)[:8]

    def root_hash(self) -> bytes:
        out = _b3_compress(self.cv, self.words, 0, self.block_len, self.flags | _B3_ROOT)
        return struct.pack("<8I", *out[:8])


def _b3_chunk_output(chunk: bytes, chunk_counter: int) -> _B3Output:
    cv = list(_B3_IV)
    blocks = [chunk[i:i + _B3_BLOCK_LEN] for i in range(0, len(chunk), _B3_BLOCK_LEN)] or [b""]
    for i, block in enumerate(blocks):
        flags = _B3_CHUNK_START if i == 0 else 0
        if i == len(blocks) - 1:
            flags |= _B3_CHUNK_END
            return _B3Output(cv, _b3_words(block), chunk_counter, len(block), flags)
        cv = _b3_compress(cv, _b3_words(block), chunk_counter, _B3_BLOCK_LEN, flags)[:8]
    raise AssertionError("unreachable")


def _b3_subtree(data: bytes, first_chunk: int, n_chunks: int) -> _B3Output:
    if n_chunks == 1:
        start = first_chunk * _B3_CHUNK_LEN
        return _b3_chunk_output(data[start:start + _B3_CHUNK_LEN], first_chunk)
    left_n = 1 << ((n_chunks - 1).bit_length() - 1)  # largest power of two < n_chunks
    left = _b3_subtree(data, first_chunk, left_n).chaining_value()
    right = _b3_subtree(data, first_chunk + left_n, n_chunks - left_n).chaining_value()
    return _B3Output(list(_B3_IV), tuple(left) + tuple(right), 0, _B3_BLOCK_LEN, _B3_PARENT)


def blake3(data: bytes) -> bytes:
    n_chunks = max(1, (len(data) + _B3_CHUNK_LEN - 1) // _B3_CHUNK_LEN)
    return _b3_subtree(bytes(data), 0, n_chunks).root_hash()


# ---------------------------------------------------------------------------
# Digests (SPEC §3)
# ---------------------------------------------------------------------------

DIGEST_TAGS = {1: "blake3", 2: "sha256", 3: "sm3"}
DIGEST_NAMES = {v: k for k, v in DIGEST_TAGS.items()}


def hash_with(tag: int, data: bytes) -> bytes:
    if tag == 1:
        return blake3(data)
    if tag == 2:
        return hashlib.sha256(data).digest()
    if tag == 3:
        return sm3(data)
    raise ValueError(f"unknown digest tag {tag}")


class Sm3Unavailable(RuntimeError):
    """This Python's hashlib (its OpenSSL) has no SM3."""


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) through hashlib, which takes it from OpenSSL."""
    try:
        return hashlib.new("sm3", data).digest()
    except (ValueError, TypeError) as e:
        raise Sm3Unavailable("SM3 is not available in this Python's hashlib (its OpenSSL "
                             "provides no sm3), so SM3 digests and SM2 signatures cannot be "
                             "checked here") from e


def digest_text(d) -> str:
    return f"{DIGEST_TAGS[d[0]]}:{d[1].hex()}"


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032 arithmetic) with the strict rule of SPEC §4.2
# ---------------------------------------------------------------------------

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENT = (0, 1, 1, 0)


def _pt_add(P, Q):
    x1, y1, z1, t1 = P
    x2, y2, z2, t2 = Q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _pt_mul(s: int, P):
    Q = _IDENT
    while s > 0:
        if s & 1:
            Q = _pt_add(Q, P)
        P = _pt_add(P, P)
        s >>= 1
    return Q


def _pt_encode(P) -> bytes:
    x, y, z, _ = P
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _pt_is_identity(P) -> bool:
    x, y, z, _ = P
    return x % _P == 0 and (y - z) % _P == 0


def pt_is_small_order(P) -> bool:
    """SPEC §4.2 step 2 and §10.3: a point is of small order when [8]P is the identity."""
    return _pt_is_identity(_pt_mul(8, P))


def pt_decode(s: bytes):
    """RFC 8032 §5.1.3 decoding; returns None when the bytes are not a point."""
    if len(s) != 32:
        return None
    v = int.from_bytes(s, "little")
    y = v & ((1 << 255) - 1)
    sign = v >> 255
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    w = (_D * y * y + 1) % _P
    x = (u * pow(w, 3, _P) * pow(u * pow(w, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = w * x * x % _P
    if vx2 == u:
        pass
    elif vx2 == (-u) % _P:
        x = x * _SQRT_M1 % _P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if (x & 1) != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BY = 4 * pow(5, _P - 2, _P) % _P
_BASE = pt_decode(_BY.to_bytes(32, "little"))


def _pt_neg(P):
    x, y, z, t = P
    return ((-x) % _P, y, z, (-t) % _P)


def ed25519_verify_strict(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """SPEC §4.2, steps 1-3."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    r_bytes, s_bytes = sig[:32], sig[32:]
    # 1. S < l.
    s = int.from_bytes(s_bytes, "little")
    if s >= _L:
        return False
    # 2. A and R decode (canonically, RFC 8032 §5.1.3) and are not of small order.
    A = pt_decode(pub)
    R = pt_decode(r_bytes)
    if A is None or R is None:
        return False
    if pt_is_small_order(A) or pt_is_small_order(R):
        return False
    # 3. The canonical encoding of R' = [S]B - [k]A equals R as given.
    k = int.from_bytes(hashlib.sha512(r_bytes + pub + msg).digest(), "little") % _L
    r_prime = _pt_add(_pt_mul(s, _BASE), _pt_neg(_pt_mul(k, A)))
    return _pt_encode(r_prime) == r_bytes


# ---------------------------------------------------------------------------
# SM2 (GB/T 32918.2 on the curve of GB/T 32918.5) with the rule of SPEC §4.2
# ---------------------------------------------------------------------------

SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = SM2_P - 3
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
SM2_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
# §4.2: the user id of every SM2 signature, the GM/T 0009-2012 default.
SM2_USER_ID = b"1234567812345678"
_SM2_INF = (1, 1, 0)  # the point at infinity in Jacobian coordinates (Z = 0)


def _sm2_double(P):
    """[2]P in Jacobian coordinates (x = X/Z^2, y = Y/Z^3), for a = -3."""
    X1, Y1, Z1 = P
    if Z1 == 0 or Y1 == 0:
        return _SM2_INF
    p = SM2_P
    delta = Z1 * Z1 % p
    gamma = Y1 * Y1 % p
    beta = X1 * gamma % p
    alpha = 3 * (X1 - delta) * (X1 + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = ((Y1 + Z1) ** 2 - gamma - delta) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return (X3, Y3, Z3)


def _sm2_add(P, Q):
    """P + Q in Jacobian coordinates, any points (equal, opposite or at infinity)."""
    X1, Y1, Z1 = P
    X2, Y2, Z2 = Q
    if Z1 == 0:
        return Q
    if Z2 == 0:
        return P
    p = SM2_P
    Z1Z1 = Z1 * Z1 % p
    Z2Z2 = Z2 * Z2 % p
    U1 = X1 * Z2Z2 % p
    U2 = X2 * Z1Z1 % p
    S1 = Y1 * Z2 * Z2Z2 % p
    S2 = Y2 * Z1 * Z1Z1 % p
    if U1 == U2:
        return _sm2_double(P) if S1 == S2 else _SM2_INF
    H = (U2 - U1) % p
    R = (S2 - S1) % p
    HH = H * H % p
    HHH = H * HH % p
    V = U1 * HH % p
    X3 = (R * R - HHH - 2 * V) % p
    Y3 = (R * (V - X3) - S1 * HHH) % p
    Z3 = Z1 * Z2 * H % p
    return (X3, Y3, Z3)


def _sm2_affine(P):
    """(x, y), or None for the point at infinity."""
    X, Y, Z = P
    if Z % SM2_P == 0:
        return None
    zi = pow(Z, -1, SM2_P)
    zi2 = zi * zi % SM2_P
    return (X * zi2 % SM2_P, Y * zi2 * zi % SM2_P)


def _sm2_lincomb(a: int, P, b: int, Q):
    """[a]P + [b]Q (Shamir's trick), P and Q affine."""
    Pj, Qj = (P[0], P[1], 1), (Q[0], Q[1], 1)
    PQ = _sm2_add(Pj, Qj)
    R = _SM2_INF
    for i in range(max(a.bit_length(), b.bit_length()) - 1, -1, -1):
        R = _sm2_double(R)
        bits = ((a >> i) & 1, (b >> i) & 1)
        if bits == (1, 1):
            R = _sm2_add(R, PQ)
        elif bits == (1, 0):
            R = _sm2_add(R, Pj)
        elif bits == (0, 1):
            R = _sm2_add(R, Qj)
    return R


def sm2_on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + SM2_A * x + SM2_B)) % SM2_P == 0


def sm2_decode_point(raw: bytes):
    """§4.1: an SM2 public key is 02 or 03 (the parity of y), then x (32 bytes, big-endian),
    x < p, and x the x-coordinate of a curve point: x^3 + a x + b a square mod p. Returns
    (x, y), or None for any other 33 bytes. p = 3 mod 4, so the square root is a^((p+1)/4)."""
    if len(raw) != 33 or raw[0] not in (2, 3):
        return None
    x = int.from_bytes(raw[1:], "big")
    if x >= SM2_P:
        return None
    rhs = (x * x * x + SM2_A * x + SM2_B) % SM2_P
    y = pow(rhs, (SM2_P + 1) // 4, SM2_P)
    if y * y % SM2_P != rhs:
        return None
    if (y & 1) != (raw[0] & 1):
        # (No point has y = 0: the group's order is prime, so no point is of order 2.)
        y = SM2_P - y
    return (x, y)


def sm2_encode_point(x: int, y: int) -> bytes:
    return bytes([2 | (y & 1)]) + x.to_bytes(32, "big")


_SM2_Z = {}


def sm2_z(point, user_id: bytes = SM2_USER_ID) -> bytes:
    """§4.2: Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP), ENTL the bit length of ID
    as 2 bytes big-endian, every number 32 bytes big-endian."""
    key = (point, user_id)
    if key not in _SM2_Z:
        entl = (8 * len(user_id)).to_bytes(2, "big")
        parts = [SM2_A, SM2_B, SM2_GX, SM2_GY, point[0], point[1]]
        _SM2_Z[key] = sm3(entl + user_id + b"".join(v.to_bytes(32, "big") for v in parts))
    return _SM2_Z[key]


def sm2_verify(point, msg: bytes, sig: bytes, user_id: bytes = SM2_USER_ID) -> bool:
    """§4.2: (r, s) on message M (its domain prefix included) by key P."""
    if len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    # 1 <= r <= n - 1 and 1 <= s <= n - 1.
    if not (1 <= r < SM2_N and 1 <= s < SM2_N):
        return False
    e = int.from_bytes(sm3(sm2_z(point, user_id) + msg), "big")
    t = (r + s) % SM2_N
    if t == 0:
        return False
    # (x1, y1) = [s]G + [t]P, which must not be the point at infinity.
    xy = _sm2_affine(_sm2_lincomb(s, (SM2_GX, SM2_GY), t, point))
    if xy is None:
        return False
    return (e + xy[0]) % SM2_N == r


def sm2_sign(d: int, msg: bytes, k: int, user_id: bytes = SM2_USER_ID) -> bytes:
    """SM2 signing with the nonce k (GB/T 32918.2 §6.1), for the self-test only."""
    P = _sm2_affine(_sm2_lincomb(d, (SM2_GX, SM2_GY), 0, (SM2_GX, SM2_GY)))
    e = int.from_bytes(sm3(sm2_z(P, user_id) + msg), "big")
    x1 = _sm2_affine(_sm2_lincomb(k, (SM2_GX, SM2_GY), 0, (SM2_GX, SM2_GY)))[0]
    r = (e + x1) % SM2_N
    s = pow(1 + d, -1, SM2_N) * (k - r * d) % SM2_N
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# ---------------------------------------------------------------------------
# Keys and signatures of either algorithm (SPEC §4.1, §4.2)
# ---------------------------------------------------------------------------

SIG_ED25519, SIG_SM2 = 1, 2
SIG_NAMES = {SIG_ED25519: "ed25519", SIG_SM2: "sm2"}
KEY_LEN = {SIG_ED25519: 32, SIG_SM2: 33}
_POINTS = {}


def key_point(key):
    """The point of a key (tag, raw) that decoded (§4.1)."""
    if key not in _POINTS:
        tag, raw = key
        _POINTS[key] = pt_decode(raw) if tag == SIG_ED25519 else sm2_decode_point(raw)
    return _POINTS[key]


def verify_signature(key, msg: bytes, sig) -> bool:
    """§4.2: the rule of the key's algorithm; a signature whose tag differs from its key's
    fails."""
    if sig[0] != key[0]:
        return False
    if key[0] == SIG_ED25519:
        return ed25519_verify_strict(key[1], msg, sig[1])
    return sm2_verify(key_point(key), msg, sig[1])


def self_test() -> None:
    """The SM2 signature example of GB/T 32918.5 (user id 1234567812345678, message "message
    digest") and a round trip of our own; raises AssertionError on a mismatch and
    Sm3Unavailable without SM3."""
    assert sm3(b"abc").hex() == ("66c7f0f462eeedd9d1f2d46bdc10e4e2"
                                 "4167c4875cf2f7a2297da02b8f4ba8e0"), "SM3 of 'abc'"
    d = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
    x = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
    y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
    assert sm2_on_curve(x, y), "the example key is on the curve"
    assert _sm2_affine(_sm2_lincomb(d, (SM2_GX, SM2_GY), 0, (SM2_GX, SM2_GY))) == (x, y)
    raw = sm2_encode_point(x, y)
    assert raw[0] == 3 and sm2_decode_point(raw) == (x, y), "compressed form"
    r = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
    s = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    key = (SIG_SM2, raw)
    assert verify_signature(key, b"message digest", (SIG_SM2, sig)), "the standard example"
    assert not verify_signature(key, b"message digesT", (SIG_SM2, sig)), "another message"
    assert not verify_signature(key, b"message digest", (SIG_ED25519, sig)), "another tag"
    twin = r.to_bytes(32, "big") + (SM2_N - s).to_bytes(32, "big")
    assert not sm2_verify((x, y), b"message digest", twin), "(r, n - s)"
    assert not sm2_verify((x, y), b"message digest", sig, b"evidence"), "another user id"
    mine = sm2_sign(d, b"evidence/v1/test\n", 0x1234567 * 0x89ABCDEF)
    assert sm2_verify((x, y), b"evidence/v1/test\n", mine), "a signature of our own"
    # x = 2 has no point; x = p is no field element; 04 is not a compressed prefix.
    assert sm2_decode_point(b"\x02" + (2).to_bytes(32, "big")) is None
    assert sm2_decode_point(b"\x02" + SM2_P.to_bytes(32, "big")) is None
    assert sm2_decode_point(b"\x04" + raw[1:]) is None
    # The state tree (§11.3) and its proofs (§11.5).
    try:
        self_test_state_tree()
    except VerifyError as e:
        raise AssertionError(f"state tree: a proof of a key of the self-test's tree fails: "
                             f"{e}") from None


# ---------------------------------------------------------------------------
# Canonical encoding (SPEC §2)
# ---------------------------------------------------------------------------

BYTES_MAX = 16 * 1024 * 1024
SEQ_MAX = 1 << 20
ID_LEN_MAX = 256


def e_u8(v): return struct.pack(">B", v)
def e_u32(v): return struct.pack(">I", v)
def e_u64(v): return struct.pack(">Q", v)
def e_bytes(b): return e_u32(len(b)) + b
def e_str(s): return e_bytes(s.encode("utf-8"))
def e_digest(d): return e_u8(d[0]) + d[1]
def e_key(k): return e_u8(k[0]) + k[1]


def e_seq(items, f):
    return e_u32(len(items)) + b"".join(f(x) for x in items)


def e_opt(v, f):
    return b"\x00" if v is None else b"\x01" + f(v)


class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def remaining(self) -> int:
        return len(self.d) - self.i

    def take(self, n: int) -> bytes:
        if n < 0 or self.remaining() < n:
            raise DecodeError(f"truncated: need {n} bytes at offset {self.i}")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack(">H", self.take(2))[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def u64(self): return struct.unpack(">Q", self.take(8))[0]

    def boolean(self):
        b = self.u8()
        if b not in (0, 1):
            raise DecodeError(f"bad bool byte {b:#04x}")
        return b == 1

    def bytes_(self, limit=BYTES_MAX):
        n = self.u32()
        if n > BYTES_MAX or n > limit:
            raise DecodeError(f"length {n} above limit {min(limit, BYTES_MAX)}")
        return self.take(n)

    def string(self, limit=BYTES_MAX):
        b = self.bytes_(limit)
        try:
            return b.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise DecodeError("invalid UTF-8") from e

    def seq(self, f, limit=SEQ_MAX):
        n = self.u32()
        if n > SEQ_MAX or n > limit or n > self.remaining():
            raise DecodeError(f"sequence count {n} above limit")
        return [f(self) for _ in range(n)]

    def option(self, f):
        t = self.u8()
        if t == 0:
            return None
        if t == 1:
            return f(self)
        raise DecodeError(f"bad option tag {t:#04x}")

    def version1(self, what):
        v = self.u8()
        if v != 1:
            raise DecodeError(f"unknown {what} version {v}")
        return v

    def finish(self):
        if self.remaining():
            raise DecodeError(f"{self.remaining()} trailing bytes")


def d_digest(r: Reader):
    tag = r.u8()
    if tag not in DIGEST_TAGS:
        raise DecodeError(f"unknown digest algorithm {tag}")
    return (tag, r.take(32))


def d_pubkey(r: Reader):
    """§4.1: tag 1, an Ed25519 key (32 bytes, the canonical encoding of a curve point), or
    tag 2, an SM2 key (33 bytes, the compressed encoding of a curve point)."""
    tag = r.u8()
    if tag not in KEY_LEN:
        raise DecodeError(f"unknown public key algorithm {tag}")
    key = (tag, r.take(KEY_LEN[tag]))
    if key_point(key) is None:
        raise DecodeError(f"public key {key_text(key)} is not the canonical encoding of a "
                          f"curve point")
    return key


def d_signature(r: Reader):
    tag = r.u8()
    if tag not in SIG_NAMES:
        raise DecodeError(f"unknown signature algorithm {tag}")
    return (tag, r.take(64))


def d_id(r: Reader):
    return r.string(ID_LEN_MAX)


# ---- structures ------------------------------------------------------------


def d_claim(r: Reader):
    tag = r.u8()
    if tag == 1:
        return {"type": "inspection", "milestone": d_id(r), "passed": r.boolean()}
    if tag == 2:
        return {"type": "payment", "milestone": d_id(r), "amount_minor": r.u64()}
    raise DecodeError(f"unknown claim tag {tag}")


def d_anchor_body(r: Reader):
    start = r.i
    r.version1("anchor body")
    b = {
        "chain_id": d_id(r),
        "filer": d_pubkey(r),
        "member": d_id(r),
        "source_system": d_id(r),
        "captured_at_ms": r.u64(),
        "project_id": d_id(r),
        "document_id": d_id(r),
        "document_version": r.u32(),
        "kind": d_id(r),
        "digest": d_digest(r),
        "supersedes": r.option(d_digest),
        "claim": r.option(d_claim),
    }
    b["_enc"] = r.d[start:r.i]
    return b


PATH_MAX = 64


def d_inclusion_proof(r: Reader):
    leaf_index = r.u64()
    tree_size = r.u64()
    count = r.u32()
    if count > PATH_MAX:
        raise DecodeError(f"inclusion path of {count} elements (max {PATH_MAX})")
    path = [r.take(32) for _ in range(count)]
    return {"leaf_index": leaf_index, "tree_size": tree_size, "path": path}


def d_anchored_document(r: Reader):
    return {
        "body": d_anchor_body(r),
        "batch_proof": d_inclusion_proof(r),
        "signature": d_signature(r),
    }


def d_revocation(r: Reader):
    r.version1("revocation")
    body = {
        "chain_id": d_id(r), "filer": d_pubkey(r), "member": d_id(r),
        "project_id": d_id(r), "document_id": d_id(r), "document_version": r.u32(),
        "digest": d_digest(r), "reason": r.string(4096), "revoked_at_ms": r.u64(),
    }
    return {"body": body, "signature": d_signature(r)}


def d_registration(r: Reader):
    r.version1("project registration")
    body = {
        "chain_id": d_id(r), "registrar": d_pubkey(r), "member": d_id(r),
        "project_id": d_id(r), "total_value_minor": r.u64(),
        "milestones": r.seq(lambda q: {"id": d_id(q), "amount_minor": q.u64()}, 256),
        "registered_at_ms": r.u64(),
    }
    return {"body": body, "signature": d_signature(r)}


def d_filer_registration(r: Reader):
    return {
        "name": d_id(r), "filer": d_pubkey(r), "kinds": r.seq(d_id, 64),
        "source_system": d_id(r),
    }


def d_filer_revocation(r: Reader):
    return {"filer": d_pubkey(r), "reason": r.string(4096), "effective_height": r.u64()}


# §6.7 length bounds of proposals, votes and their changes.
SUMMARY_LEN_MAX = 4096
CHANGES_MAX = 32
CHANGE_GOVERNANCE_KEYS_MAX = 16
CHANGE_TLS_CA_BYTES_MAX = 8192
CHANGE_MEMBERS_MAX = 256


def _d_members(r: Reader):
    """seq<string member (<=256)> (<=256)"""
    return r.seq(d_id, CHANGE_MEMBERS_MAX)


def _d_keys(r: Reader):
    """seq<public key> (<=16)"""
    return r.seq(d_pubkey, CHANGE_GOVERNANCE_KEYS_MAX)


def _d_address(r: Reader):
    """option<string address (<=256)>, a validator's address (§6.7, §10.1)."""
    return r.option(d_id)


def d_change(r: Reader):
    """§6.7 change (enumeration); tags other than 1 to 12 are errors. Decoding checks lengths
    only."""
    tag = r.u8()
    if tag == 1:
        return {"type": "add-member", "id": d_id(r), "name": d_id(r),
                "tls_ca": r.bytes_(CHANGE_TLS_CA_BYTES_MAX), "governance_keys": _d_keys(r)}
    if tag == 2:
        return {"type": "remove-member", "id": d_id(r)}
    if tag == 3:
        return {"type": "set-governance-keys", "member": d_id(r), "keys": _d_keys(r)}
    if tag == 4:
        return {"type": "set-threshold", "numerator": r.u32(), "denominator": r.u32()}
    if tag == 5:
        return {"type": "set-kind", "kind": d_id(r), "description": d_id(r),
                "members": _d_members(r)}
    if tag == 6:
        return {"type": "remove-kind", "kind": d_id(r)}
    if tag == 7:
        return {"type": "set-project-registrars", "members": _d_members(r)}
    if tag == 8:
        return {"type": "set-limits", "batch_len_max": r.u32(),
                "transaction_bytes_max": r.u32()}
    if tag == 9:
        return {"type": "add-validator", "member": d_id(r), "public_key": d_pubkey(r),
                "voting_power": r.u64(), "address": _d_address(r)}
    if tag == 10:
        return {"type": "remove-validator", "public_key": d_pubkey(r)}
    if tag == 11:
        return {"type": "replace-validator", "public_key": d_pubkey(r),
                "new_public_key": d_pubkey(r), "address": _d_address(r)}
    if tag == 12:
        return {"type": "set-voting-power", "public_key": d_pubkey(r), "voting_power": r.u64()}
    raise DecodeError(f"unknown change tag {tag}")


def d_governance_action(r: Reader):
    tag = r.u8()
    if tag == 1:
        return {"type": "register-filer", "registration": d_filer_registration(r)}
    if tag == 2:
        return {"type": "revoke-filer", "revocation": d_filer_revocation(r)}
    if tag == 3:
        return {"type": "rotate-filer", "revocation": d_filer_revocation(r),
                "registration": d_filer_registration(r)}
    if tag == 4:
        return {"type": "propose", "proposal_id": d_id(r), "expires_at_ms": r.u64(),
                "summary": r.string(SUMMARY_LEN_MAX), "changes": r.seq(d_change, CHANGES_MAX)}
    if tag == 5:
        return {"type": "vote", "proposal_id": d_id(r), "approve": r.boolean()}
    # §6.7: decoders reject action tags other than 1 to 5 (0 is no tag).
    raise DecodeError(f"unknown governance action tag {tag}")


def d_governance(r: Reader):
    start = r.i
    r.version1("governance transaction")
    body = {
        "chain_id": d_id(r), "member": d_id(r), "signer": d_pubkey(r),
        "issued_at_ms": r.u64(), "action": d_governance_action(r),
    }
    # enc(body), which the governance key signs (§6.7) behind its domain prefix.
    body["_enc"] = r.d[start:r.i]
    return {"body": body, "signature": d_signature(r)}


def d_record(r: Reader):
    tag = r.u8()
    if tag == 1:
        return ("anchor", d_anchored_document(r))
    if tag == 2:
        return ("revocation", d_revocation(r))
    if tag == 3:
        return ("registration", d_registration(r))
    if tag == 4:
        return ("governance transaction", d_governance(r))
    raise DecodeError(f"unknown record tag {tag}")


def d_entry(r: Reader):
    r.version1("entry")
    return {
        "index": r.u64(), "height": r.u64(), "sequenced_at_ms": r.u64(),
        "record": d_record(r),
    }


HEADER_VERSION = 3


def d_header(r: Reader):
    """§13.1, version 3 only (versions 1 and 2 are no longer read). `next_validator_set_hash`
    is what a hand-off's header names as the next set (§9.4); §9.2 does not read it."""
    v = r.u8()
    if v != HEADER_VERSION:
        raise DecodeError(f"unknown block header version {v} (only version {HEADER_VERSION} "
                          f"is read)")
    return {
        "chain_id": d_id(r), "genesis_hash": d_digest(r), "height": r.u64(), "time_ms": r.u64(),
        "parent_hash": d_digest(r), "transactions_root": d_digest(r),
        "transaction_count": r.u32(), "log_size": r.u64(), "log_root": d_digest(r),
        "state_root": d_digest(r), "validator_set_hash": d_digest(r),
        "next_validator_set_hash": d_digest(r),
        "proposer": d_pubkey(r),
    }


def d_certificate(r: Reader):
    r.version1("commit certificate")
    return {
        "height": r.u64(), "round": r.u32(), "block_hash": d_digest(r),
        "signatures": r.seq(lambda q: {"validator": d_pubkey(q), "signature": d_signature(q)}, 256),
    }


VALIDATORS_MAX = 256
U64_MAX_THIRD = (2 ** 64 - 1) // 3


class ValidatorSet:
    """§13.2: a canonical validator set, its keys' powers, total power and hash."""

    def __init__(self, alg: int, pairs):
        self.pairs = pairs  # [(key, power)], ascending by the keys' encodings
        self.power = {k: p for k, p in pairs}
        self.total = sum(p for _, p in pairs)
        enc = e_seq(pairs, lambda kv: e_key(kv[0]) + e_u64(kv[1]))
        self.hash = (alg, hash_with(alg, P_VALIDATOR_SET + enc))


def d_validator_set(r: Reader):
    """§13.2 strictly: 1 to 256 validators, ascending by the keys' encodings (tag, then key
    bytes; so no key twice), powers of at least 1, total power at most floor((2^64 - 1) / 3).
    Returns the (key, power) pairs."""
    pairs = r.seq(lambda q: (d_pubkey(q), q.u64()), VALIDATORS_MAX)
    if not pairs:
        raise DecodeError("a validator set has at least one validator")
    for i, (key, power) in enumerate(pairs):
        if power == 0:
            raise DecodeError(f"validator {i} has voting power 0")
        if i and not e_key(pairs[i - 1][0]) < e_key(key):
            raise DecodeError(f"validator {i} is not after validator {i - 1} in ascending key "
                              f"order (or repeats it)")
    if sum(p for _, p in pairs) > U64_MAX_THIRD:
        raise DecodeError("total voting power above (2^64 - 1) / 3")
    return pairs


def decode_top(data: bytes, f):
    r = Reader(data)
    v = f(r)
    r.finish()
    return v


# ---------------------------------------------------------------------------
# Merkle (SPEC §12)
# ---------------------------------------------------------------------------


def leaf_hash(alg: int, data: bytes) -> bytes:
    return hash_with(alg, b"\x00" + data)


def node_hash(alg: int, left: bytes, right: bytes) -> bytes:
    return hash_with(alg, b"\x01" + left + right)


def inclusion_root(alg: int, lh: bytes, leaf_index: int, tree_size: int, path):
    """SPEC §12.5: returns the computed root, or None when the proof's shape is wrong."""
    if tree_size == 0 or tree_size > 2 ** 63 or leaf_index >= tree_size:
        return None
    fn, sn, r = leaf_index, tree_size - 1, lh
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(alg, p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(alg, r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


# ---------------------------------------------------------------------------
# Domain prefixes (SPEC §5)
# ---------------------------------------------------------------------------

P_ANCHOR_BATCH = b"evidence/v1/anchor-batch\n"
P_BLOCK_HEADER = b"evidence/v1/block-header\n"
P_VOTE = b"evidence/v1/vote\n"
P_VALIDATOR_SET = b"evidence/v1/validator-set\n"
P_GENESIS = b"evidence/v1/genesis\n"
P_GOVERNANCE = b"evidence/v1/governance\n"

VOTE_PRECOMMIT = 2


def vote_signing_bytes(chain_id: str, kind: int, height: int, rnd: int, block_hash):
    return (P_VOTE + e_u8(kind) + e_str(chain_id) + e_u64(height) + e_u32(rnd)
            + e_opt(block_hash, e_digest))


# ---------------------------------------------------------------------------
# Strict JSON
# ---------------------------------------------------------------------------


def _no_dupes(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _no_constants(name):
    raise ValueError(f"non-standard JSON constant {name}")


class HugeInt:
    """A JSON integer literal too long for Python's int() limit (still an integer, never 1)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return f"{self.text[:20]}...({len(self.text)} characters)"


def _parse_int(text: str):
    # Python refuses to convert integers of more than 4300 digits; such a literal is still a
    # JSON integer, so keep it as an opaque value instead of failing the parse.
    if len(text) > 4000:
        return HugeInt(text)
    return int(text)


def _check_unicode(v):
    """Rejects strings (values or keys) holding a lone surrogate written as a \\u escape: such a
    string is not Unicode text (RFC 8259 §8.2), and no UTF-8 reader could hold it."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate") from None
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)


def strict_json(text: str):
    """RFC 8259 JSON, strictly: no duplicate keys, no NaN/Infinity, no lone surrogates."""
    v = json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_no_constants,
                   parse_int=_parse_int)
    _check_unicode(v)
    return v


def is_int(v) -> bool:
    """A JSON integer literal (no fraction, no exponent), of any size."""
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, HugeInt)


_HEX_RE = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")


def parse_hex(s) -> bytes:
    if not isinstance(s, str) or not _HEX_RE.match(s):
        raise ValueError("malformed hex")
    return bytes.fromhex(s)


# ---------------------------------------------------------------------------
# Genesis (SPEC §10) and trust anchor (SPEC §9.1, §13.2)
# ---------------------------------------------------------------------------

_NAME_RE = re.compile(r"\A[a-z0-9\-_.]{1,64}\Z")
SIG_TAGS = {"ed25519": 1, "sm2": 2}
U64_MAX = 2 ** 64 - 1


def _exact_fields(obj, required, optional=(), what="object"):
    if not isinstance(obj, dict):
        raise GenesisError(f"{what} is not a JSON object")
    keys = set(obj)
    missing = set(required) - keys
    unknown = keys - set(required) - set(optional)
    if missing:
        raise GenesisError(f"{what}: missing field(s) {sorted(missing)}")
    if unknown:
        raise GenesisError(f"{what}: unknown field(s) {sorted(unknown)}")


def _str(v, what, limit=ID_LEN_MAX):
    if not isinstance(v, str):
        raise GenesisError(f"{what} is not a string")
    if len(v.encode("utf-8")) > limit:
        raise GenesisError(f"{what} is longer than {limit} bytes")
    return v


def _name(v, what):
    _str(v, what)
    if not _NAME_RE.match(v):
        raise GenesisError(f"{what} {v!r} is not 1-64 characters of a-z 0-9 - _ .")
    return v


def _uint(v, what, bits):
    if not is_int(v) or isinstance(v, HugeInt) or v < 0 or v >= 2 ** bits:
        raise GenesisError(f"{what} is not a u{bits}")
    return v


# The Unicode White_Space property (what "white space" means in §10.3).
_WHITE_SPACE = frozenset(
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _display_name(v, what):
    """A member or filer name: 1-256 bytes of UTF-8, not only white space (§10.3)."""
    _str(v, what, ID_LEN_MAX)
    if all(c in _WHITE_SPACE for c in v):
        raise GenesisError(f"{what} is empty or only white space")
    return v


def _no_repeats(items, what):
    seen = set()
    for x in items:
        if x in seen:
            raise GenesisError(f"{what} names {x!r} twice")
        seen.add(x)


def _no_nulls(v):
    """§10.1: `null` is refused everywhere, also where a field is optional."""
    stack = [(v, "genesis")]
    while stack:
        x, where = stack.pop()
        if x is None:
            raise GenesisError(f"{where} is null")
        if isinstance(x, dict):
            stack.extend((y, f"{where}.{k}") for k, y in x.items())
        elif isinstance(x, list):
            stack.extend((y, f"{where}[{i}]") for i, y in enumerate(x))


def _list(v, what):
    if not isinstance(v, list):
        raise GenesisError(f"{what} is not a JSON array")
    return v


def parse_pubkey_text(s, what, sig_tag):
    """§4.1 text form, `ed25519:<64 hex>` or `sm2:<66 hex>`; §10.3: of the suite's signature
    algorithm `sig_tag`, a curve point, and (Ed25519) not of small order."""
    name, sep, hexpart = s.partition(":") if isinstance(s, str) else ("", "", "")
    if not sep or name not in SIG_TAGS:
        raise GenesisError(f"{what} is not of the form ed25519:<hex> or sm2:<hex>")
    tag = SIG_TAGS[name]
    try:
        raw = parse_hex(hexpart)
    except ValueError:
        raise GenesisError(f"{what}: malformed hex") from None
    if len(raw) != KEY_LEN[tag]:
        raise GenesisError(f"{what}: an {name} key is {KEY_LEN[tag]} bytes, not {len(raw)}")
    key = (tag, raw)
    point = key_point(key)
    if point is None:
        raise GenesisError(f"{what}: key is not the canonical encoding of a curve point")
    if tag != sig_tag:
        raise GenesisError(f"{what}: {key_text(key)} is an {name} key, but the suite signs "
                           f"with {SIG_NAMES[sig_tag]}")
    # §10.3: every key of a genesis file has a role (validator, governance or filer key), and
    # none may be of small order: such a key decodes (§4.1), but no signature by it verifies.
    # (No SM2 key is: the curve's order is prime and the identity has no compressed form.)
    if tag == SIG_ED25519 and pt_is_small_order(point):
        raise GenesisError(f"{what}: key ed25519:{raw.hex()} is of small order ([8]A is the "
                           "identity), so no signature by it could verify")
    return key


# §4.4, §10.3: a libp2p peer id of an Ed25519 key, in base58btc text: the identity
# multihash (code 0x00, length 0x24) of the protobuf PublicKey {Type = Ed25519 (1), Data}.
PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, digit = divmod(n, 58)
        out = _B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def b58decode(text: str):
    """The bytes of base58btc `text`, or None if it is not base58."""
    n = 0
    for c in text:
        digit = _B58.find(c)
        if digit < 0:
            return None
        n = n * 58 + digit
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def ed25519_peer_id(network_key: bytes) -> str:
    return b58encode(PEER_ID_PREFIX + network_key)


def check_validator_address(key, address, what):
    """§10.3: the peer id an address pins is the text after its last `/p2p/`. An SM2
    validator's address is required and pins the peer id of an Ed25519 key (its node's
    network key, §4.4); an Ed25519 validator's address may pin only its own key's peer id.
    Returns the validator's peer id, pinned or derived."""
    pinned = address.rpartition("/p2p/")[2] if address and "/p2p/" in address else None
    if key[0] == SIG_SM2:
        if pinned is None:
            raise GenesisError(f"{what}: an SM2 validator's address must end with "
                               f"/p2p/<peer id>, got {address!r}")
        data = b58decode(pinned)
        if (data is None or len(data) != len(PEER_ID_PREFIX) + 32
                or not data.startswith(PEER_ID_PREFIX)
                or pt_decode(data[len(PEER_ID_PREFIX):]) is None):
            raise GenesisError(f"{what}: {pinned!r} is not the peer id of an Ed25519 key")
        return pinned
    if pinned is not None and pinned != ed25519_peer_id(key[1]):
        raise GenesisError(f"{what}: pins peer {pinned!r}, but the validator key's own peer "
                           f"id is {ed25519_peer_id(key[1])!r}")
    return ed25519_peer_id(key[1])


class Genesis:
    pass


TLS_CA_BYTES_MAX = 8192
GOVERNANCE_KEYS_MAX = 16
THRESHOLD_DENOMINATOR_MAX = 1000
GENESIS_VERSION = 3
GENESIS_FIELDS = ("type", "version", "chain_id", "genesis_time_ms", "suite", "members",
                  "validators", "filers", "policy", "governance")


def _tls_ca(v, what) -> bytes:
    """§10.1: a member CA certificate, lower-case hex of 1 to 8192 DER bytes. Its X.509
    contents play no part in receipt verification, so they are not parsed here."""
    _str(v, what, 2 * TLS_CA_BYTES_MAX)
    if not v or len(v) % 2 or any(c not in "0123456789abcdef" for c in v):
        raise GenesisError(f"{what} is not lower-case hex of 1 to {TLS_CA_BYTES_MAX} bytes")
    return bytes.fromhex(v)


def _governance_keys(v, what, sig_tag):
    """§10.1: a member's governance keys, 1 to 16 public keys in the text form of §4.1."""
    keys = _list(v, what)
    if not 1 <= len(keys) <= GOVERNANCE_KEYS_MAX:
        raise GenesisError(f"{what} holds {len(keys)} keys, not 1 to {GOVERNANCE_KEYS_MAX}")
    return [parse_pubkey_text(k, f"{what}[{j}]", sig_tag) for j, k in enumerate(keys)]


def _governance(v):
    """§10.1, §10.3: governance.threshold, 1 <= denominator <= 1000 and
    denominator <= 2 x numerator < 2 x denominator (one half up to, not including, one)."""
    _exact_fields(v, ["threshold"], what="governance")
    t = v["threshold"]
    _exact_fields(t, ["numerator", "denominator"], what="governance.threshold")
    num = _uint(t["numerator"], "governance.threshold.numerator", 64)
    den = _uint(t["denominator"], "governance.threshold.denominator", 64)
    if not 1 <= den <= THRESHOLD_DENOMINATOR_MAX:
        raise GenesisError(f"governance.threshold.denominator {den} is outside "
                           f"1..{THRESHOLD_DENOMINATOR_MAX}")
    if not den <= 2 * num < 2 * den:
        raise GenesisError(f"governance.threshold {num}/{den} is not from one half up to, not "
                           "including, one (denominator <= 2 x numerator < 2 x denominator)")
    return num, den


def load_genesis(text: str) -> Genesis:
    try:
        g = strict_json(text)
    except (ValueError, RecursionError) as e:
        raise GenesisError(f"not JSON: {e}") from None
    _no_nulls(g)
    # The type and the version first, so that an older file is refused as such rather than for
    # the fields it lacks; unknown fields are still refused before anything else.
    _exact_fields(g, ["type", "version"], GENESIS_FIELDS, what="genesis")
    if g["type"] != "evidence-genesis":
        raise GenesisError(f"type is {g['type']!r}, expected 'evidence-genesis'")
    if not is_int(g["version"]) or isinstance(g["version"], HugeInt) \
            or g["version"] != GENESIS_VERSION:
        raise GenesisError(f"unsupported genesis version {g['version']!r}: only version "
                           f"{GENESIS_VERSION} is read (versions 1 and 2 are not, SPEC §10.3)")
    _exact_fields(g, GENESIS_FIELDS, what="genesis")
    G = Genesis()
    G.chain_id = _name(g["chain_id"], "chain_id")
    G.genesis_time_ms = _uint(g["genesis_time_ms"], "genesis_time_ms", 64)

    suite = g["suite"]
    _exact_fields(suite, ["digest", "signature"], what="suite")
    if suite["digest"] not in DIGEST_NAMES:
        raise GenesisError(f"unknown suite.digest {suite['digest']!r}")
    if suite["signature"] not in SIG_TAGS:
        raise GenesisError(f"unknown suite.signature {suite['signature']!r}")
    # §10.3: SM2 only with SM3, the national suite.
    if suite["signature"] == "sm2" and suite["digest"] != "sm3":
        raise GenesisError(f"suite: sm2 signatures go with sm3 (the national suite), not "
                           f"{suite['digest']}")
    G.alg = DIGEST_NAMES[suite["digest"]]
    G.sig_tag = SIG_TAGS[suite["signature"]]

    members = _list(g["members"], "members")
    G.members = []
    for i, m in enumerate(members):
        _exact_fields(m, ["id", "name", "tls_ca", "governance_keys"], what=f"members[{i}]")
        G.members.append((_name(m["id"], f"members[{i}].id"),
                          _display_name(m["name"], f"members[{i}].name"),
                          _tls_ca(m["tls_ca"], f"members[{i}].tls_ca"),
                          _governance_keys(m["governance_keys"],
                                           f"members[{i}].governance_keys", G.sig_tag)))
    member_ids = [m[0] for m in G.members]
    if not member_ids:
        raise GenesisError("there must be at least one member")
    if len(set(member_ids)) != len(member_ids):
        raise GenesisError("member ids are not unique")

    def member_ref(v, what):
        _str(v, what)
        if v not in member_ids:
            raise GenesisError(f"{what} {v!r} names no member")
        return v

    vals = _list(g["validators"], "validators")
    G.validators = []
    peer_ids = set()
    for i, v in enumerate(vals):
        _exact_fields(v, ["member", "public_key", "voting_power"], ["address"],
                      what=f"validators[{i}]")
        addr = v.get("address")
        if "address" in v:
            # §10.3: when present, 1 to 256 bytes.
            _str(addr, f"validators[{i}].address", ID_LEN_MAX)
            if not addr:
                raise GenesisError(f"validators[{i}].address is empty")
        power = _uint(v["voting_power"], f"validators[{i}].voting_power", 64)
        if power < 1:
            raise GenesisError(f"validators[{i}].voting_power is below 1")
        key = parse_pubkey_text(v["public_key"], f"validators[{i}].public_key", G.sig_tag)
        peer_id = check_validator_address(key, addr, f"validators[{i}].address")
        # §10.3: no two validators have one peer id, pinned or derived.
        if peer_id in peer_ids:
            raise GenesisError(f"validators[{i}].address: peer id {peer_id!r} is another "
                               f"validator's too")
        peer_ids.add(peer_id)
        G.validators.append({
            "member": member_ref(v["member"], f"validators[{i}].member"),
            "key": key,
            "power": power,
            "address": addr,
        })
    if not G.validators:
        raise GenesisError("there must be at least one validator")
    if len(G.validators) > 256:
        raise GenesisError("more than 256 validators")
    G.total_power = sum(v["power"] for v in G.validators)
    if G.total_power > U64_MAX // 3:
        raise GenesisError("total voting power above (2^64-1)/3")

    pol = g["policy"]
    _exact_fields(pol, ["kinds", "project_registrars", "limits"], what="policy")
    G.kinds = []
    for i, k in enumerate(_list(pol["kinds"], "policy.kinds")):
        _exact_fields(k, ["kind", "members"], ["description"], what=f"policy.kinds[{i}]")
        desc = _str(k["description"], f"policy.kinds[{i}].description", BYTES_MAX) \
            if "description" in k else ""
        kms = [member_ref(m, f"policy.kinds[{i}].members[]")
               for m in _list(k["members"], f"policy.kinds[{i}].members")]
        _no_repeats(kms, f"policy.kinds[{i}].members")
        G.kinds.append((_name(k["kind"], f"policy.kinds[{i}].kind"), desc, kms))
    kind_names = [k[0] for k in G.kinds]
    if len(set(kind_names)) != len(kind_names):
        raise GenesisError("policy kinds are not unique")
    kind_members = {k[0]: k[2] for k in G.kinds}
    G.registrars = [member_ref(m, "policy.project_registrars[]")
                    for m in _list(pol["project_registrars"], "policy.project_registrars")]
    _no_repeats(G.registrars, "policy.project_registrars")
    lim = pol["limits"]
    _exact_fields(lim, ["batch_len_max", "transaction_bytes_max"], what="policy.limits")
    G.batch_len_max = _uint(lim["batch_len_max"], "batch_len_max", 32)
    G.tx_bytes_max = _uint(lim["transaction_bytes_max"], "transaction_bytes_max", 32)
    if not 1 <= G.batch_len_max <= 65536:
        raise GenesisError("batch_len_max outside 1..65536")
    if not 1024 <= G.tx_bytes_max <= 64 * 1024 * 1024:
        raise GenesisError("transaction_bytes_max outside 1 KiB..64 MiB")

    G.filers = []
    for i, f in enumerate(_list(g["filers"], "filers")):
        _exact_fields(f, ["name", "member", "public_key", "kinds"], what=f"filers[{i}]")
        fm = member_ref(f["member"], f"filers[{i}].member")
        fk = []
        for kd in _list(f["kinds"], f"filers[{i}].kinds"):
            _str(kd, f"filers[{i}].kinds[]")
            if kd not in kind_members:
                raise GenesisError(f"filers[{i}] kind {kd!r} is not a policy kind")
            if fm not in kind_members[kd]:
                raise GenesisError(f"filers[{i}] kind {kd!r} is not allowed for member {fm!r}")
            fk.append(kd)
        _no_repeats(fk, f"filers[{i}].kinds")
        G.filers.append({
            "name": _display_name(f["name"], f"filers[{i}].name"), "member": fm,
            "key": parse_pubkey_text(f["public_key"], f"filers[{i}].public_key", G.sig_tag),
            "kinds": fk,
        })
    # §10.3: no key appears twice anywhere in the file; validator, governance and filer keys
    # are all distinct (keys compare by algorithm and decoded bytes, whatever the case of
    # their hex).
    roles = ([(v["key"], f"validators[{i}].public_key") for i, v in enumerate(G.validators)]
             + [(k, f"members[{i}].governance_keys[{j}]")
                for i, m in enumerate(G.members) for j, k in enumerate(m[3])]
             + [(f["key"], f"filers[{i}].public_key") for i, f in enumerate(G.filers)])
    first_use = {}
    for key, where in roles:
        if key in first_use:
            raise GenesisError(f"{where} is the same key as {first_use[key]} "
                               f"({key_text(key)}): every key in the file must be distinct")
        first_use[key] = where

    G.governance_threshold = _governance(g["governance"])

    # §10.2 genesis hash, lists in file order.
    enc = (e_str(g["type"]) + e_u32(g["version"]) + e_str(G.chain_id) + e_u64(G.genesis_time_ms)
           + e_u8(G.alg) + e_u8(G.sig_tag)
           + e_seq(G.members, lambda m: e_str(m[0]) + e_str(m[1]) + e_bytes(m[2])
                   + e_seq(m[3], e_key))
           + e_seq(G.validators, lambda v: e_str(v["member"]) + e_key(v["key"])
                   + e_u64(v["power"]) + e_opt(v["address"], e_str))
           + e_seq(G.filers, lambda f: e_str(f["name"]) + e_str(f["member"]) + e_key(f["key"])
                   + e_seq(f["kinds"], e_str))
           + e_seq(G.kinds, lambda k: e_str(k[0]) + e_str(k[1]) + e_seq(k[2], e_str))
           + e_seq(G.registrars, e_str)
           + e_u32(G.batch_len_max) + e_u32(G.tx_bytes_max)
           + e_u32(G.governance_threshold[0]) + e_u32(G.governance_threshold[1]))
    G.genesis_hash = (G.alg, hash_with(G.alg, P_GENESIS + enc))

    # §13.2 validator set: sorted by the keys' encodings (tag, then bytes; one tag per chain).
    G.vset = ValidatorSet(G.alg, sorted(((v["key"], v["power"]) for v in G.validators),
                                        key=lambda kv: e_key(kv[0])))
    return G


# ---------------------------------------------------------------------------
# Receipt verification (SPEC §9.3)
# ---------------------------------------------------------------------------

RECEIPT_FIELDS = ("type", "version", "entry", "inclusion_proof", "header", "certificate")
# The fields only a version 2 receipt has, at least one of them (§8.1).
RECEIPT_V2_FIELDS = ("handoffs", "registration", "revocation")
HANDOFF_FIELDS = ("header", "certificate", "validators")
# The fields of `registration` and `revocation` (§8.1, §9.5).
ENTRY_PROOF_FIELDS = ("entry", "inclusion_proof")




def check_handoffs_shape(obj):
    """`handoffs`, when present, is an array of objects with exactly the hand-off fields, each
    a string (§9.3 step 0, §9.6 step 0) [not-json]."""
    if "handoffs" not in obj:
        return
    if not isinstance(obj["handoffs"], list):
        raise VerifyError("not-json", "handoffs is not an array")
    for i, ho in enumerate(obj["handoffs"]):
        if not isinstance(ho, dict) or set(ho) != set(HANDOFF_FIELDS):
            raise VerifyError("not-json", f"hand-off {i} is not an object with exactly the "
                              f"fields {', '.join(HANDOFF_FIELDS)}")
        for name in HANDOFF_FIELDS:
            if not isinstance(ho[name], str):
                raise VerifyError("not-json", f"hand-off {i}: {name} is not a string")

def hex_field(value, what):
    """A hex field's bytes [bad-hex]."""
    try:
        return parse_hex(value)
    except ValueError:
        raise VerifyError("bad-hex", f"{what} is not hex") from None


def hex_binary(value, what, decoder):
    """One field at a time: its hex [bad-hex], then its strict decoding [malformed], before
    the next field is read."""
    data = hex_field(value, what)
    try:
        return data, decode_top(data, decoder)
    except DecodeError as e:
        raise VerifyError("malformed", f"{what}: {e}") from None


def parse_handoffs(obj):
    """The hand-offs of a receipt or status-proof file (§8.1, §8.3), in array order."""
    handoffs = []
    for i, ho in enumerate(obj.get("handoffs", [])):
        header_bytes, header = hex_binary(ho["header"], f"handoffs[{i}].header", d_header)
        _, certificate = hex_binary(ho["certificate"], f"handoffs[{i}].certificate",
                                    d_certificate)
        _, validators = hex_binary(ho["validators"], f"handoffs[{i}].validators",
                                   d_validator_set)
        handoffs.append({"header": header, "_header_bytes": header_bytes,
                         "certificate": certificate, "validators": validators})
    return handoffs

def parse_receipt(text: str):
    """Step 0 of §9.3, in the order it gives."""
    try:
        obj = strict_json(text)
    except (ValueError, RecursionError) as e:
        raise VerifyError("not-json", str(e) or "nested too deeply") from None
    # The shape: an object with exactly the six fields, and any of `handoffs`, `registration`
    # and `revocation` (duplicates were refused above), `version` a JSON integer, `handoffs` an
    # array of objects with exactly three string fields, `registration` and `revocation`
    # objects with exactly two string fields, and every other field a string. A JSON array is
    # never an object, whatever it holds.
    if not isinstance(obj, dict):
        raise VerifyError("not-json", "top level is not a JSON object")
    keys = set(obj)
    missing = sorted(set(RECEIPT_FIELDS) - keys)
    unknown = sorted(keys - set(RECEIPT_FIELDS) - set(RECEIPT_V2_FIELDS))
    if missing or unknown:
        raise VerifyError("not-json", f"missing fields {missing}, unknown fields {unknown}")
    if not is_int(obj["version"]):
        raise VerifyError("not-json", f"version is not a JSON integer: {obj['version']!r}")
    for name in RECEIPT_FIELDS:
        if name != "version" and not isinstance(obj[name], str):
            raise VerifyError("not-json", f"{name} is not a string")
    check_handoffs_shape(obj)
    for field in ("registration", "revocation"):
        if field in obj:
            ep = obj[field]
            if not isinstance(ep, dict) or set(ep) != set(ENTRY_PROOF_FIELDS):
                raise VerifyError("not-json", f"{field} is not an object with exactly the "
                                  f"fields {', '.join(ENTRY_PROOF_FIELDS)}")
            for name in ENTRY_PROOF_FIELDS:
                if not isinstance(ep[name], str):
                    raise VerifyError("not-json", f"{field}.{name} is not a string")
    if obj["type"] != "evidence-receipt":
        raise VerifyError("wrong-file-type", f"type is {obj['type']!r}")
    v = obj["version"]
    if isinstance(v, HugeInt) or v not in (1, 2):
        raise VerifyError("unsupported-version", f"version is {v!r}")
    present = [name for name in RECEIPT_V2_FIELDS if name in obj]
    if v == 1 and present:
        raise VerifyError("not-json", f"a version 1 receipt has no {', '.join(present)}")
    if v == 2 and not present:
        raise VerifyError("not-json", "a version 2 receipt has at least one of the fields "
                          + ", ".join(RECEIPT_V2_FIELDS))
    if "handoffs" in obj and not obj["handoffs"]:
        raise VerifyError("not-json", "handoffs, when present, has at least one hand-off")

    binary = hex_binary
    handoffs = parse_handoffs(obj)
    decoders = {"entry": d_entry, "inclusion_proof": d_inclusion_proof,
                "header": d_header, "certificate": d_certificate}
    out = {"handoffs": handoffs}
    raw = {}
    for name in RECEIPT_FIELDS[2:]:
        raw[name], out[name] = binary(obj[name], name, decoders[name])
    out["_entry_bytes"] = raw["entry"]
    out["_header_bytes"] = raw["header"]
    # Then the filer evidence (§9.5), field after field.
    for field in ("registration", "revocation"):
        if field in obj:
            entry_bytes, ep_entry = binary(obj[field]["entry"], f"{field}.entry", d_entry)
            _, ep_proof = binary(obj[field]["inclusion_proof"], f"{field}.inclusion_proof",
                                 d_inclusion_proof)
            out[field] = {"entry": ep_entry, "_entry_bytes": entry_bytes, "proof": ep_proof}
        else:
            out[field] = None
    return out


def verify_checkpoint(G: Genesis, vset: ValidatorSet, h: dict, header_bytes: bytes, c: dict):
    """§9.2 steps 1-5, against the validator set `vset`."""
    # Step 1: the suite the header names (its genesis hash's algorithm, its proposer key's),
    # then the chain.
    if h["genesis_hash"][0] != G.alg or h["proposer"][0] != G.sig_tag:
        raise VerifyError("wrong-suite",
                          f"the header is of the suite {DIGEST_TAGS[h['genesis_hash'][0]]}/"
                          f"{SIG_NAMES[h['proposer'][0]]}, the genesis file's "
                          f"{DIGEST_TAGS[G.alg]}/{SIG_NAMES[G.sig_tag]}")
    if h["chain_id"] != G.chain_id:
        raise VerifyError("wrong-chain", f"header chain {h['chain_id']!r}, trusted {G.chain_id!r}")
    if h["genesis_hash"] != G.genesis_hash:
        raise VerifyError("wrong-chain", f"header genesis {digest_text(h['genesis_hash'])}, "
                          f"trusted {digest_text(G.genesis_hash)}")
    if h["validator_set_hash"] != vset.hash:
        raise VerifyError("unknown-validator-set",
                          f"header names {digest_text(h['validator_set_hash'])}, "
                          f"trusted {digest_text(vset.hash)}")
    hh = (G.alg, hash_with(G.alg, P_BLOCK_HEADER + header_bytes))
    if c["height"] != h["height"] or c["block_hash"] != hh:
        raise VerifyError("certificate-for-other-block",
                          f"certificate for height {c['height']} {digest_text(c['block_hash'])}, "
                          f"header height {h['height']} {digest_text(hh)}")
    msg = vote_signing_bytes(G.chain_id, VOTE_PRECOMMIT, c["height"], c["round"], c["block_hash"])
    seen = set()
    signed = 0
    for i, s in enumerate(c["signatures"]):
        key = s["validator"]
        if key not in vset.power:
            raise VerifyError("unknown-signer", f"signature {i}: {key_text(key)}")
        if key in seen:
            raise VerifyError("duplicate-signer", f"signature {i}: {key_text(key)}")
        seen.add(key)
        if not verify_signature(key, msg, s["signature"]):
            raise VerifyError("bad-validator-signature", f"signature {i}: {key_text(key)}")
        signed += vset.power[key]
    if not 3 * signed > 2 * vset.total:
        raise VerifyError("insufficient-power", f"signed power {signed} of {vset.total}")
    return hh, signed


def follow_handoffs(G: Genesis, handoffs):
    """§9.4: from the trust anchor's set, each hand-off in order. Returns the set the last one
    leads to and its height (the anchor's set and 0 when there are none)."""
    vset, last = G.vset, 0
    for i, ho in enumerate(handoffs):
        h = ho["header"]
        height = h["height"]
        # 1. Its checkpoint verifies against the set before it.
        try:
            verify_checkpoint(G, vset, h, ho["_header_bytes"], ho["certificate"])
        except VerifyError as e:
            raise VerifyError("bad-handoff", f"hand-off {i} (height {height}): {e.code}: "
                              f"{e.detail}") from None
        # 2. After the one before it.
        if not height > last:
            raise VerifyError("handoff-out-of-order",
                              f"hand-off {i} at height {height}, the one before at {last}")
        # 3. The set it carries is the one its header names as the next.
        carried = ValidatorSet(G.alg, ho["validators"])
        if carried.hash != h["next_validator_set_hash"]:
            raise VerifyError("handoff-set-mismatch",
                              f"hand-off {i} (height {height}) names "
                              f"{digest_text(h['next_validator_set_hash'])}, carries "
                              f"{digest_text(carried.hash)}")
        # 4. And it is another set than the header's own.
        if carried.hash == h["validator_set_hash"]:
            raise VerifyError("handoff-not-a-change",
                              f"hand-off {i} (height {height}) names its own set as the next")
        vset, last = carried, height
    return vset, last


def key_text(k) -> str:
    return f"{SIG_NAMES.get(k[0], k[0])}:{k[1].hex()}"


def _governance_of(G: Genesis, h: dict, ep: dict, field: str, body: dict):
    """§9.5 steps 2.1-2.2 (and 3.1-3.2) up to the member: the entry is in the checkpoint's log
    (else `bad-<field>-proof`), a governance transaction for this chain, signed by its signer,
    of the filing's member (else `<field>-mismatch`). Returns the transaction's body."""
    e, p = ep["entry"], ep["proof"]
    bad_proof, mismatch = f"bad-{field}-proof", f"{field}-mismatch"
    # 1. Included in the log of the receipt's checkpoint.
    if p["tree_size"] != h["log_size"]:
        raise VerifyError(bad_proof, f"proof tree size {p['tree_size']}, header log size "
                          f"{h['log_size']}")
    if p["leaf_index"] != e["index"]:
        raise VerifyError(bad_proof, f"proof leaf index {p['leaf_index']}, entry index "
                          f"{e['index']}")
    root = inclusion_root(G.alg, leaf_hash(G.alg, ep["_entry_bytes"]),
                          p["leaf_index"], p["tree_size"], p["path"])
    if root is None:
        raise VerifyError(bad_proof, "the inclusion proof has the wrong shape")
    if h["log_root"] != (G.alg, root):
        raise VerifyError(bad_proof, f"computed {DIGEST_TAGS[G.alg]}:{root.hex()}, header "
                          f"{digest_text(h['log_root'])}")
    # 2. A governance transaction of this chain, signed by its signer, of the filing's member.
    kind, rec = e["record"]
    if kind != "governance transaction":
        article = "an" if kind[0] in "aeiou" else "a"
        raise VerifyError(mismatch, f"entry {e['index']} records {article} {kind}, no "
                          f"governance transaction")
    g = rec["body"]
    if g["chain_id"] != G.chain_id:
        raise VerifyError(mismatch, f"entry {e['index']} is for chain {g['chain_id']!r}")
    sig = rec["signature"]
    if not verify_signature(g["signer"], P_GOVERNANCE + g["_enc"], sig):
        raise VerifyError(mismatch, f"entry {e['index']}: the governance signature by "
                          f"{key_text(g['signer'])} does not verify")
    if g["member"] != body["member"]:
        raise VerifyError(mismatch, f"entry {e['index']} is member {g['member']!r}'s, the "
                          f"filing member {body['member']!r}'s")
    return g


def verify_filer_evidence(G: Genesis, rc: dict, body: dict, entry: dict):
    """§9.5. Returns a description of the evidence for the verdict."""
    h, filed = rc["header"], entry["height"]
    notes = []
    reg = rc["registration"]
    # 1. No registration: a genesis filer of the filing's member.
    if reg is None:
        if not any(f["key"] == body["filer"] and f["member"] == body["member"]
                   for f in G.filers):
            raise VerifyError("filer-not-registered",
                              f"{key_text(body['filer'])} is no genesis filer of member "
                              f"{body['member']!r}, and the receipt carries no registration")
        notes.append("a genesis filer")
    else:
        # 2. The registration.
        g = _governance_of(G, h, reg, "registration", body)
        action = g["action"]
        if action["type"] not in ("register-filer", "rotate-filer"):
            raise VerifyError("registration-mismatch",
                              f"entry {reg['entry']['index']} is a {action['type']}, it "
                              f"registers no filer")
        r = action["registration"]
        if r["filer"] != body["filer"]:
            raise VerifyError("registration-mismatch", f"it registers {key_text(r['filer'])}, "
                              f"the filer is {key_text(body['filer'])}")
        if body["kind"] not in r["kinds"]:
            raise VerifyError("registration-mismatch", f"its kinds {r['kinds']} do not list "
                              f"{body['kind']!r}")
        if r["source_system"] != body["source_system"]:
            raise VerifyError("registration-mismatch", f"it names source system "
                              f"{r['source_system']!r}, the filing {body['source_system']!r}")
        if not reg["entry"]["height"] < filed:
            raise VerifyError("registration-mismatch", f"it is at height "
                              f"{reg['entry']['height']}, not before the filing at {filed}")
        notes.append(f"registered as {r['name']!r} at log index {reg['entry']['index']} "
                     f"(block {reg['entry']['height']})")
    rev = rc["revocation"]
    if rev is not None:
        # 3. The revocation.
        g = _governance_of(G, h, rev, "revocation", body)
        action = g["action"]
        if action["type"] not in ("revoke-filer", "rotate-filer"):
            raise VerifyError("revocation-mismatch",
                              f"entry {rev['entry']['index']} is a {action['type']}, it "
                              f"revokes no filer")
        v = action["revocation"]
        if v["filer"] != body["filer"]:
            raise VerifyError("revocation-mismatch", f"it revokes {key_text(v['filer'])}, "
                              f"the filer is {key_text(body['filer'])}")
        if not v["effective_height"] > filed:
            raise VerifyError("filer-revoked",
                              f"filed at height {filed} by a key revoked from height "
                              f"{v['effective_height']} ({v['reason']!r})")
        notes.append(f"revoked from height {v['effective_height']}, after this filing, at "
                     f"log index {rev['entry']['index']} (block {rev['entry']['height']}): "
                     f"{v['reason']!r}")
    return "; ".join(notes)


def verify_receipt(G: Genesis, receipt_text: str, document: bytes) -> str:
    return verify_receipt_full(G, receipt_text, document)[0]


def verify_receipt_full(G: Genesis, receipt_text: str, document: bytes):
    """§9.3. Returns the verdict, the entry and its anchor body (for §9.7)."""
    rc = parse_receipt(receipt_text)
    entry, proof, h, c = rc["entry"], rc["inclusion_proof"], rc["header"], rc["certificate"]
    # Step 1: the hand-offs (§9.4), the checkpoint against the set they lead to, its height.
    vset, last = follow_handoffs(G, rc["handoffs"])
    hh, signed = verify_checkpoint(G, vset, h, rc["_header_bytes"], c)
    if not h["height"] > last:
        raise VerifyError("checkpoint-before-handoff",
                          f"checkpoint at height {h['height']}, last hand-off at {last}")
    # Step 2
    if proof["tree_size"] != h["log_size"]:
        raise VerifyError("log-size-mismatch",
                          f"proof tree size {proof['tree_size']}, header log size {h['log_size']}")
    # Step 3
    if proof["leaf_index"] != entry["index"]:
        raise VerifyError("entry-index-mismatch",
                          f"proof leaf index {proof['leaf_index']}, entry index {entry['index']}")
    # Step 4
    root = inclusion_root(G.alg, leaf_hash(G.alg, rc["_entry_bytes"]),
                          proof["leaf_index"], proof["tree_size"], proof["path"])
    if root is None:
        raise VerifyError("bad-inclusion-proof", "the inclusion proof has the wrong shape")
    if h["log_root"] != (G.alg, root):
        raise VerifyError("header-root-mismatch",
                          f"computed {DIGEST_TAGS[G.alg]}:{root.hex()}, "
                          f"header {digest_text(h['log_root'])}")
    # Step 5
    kind, rec = entry["record"]
    if kind != "anchor":
        raise VerifyError("not-an-anchor", f"the entry's record is a {kind}")
    body = rec["body"]
    if body["chain_id"] != G.chain_id:
        raise VerifyError("entry-wrong-chain", f"anchor chain {body['chain_id']!r}")
    sig = rec["signature"]
    if body["filer"][0] != G.sig_tag or sig[0] != G.sig_tag:
        raise VerifyError("wrong-suite", f"filer key {key_text(body['filer'])}, filer "
                          f"signature of algorithm {SIG_NAMES[sig[0]]}; the suite signs with "
                          f"{SIG_NAMES[G.sig_tag]}")
    # Step 6
    bp = rec["batch_proof"]
    if not 1 <= bp["tree_size"] <= 65536:
        raise VerifyError("bad-batch-length", f"batch length {bp['tree_size']}")
    broot = inclusion_root(G.alg, leaf_hash(G.alg, body["_enc"]),
                           bp["leaf_index"], bp["tree_size"], bp["path"])
    if broot is None:
        raise VerifyError("bad-batch-proof", "the batch proof has the wrong shape")
    sbytes = P_ANCHOR_BATCH + e_u32(bp["tree_size"]) + e_u8(G.alg) + broot
    if not verify_signature(body["filer"], sbytes, sig):
        raise VerifyError("bad-filer-signature", f"filer {key_text(body['filer'])}")
    # Step 7
    dalg = body["digest"][0]
    try:
        D = (dalg, hash_with(dalg, document))
    except Sm3Unavailable as e:
        raise VerifyError("digest-mismatch", f"cannot compute the document digest: {e}") from None
    if body["digest"] != D:
        raise VerifyError("digest-mismatch",
                          f"document {digest_text(D)}, anchored {digest_text(body['digest'])}")
    # Step 8: the filer evidence (§9.5).
    filer = verify_filer_evidence(G, rc, body, entry)
    verdict = (f"valid: {digest_text(D)} anchored by {key_text(body['filer'])} "
               f"({filer}; member {body['member']!r}, project {body['project_id']!r}, document "
               f"{body['document_id']!r} v{body['document_version']}, kind {body['kind']!r}) "
               f"at log index {entry['index']} (block {entry['height']}); "
               f"log size {h['log_size']} certified at height {h['height']} "
               f"by power {signed}/{vset.total}"
               + (f" of the set reached by the hand-offs at heights "
                  f"{', '.join(str(ho['header']['height']) for ho in rc['handoffs'])}"
                  if rc["handoffs"] else " of the genesis set"))
    return verdict, entry, body


# ---------------------------------------------------------------------------
# State tree and state proofs (SPEC §11.3, §11.5)
# ---------------------------------------------------------------------------

JMT_LEAF = b"JMT::LeafNode"
JMT_INTERNAL = b"JMT::IntrnalNode"  # sic: the missing vowel is part of the format (§11.3)
JMT_PLACEHOLDER = b"SPARSE_MERKLE_PLACEHOLDER_HASH__"  # 32 ASCII bytes, the empty subtree
STATE_PROOF_SIBLINGS_MAX = 256


def jmt_leaf(alg: int, key_hash: bytes, value_hash: bytes) -> bytes:
    return hash_with(alg, JMT_LEAF + key_hash + value_hash)


def jmt_internal(alg: int, left: bytes, right: bytes) -> bytes:
    return hash_with(alg, JMT_INTERNAL + left + right)


def hash_bit(h: bytes, i: int) -> int:
    """Bit `i` of a 256-bit hash, bit 0 being the most significant bit of its first byte."""
    return (h[i >> 3] >> (7 - (i & 7))) & 1


def same_prefix(a: bytes, b: bytes, bits: int) -> bool:
    """Whether `a` and `b` agree on their first `bits` bits."""
    return all(hash_bit(a, i) == hash_bit(b, i) for i in range(bits))


def _set_hash(alg: int, items, depth: int) -> bytes:
    """§11.3: the hash of a set of (key hash, value hash) at `depth`."""
    if not items:
        return JMT_PLACEHOLDER
    if len(items) == 1:
        return jmt_leaf(alg, *items[0])
    return jmt_internal(alg, _set_hash(alg, [x for x in items if not hash_bit(x[0], depth)],
                                       depth + 1),
                        _set_hash(alg, [x for x in items if hash_bit(x[0], depth)], depth + 1))


def _hashed(alg: int, state: dict):
    return [(hash_with(alg, k), hash_with(alg, v)) for k, v in state.items()]


def state_tree_root(alg: int, state: dict) -> bytes:
    """§11.3 by its definition: the hash of the set of all keys at depth 0. Used by the
    self-test only (a verifier never holds the state)."""
    return _set_hash(alg, _hashed(alg, state), 0)


def state_proof_of(alg: int, state: dict, key: bytes) -> dict:
    """The proof of §11.5 for `key` under the root of `state`, built by walking the key's path
    down the tree of §11.3 until the subtree holds one key or none (for the self-test)."""
    kh = hash_with(alg, key)
    items, siblings, depth = _hashed(alg, state), [], 0
    while len(items) > 1:
        side = hash_bit(kh, depth)
        siblings.append(_set_hash(alg, [x for x in items if hash_bit(x[0], depth) != side],
                                  depth + 1))
        items = [x for x in items if hash_bit(x[0], depth) == side]
        depth += 1
    return {"leaf": items[0] if items else None, "siblings": siblings[::-1]}


def e_state_proof(p: dict) -> bytes:
    leaf = b"\x00" if p["leaf"] is None else b"\x01" + p["leaf"][0] + p["leaf"][1]
    return leaf + e_u32(len(p["siblings"])) + b"".join(p["siblings"])


def d_state_proof(r: Reader):
    """§11.5: `u8 leaf_tag || [raw[32] leaf_key_hash || raw[32] leaf_value_hash] || u32 count
    || count × raw[32] sibling`, leaf tag 0 or 1, at most 256 siblings (lowest first)."""
    tag = r.u8()
    if tag == 0:
        leaf = None
    elif tag == 1:
        leaf = (r.take(32), r.take(32))
    else:
        raise DecodeError(f"unknown state proof leaf tag {tag}")
    n = r.u32()
    if n > STATE_PROOF_SIBLINGS_MAX:
        raise DecodeError(f"{n} siblings, above {STATE_PROOF_SIBLINGS_MAX}")
    return {"leaf": leaf, "siblings": [r.take(32) for _ in range(n)]}


def check_state_fact(alg: int, root: bytes, key: bytes, value, proof: dict) -> None:
    """§11.5: the proof shows the claim (the key holds `value`, or nothing when `value` is
    None) [bad-state-proof], checked first, then leads to `root` [state-root-mismatch]."""
    kh = hash_with(alg, key)
    leaf, siblings = proof["leaf"], proof["siblings"]
    d = len(siblings)
    if value is not None:
        if leaf is None:
            raise VerifyError("bad-state-proof", "a value is claimed, but the proof ends in an "
                              "empty subtree (it shows the key absent)")
        if leaf[0] != kh:
            raise VerifyError("bad-state-proof", "a value is claimed, but the proof's leaf is "
                              "another key's")
        if leaf[1] != hash_with(alg, value):
            raise VerifyError("bad-state-proof", "the proof's leaf holds another value (its "
                              "value hash is not the hash of the value given)")
    elif leaf is not None:
        if leaf[0] == kh:
            raise VerifyError("bad-state-proof", "the key is claimed absent, but the proof's "
                              "leaf is the key's own (it shows the key present)")
        if not same_prefix(leaf[0], kh, d):
            raise VerifyError("bad-state-proof", f"the key is claimed absent, but the proof's "
                              f"leaf does not share the key hash's first {d} bits (it is off "
                              f"the key's path)")
    x = JMT_PLACEHOLDER if leaf is None else jmt_leaf(alg, leaf[0], leaf[1])
    for i, s in enumerate(siblings):
        x = (jmt_internal(alg, s, x) if hash_bit(kh, d - 1 - i)
             else jmt_internal(alg, x, s))
    if x != root:
        raise VerifyError("state-root-mismatch", f"the proof leads to {x.hex()}, the header's "
                          f"state root is {root.hex()}")


def self_test_state_tree() -> None:
    """§11.3 and §11.5 on small trees (BLAKE3): the empty tree is the placeholder itself, a
    tree of one key is that key's leaf, two keys that differ in the first bit of their key
    hashes hang left and right of the root, and in a tree of a few keys the proof of each key,
    and of absent keys, shows what it must and leads to the root; a tampered proof does not."""
    alg = 1
    assert len(JMT_PLACEHOLDER) == 32
    assert state_tree_root(alg, {}) == JMT_PLACEHOLDER, "the empty tree is the placeholder"
    k, v = b"p" + e_str("project"), b"record"
    leaf = hash_with(alg, JMT_LEAF + blake3(k) + blake3(v))
    assert state_tree_root(alg, {k: v}) == leaf, "one key: its leaf"
    assert blake3(b"") == bytes.fromhex(
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"), "BLAKE3 of ''"
    check_state_fact(alg, leaf, k, v, {"leaf": (blake3(k), blake3(v)), "siblings": []})
    check_state_fact(alg, JMT_PLACEHOLDER, k, None, {"leaf": None, "siblings": []})
    other = b"p" + e_str("another project")
    check_state_fact(alg, leaf, other, None, {"leaf": (blake3(k), blake3(v)), "siblings": []})
    # Two keys whose key hashes differ in bit 0.
    keys = [b"p" + e_str(f"project-{i}") for i in range(64)]
    a = next(x for x in keys if not hash_bit(blake3(x), 0))
    b = next(x for x in keys if hash_bit(blake3(x), 0))
    two = {a: b"A", b: b"B"}
    la, lb = jmt_leaf(alg, blake3(a), blake3(b"A")), jmt_leaf(alg, blake3(b), blake3(b"B"))
    assert state_tree_root(alg, two) == hash_with(alg, JMT_INTERNAL + la + lb), "two keys"
    # A few keys: every key's proof, and absent keys' proofs, against the root.
    state = {x: b"value of " + x for x in keys[:12]}
    root = state_tree_root(alg, state)
    for x in keys:
        p = decode_top(e_state_proof(state_proof_of(alg, state, x)), d_state_proof)
        check_state_fact(alg, root, x, state.get(x), p)
        # The wrong claim fails first (bad-state-proof): a forged value, or absence of a
        # present key; and a value for an absent key.
        for wrong in ((b"forged", None) if x in state else (b"forged",)):
            try:
                check_state_fact(alg, root, x, wrong, p)
                raise AssertionError("a wrong claim verified")
            except VerifyError as e:
                assert e.code == "bad-state-proof", e.code
        if p["siblings"]:
            s0 = p["siblings"][0]
            bent = dict(p, siblings=[bytes([s0[0] ^ 1]) + s0[1:]] + p["siblings"][1:])
            try:
                check_state_fact(alg, root, x, state.get(x), bent)
                raise AssertionError("a tampered sibling verified")
            except VerifyError as e:
                assert e.code == "state-root-mismatch", e.code
    for bad in (b"\x02" + bytes(4), b"\x00" + e_u32(257) + bytes(32 * 257), b"\x00" + bytes(3)):
        try:
            decode_top(bad, d_state_proof)
            raise AssertionError("a malformed state proof decoded")
        except DecodeError:
            pass


# ---------------------------------------------------------------------------
# State keys and records (SPEC §11.1, §11.2)
# ---------------------------------------------------------------------------

KEY_DOCUMENT, KEY_VERSION, KEY_PROJECT = 0x64, 0x76, 0x70  # 'd', 'v', 'p'
REASON_LEN_MAX = 4096  # a revocation's reason (§6.4)
MILESTONES_MAX = 256  # a registration's milestones (§6.5)


def d_state_key(r: Reader):
    """§11.1, the keys a status proof may carry (§8.3, §9.6 step 2.1): a document key, a
    version key or a project key, identifiers of at most 256 bytes."""
    tag = r.u8()
    if tag == KEY_DOCUMENT:
        return ("document", (d_id(r), d_id(r), d_id(r)))
    if tag == KEY_VERSION:
        return ("version", (d_id(r), d_id(r), d_id(r), r.u32()))
    if tag == KEY_PROJECT:
        return ("project", (d_id(r),))
    raise DecodeError(f"key tag {tag:#04x} is not 'd', 'v' or 'p'")


def e_document_key(member: str, project_id: str, document_id: str) -> bytes:
    return e_u8(KEY_DOCUMENT) + e_str(member) + e_str(project_id) + e_str(document_id)


def e_version_key(member: str, project_id: str, document_id: str, version: int) -> bytes:
    return (e_u8(KEY_VERSION) + e_str(member) + e_str(project_id) + e_str(document_id)
            + e_u32(version))


def e_project_key(project_id: str) -> bytes:
    return e_u8(KEY_PROJECT) + e_str(project_id)


def d_version_record(r: Reader):
    """§11.2: digest || u64 entry_index || u64 height || option<superseded_by> ||
    option<revocation>."""
    return {
        "digest": d_digest(r), "entry_index": r.u64(), "height": r.u64(),
        "superseded_by": r.option(lambda q: {"version": q.u32(), "digest": d_digest(q),
                                             "height": q.u64()}),
        "revocation": r.option(lambda q: {"reason": q.string(REASON_LEN_MAX),
                                          "entry_index": q.u64(), "height": q.u64()}),
    }


def d_document_record(r: Reader):
    """§11.2: string kind || string member || u32 latest_version ||
    option<string passing_milestone> || version record (the latest version's)."""
    return {
        "kind": d_id(r), "member": d_id(r), "latest_version": r.u32(),
        "passing_milestone": r.option(d_id), "version": d_version_record(r),
    }


def d_project_record(r: Reader):
    """§11.2: string registrar_member || u64 total_value_minor || u64 paid_minor ||
    seq<string id || u64 amount_minor || u64 paid_minor>."""
    return {
        "registrar_member": d_id(r), "total_value_minor": r.u64(), "paid_minor": r.u64(),
        "milestones": r.seq(lambda q: {"id": d_id(q), "amount_minor": q.u64(),
                                       "paid_minor": q.u64()}, MILESTONES_MAX),
    }


RECORD_DECODERS = {"document": d_document_record, "version": d_version_record,
                   "project": d_project_record}


def describe_key(kind: str, parts) -> str:
    if kind == "project":
        return f"project {parts[0]!r}"
    what = f"document {parts[0]!r}/{parts[1]!r}/{parts[2]!r}"
    return what if kind == "document" else f"version {parts[3]} of {what}"


# ---------------------------------------------------------------------------
# Status-proof verification (SPEC §8.3, §9.6, §9.7)
# ---------------------------------------------------------------------------

STATUS_PROOF_FIELDS = ("type", "version", "header", "certificate", "facts")
FACT_FIELDS = ("key", "proof")
FACTS_MAX = 64


def parse_status_proof(text: str):
    """Step 0 of §9.6, in the order it gives."""
    try:
        obj = strict_json(text)
    except (ValueError, RecursionError) as e:
        raise VerifyError("not-json", str(e) or "nested too deeply") from None
    if not isinstance(obj, dict):
        raise VerifyError("not-json", "top level is not a JSON object")
    keys = set(obj)
    missing = sorted(set(STATUS_PROOF_FIELDS) - keys)
    unknown = sorted(keys - set(STATUS_PROOF_FIELDS) - {"handoffs"})
    if missing or unknown:
        raise VerifyError("not-json", f"missing fields {missing}, unknown fields {unknown}")
    if not is_int(obj["version"]):
        raise VerifyError("not-json", f"version is not a JSON integer: {obj['version']!r}")
    for name in ("type", "header", "certificate"):
        if not isinstance(obj[name], str):
            raise VerifyError("not-json", f"{name} is not a string")
    check_handoffs_shape(obj)
    if not isinstance(obj["facts"], list):
        raise VerifyError("not-json", "facts is not an array")
    for i, fact in enumerate(obj["facts"]):
        if (not isinstance(fact, dict) or not set(FACT_FIELDS) <= set(fact)
                or not set(fact) <= set(FACT_FIELDS) | {"value"}):
            raise VerifyError("not-json", f"fact {i} is not an object with exactly the fields "
                              f"key and proof, and optionally value")
        for name in fact:
            if not isinstance(fact[name], str):
                raise VerifyError("not-json", f"fact {i}: {name} is not a string")
    if obj["type"] != "evidence-status-proof":
        raise VerifyError("wrong-file-type", f"type is {obj['type']!r}")
    v = obj["version"]
    if isinstance(v, HugeInt) or v != 1:
        raise VerifyError("unsupported-version", f"version is {v!r}")
    if "handoffs" in obj and not obj["handoffs"]:
        raise VerifyError("not-json", "handoffs, when present, has at least one hand-off")

    hexfield = hex_field
    binary = hex_binary
    handoffs = parse_handoffs(obj)
    header_bytes, header = binary(obj["header"], "header", d_header)
    _, certificate = binary(obj["certificate"], "certificate", d_certificate)
    if not 1 <= len(obj["facts"]) <= FACTS_MAX:
        raise VerifyError("malformed", f"{len(obj['facts'])} facts; a status proof carries 1 "
                          f"to {FACTS_MAX}")
    facts = []
    for i, fact in enumerate(obj["facts"]):
        key = hexfield(fact["key"], f"facts[{i}].key")
        value = hexfield(fact["value"], f"facts[{i}].value") if "value" in fact else None
        _, proof = binary(fact["proof"], f"facts[{i}].proof", d_state_proof)
        facts.append({"key": key, "value": value, "proof": proof})
    return {"handoffs": handoffs, "header": header, "_header_bytes": header_bytes,
            "certificate": certificate, "facts": facts}


def verify_status_proof(G: Genesis, text: str) -> dict:
    """§9.6. Returns the header, the power that certified it and the facts, each with its
    key's kind and parts and its record (None when the key is proved absent)."""
    sp = parse_status_proof(text)
    h = sp["header"]
    # Step 1: the hand-offs, the checkpoint against the set they lead to, its height.
    vset, last = follow_handoffs(G, sp["handoffs"])
    _, signed = verify_checkpoint(G, vset, h, sp["_header_bytes"], sp["certificate"])
    if not h["height"] > last:
        raise VerifyError("checkpoint-before-handoff",
                          f"checkpoint at height {h['height']}, last hand-off at {last}")
    # Step 2: each fact, in array order.
    root = h["state_root"]
    seen = set()
    facts = []
    for i, fact in enumerate(sp["facts"]):
        # 2.1 the key: a document, version or project key, well formed, not repeated.
        try:
            kind, parts = decode_top(fact["key"], d_state_key)
        except DecodeError as e:
            raise VerifyError("malformed", f"facts[{i}].key: {e}") from None
        if fact["key"] in seen:
            raise VerifyError("malformed", f"facts[{i}].key repeats an earlier fact's key "
                              f"({describe_key(kind, parts)})")
        seen.add(fact["key"])
        # 2.2 the value: the record of the key's kind.
        record = None
        if fact["value"] is not None:
            try:
                record = decode_top(fact["value"], RECORD_DECODERS[kind])
            except DecodeError as e:
                raise VerifyError("malformed", f"facts[{i}].value is not a {kind} record: "
                                  f"{e}") from None
        # 2.3 the state proof, under the header's state root.
        try:
            check_state_fact(G.alg, root[1], fact["key"], fact["value"], fact["proof"])
            if root[0] != G.alg:
                # The proof leads to the root's 32 bytes under the chain's algorithm; a root
                # tagged with another algorithm is no root of this chain's state tree.
                raise VerifyError("state-root-mismatch", f"the header's state root is tagged "
                                  f"{DIGEST_TAGS[root[0]]}, the chain hashes with "
                                  f"{DIGEST_TAGS[G.alg]}")
        except VerifyError as e:
            raise VerifyError(e.code, f"facts[{i}] ({describe_key(kind, parts)}): "
                              f"{e.detail}") from None
        facts.append({"kind": kind, "parts": parts, "key": fact["key"], "record": record})
    return {"header": h, "signed": signed, "total": vset.total,
            "handoff_heights": [ho["header"]["height"] for ho in sp["handoffs"]],
            "facts": facts}


def _fact(sp: dict, key: bytes):
    return next((f for f in sp["facts"] if f["key"] == key), None)


def version_status(sp: dict, body: dict, entry: dict) -> dict:
    """§9.7: the status of the receipt's version (anchor body `body`, log entry `entry`) at
    the status proof's height. Returns what it proves, in the manifest's form, with a text."""
    h = sp["header"]["height"]
    M, P, I, n = body["member"], body["project_id"], body["document_id"], body["document_version"]
    what = f"{M!r}/{P!r}/{I!r} version {n}"
    # 1. The document record, then the version's record.
    doc = _fact(sp, e_document_key(M, P, I))
    if doc is None:
        raise VerifyError("status-not-proved", f"the proof has no fact for the document key "
                          f"of {M!r}/{P!r}/{I!r}")
    if doc["record"] is None:
        raise VerifyError("status-not-proved", f"the document key of {M!r}/{P!r}/{I!r} is "
                          f"absent: the document was not filed as of height {h}")
    L = doc["record"]["latest_version"]
    if n == L:
        vr = doc["record"]["version"]
    elif 1 <= n < L:
        vf = _fact(sp, e_version_key(M, P, I, n))
        if vf is None:
            raise VerifyError("status-not-proved", f"{what}: the latest version is {L}, and the "
                              f"proof has no fact for version key {n}")
        if vf["record"] is None:
            raise VerifyError("status-not-proved", f"{what}: the latest version is {L}, but "
                              f"version key {n} is absent")
        vr = vf["record"]
    else:
        raise VerifyError("status-not-proved", f"{what}: the latest version as of height {h} "
                          f"is {L}" + (": the version was not filed" if n > L else ""))
    # 2. The record is the receipt's.
    if vr["digest"] != body["digest"]:
        raise VerifyError("status-mismatch", f"{what}: the record names "
                          f"{digest_text(vr['digest'])}, the receipt {digest_text(body['digest'])}")
    if vr["entry_index"] != entry["index"]:
        raise VerifyError("status-mismatch", f"{what}: the record names log index "
                          f"{vr['entry_index']}, the receipt {entry['index']}")
    # 3. Its status at height h.
    sup, rev = vr["superseded_by"], vr["revocation"]
    if rev is not None:
        proves = {"kind": "revoked", "reason": rev["reason"], "height": rev["height"]}
        text = (f"revoked at height {rev['height']} (log index {rev['entry_index']}): "
                f"{rev['reason']!r}")
        if sup is not None:
            proves["superseded_by_version"] = sup["version"]
            text += (f"; also superseded by version {sup['version']} "
                     f"({digest_text(sup['digest'])}) at height {sup['height']}")
    elif sup is not None:
        proves = {"kind": "superseded", "by_version": sup["version"],
                  "by_digest": digest_text(sup["digest"]), "height": sup["height"]}
        text = (f"superseded by version {sup['version']} ({digest_text(sup['digest'])}) at "
                f"height {sup['height']}")
    else:
        proves = {"kind": "current", "height": h}
        text = f"current as of height {h} (time {sp['header']['time_ms']} ms)"
    return {"proves": proves, "text": f"{what} (log index {entry['index']}): {text}"}


def fact_statement(sp: dict, fact: dict) -> dict:
    """What one verified fact proves on its own (§9.7, last paragraph), in the manifest's form
    where it has one (`never-filed`, `project`), else a form of this program's."""
    h = sp["header"]["height"]
    kind, parts, rec = fact["kind"], fact["parts"], fact["record"]
    if kind == "document" and rec is None:
        return {"kind": "never-filed", "member": parts[0], "project_id": parts[1],
                "document_id": parts[2], "height": h}
    if kind == "project" and rec is not None:
        return {"kind": "project", "project_id": parts[0],
                "total_value_minor": rec["total_value_minor"], "paid_minor": rec["paid_minor"],
                "milestones": [dict(m) for m in rec["milestones"]], "height": h}
    if kind == "project":
        return {"kind": "project-never-registered", "project_id": parts[0], "height": h}
    if rec is None:
        return {"kind": "version-key-absent", "member": parts[0], "project_id": parts[1],
                "document_id": parts[2], "version": parts[3], "height": h}
    vr = rec["version"] if kind == "document" else rec
    out = {"kind": "document" if kind == "document" else "version", "member": parts[0],
           "project_id": parts[1], "document_id": parts[2], "height": h,
           "digest": digest_text(vr["digest"]), "entry_index": vr["entry_index"],
           "anchored_height": vr["height"]}
    if kind == "document":
        out["latest_version"] = rec["latest_version"]
    else:
        out["version"] = parts[3]
    if vr["superseded_by"] is not None:
        out["superseded_by_version"] = vr["superseded_by"]["version"]
    if vr["revocation"] is not None:
        out["revoked_height"] = vr["revocation"]["height"]
    return out


def statement_text(s: dict) -> str:
    k = s["kind"]
    if k == "never-filed":
        return (f"{s['member']!r} filed no document {s['document_id']!r} in project "
                f"{s['project_id']!r} as of height {s['height']}")
    if k == "project":
        ms = ", ".join(f"{m['id']!r} {m['paid_minor']}/{m['amount_minor']}"
                       for m in s["milestones"])
        return (f"project {s['project_id']!r}: {s['paid_minor']} of {s['total_value_minor']} "
                f"paid; milestones (paid/amount) {ms}; as of height {s['height']}")
    if k == "project-never-registered":
        return f"project {s['project_id']!r} not registered as of height {s['height']}"
    if k == "version-key-absent":
        return (f"no record under version key {s['version']} of {s['member']!r}/"
                f"{s['project_id']!r}/{s['document_id']!r} as of height {s['height']}")
    status = ("revoked" if "revoked_height" in s else
              "superseded" if "superseded_by_version" in s else "current")
    which = (f"latest version {s['latest_version']}" if k == "document"
             else f"version {s['version']}")
    return (f"{s['member']!r}/{s['project_id']!r}/{s['document_id']!r} {which} "
            f"{s['digest']} (log index {s['entry_index']}): {status} as of height {s['height']}")


def status_verdict(G: Genesis, status_text: str, receipt=None):
    """§9.6, and with a receipt (its text and document bytes) §9.3 and §9.7. Returns the
    verdict line and what the proof proves: the version's status with a receipt, else the
    statements of its facts."""
    sp = verify_status_proof(G, status_text)
    h = sp["header"]
    tail = (f"; certified at height {h['height']} by power {sp['signed']}/{sp['total']}"
            + (f" of the set reached by the hand-offs at heights "
               f"{', '.join(str(x) for x in sp['handoff_heights'])}"
               if sp["handoff_heights"] else " of the genesis set"))
    if receipt is not None:
        _, entry, body = verify_receipt_full(G, receipt[0], receipt[1])
        st = version_status(sp, body, entry)
        return f"valid: {st['text']}{tail}", [st["proves"]]
    statements = [fact_statement(sp, f) for f in sp["facts"]]
    return ("valid: " + "; ".join(statement_text(s) for s in statements) + tail), statements


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8, hence not JSON (RFC 8259 §8.1); let the JSON step report it.
        return "\x00"


def run_one(genesis_path, receipt_path, document_path) -> int:
    try:
        G = load_genesis(read_text(genesis_path))
    except GenesisError as e:
        print(f"invalid: invalid-genesis: {e}")
        return 2
    try:
        verdict = verify_receipt(G, read_text(receipt_path), read_bytes(document_path))
    except VerifyError as e:
        print(f"invalid: {e.code}: {e.detail}")
        return 1
    print(verdict)
    return 0


def run_status_proof(genesis_path, status_path, receipt_path=None, document_path=None) -> int:
    try:
        G = load_genesis(read_text(genesis_path))
    except GenesisError as e:
        print(f"invalid: invalid-genesis: {e}")
        return 2
    receipt = ((read_text(receipt_path), read_bytes(document_path))
               if receipt_path is not None else None)
    try:
        verdict, _ = status_verdict(G, read_text(status_path), receipt)
    except VerifyError as e:
        print(f"invalid: {e.code}: {e.detail}")
        return 1
    print(verdict)
    return 0


def run_vectors(directory: str) -> int:
    """Run every entry of DIR/manifest.json: {"genesis": path, "vectors": [{"receipt",
    "document", optional "genesis" (a vector's own genesis file, in place of the manifest's),
    "expected" ("valid" or a §9 code), optional "document_digest"}], "status_proofs":
    [{"status_proof", optional "receipt" (one of `vectors`, verified with its `document`),
    optional "genesis", "expected", "proves" (on the valid ones)}]}."""
    # The SM2 implementation is checked against the standard example before it is relied on.
    try:
        self_test()
    except AssertionError as e:
        print(f"FAIL self-test: {e}")
        print("0 passed, 1 failed")
        return 1
    print("ok   self-test: SM3, the SM2 signature example of GB/T 32918.5, and the state "
          "tree (§11.3) and its proofs (§11.5) on small trees")
    with open(os.path.join(directory, "manifest.json"), "rb") as f:
        manifest = strict_json(f.read().decode("utf-8"))
    try:
        genesis_path = os.path.join(directory, manifest.get("genesis", "genesis.json"))
        G = load_genesis(read_text(genesis_path))
    except GenesisError as e:
        print(f"FAIL genesis: invalid-genesis: {e}")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for i, v in enumerate(manifest["vectors"]):
        name = v.get("receipt", f"#{i}")
        problems = []
        try:
            expected = v["expected"]
            document = read_bytes(os.path.join(directory, v["document"]))
            trusted = (load_genesis(read_text(os.path.join(directory, v["genesis"])))
                       if "genesis" in v else G)
            try:
                verify_receipt(trusted, read_text(os.path.join(directory, v["receipt"])), document)
                got, detail = "valid", ""
            except VerifyError as e:
                got, detail = e.code, e.detail
            if got != expected:
                problems.append(f"expected {expected}, got {got}" + (f" ({detail})" if detail else ""))
            # Cross-check of the hashing step (§3) against the digest the manifest states.
            if "document_digest" in v:
                alg_name, _, hexd = v["document_digest"].partition(":")
                mine = hash_with(DIGEST_NAMES[alg_name], document).hex()
                if mine != hexd.lower():
                    problems.append(f"document digest {alg_name}:{mine}, manifest says {v['document_digest']}")
        except Sm3Unavailable:
            raise
        except Exception as e:  # a broken vector or manifest entry counts as a failure
            problems.append(f"{type(e).__name__}: {e}")
            got = "error"
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}: {got}")
    # The status proofs (§8.3): §9.6, and with a receipt of `vectors` §9.3 and §9.7.
    by_receipt = {v["receipt"]: v for v in manifest["vectors"] if "receipt" in v}
    for i, v in enumerate(manifest.get("status_proofs", [])):
        name = v.get("status_proof", f"status_proofs #{i}")
        problems = []
        try:
            expected = v["expected"]
            trusted = (load_genesis(read_text(os.path.join(directory, v["genesis"])))
                       if "genesis" in v else G)
            receipt = None
            if "receipt" in v:
                rv = by_receipt[v["receipt"]]
                receipt = (read_text(os.path.join(directory, v["receipt"])),
                           read_bytes(os.path.join(directory, rv["document"])))
            try:
                _, shown = status_verdict(
                    trusted, read_text(os.path.join(directory, v["status_proof"])), receipt)
                got, detail = "valid", ""
            except VerifyError as e:
                got, detail, shown = e.code, e.detail, None
            if got != expected:
                problems.append(f"expected {expected}, got {got}"
                                + (f" ({detail})" if detail else ""))
            elif got == "valid":
                # What it proves: with a receipt, the version's status (§9.7); without one,
                # the answer to the question `proves` asks, from the fact about its key.
                if "proves" not in v:
                    problems.append("the manifest states no `proves` for a valid proof")
                elif v["proves"] not in shown:
                    problems.append(f"proves {json.dumps(v['proves'], ensure_ascii=False)}, "
                                    f"computed {json.dumps(shown, ensure_ascii=False)}")
            elif "proves" in v:
                problems.append("the manifest states `proves` for an invalid proof")
        except Sm3Unavailable:
            raise
        except Exception as e:  # a broken vector or manifest entry counts as a failure
            problems.append(f"{type(e).__name__}: {e}")
            got = "error"
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}: {got}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(argv=None) -> int:
    try:
        return _main(argv)
    except Sm3Unavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Independent evidence-receipt and status-proof "
                                 "verifier (SPEC.md version 11: genesis v3, block header v3, "
                                 "receipt v2, status proof v1; Ed25519 and SM2).")
    ap.add_argument("--genesis")
    ap.add_argument("--receipt")
    ap.add_argument("--document")
    ap.add_argument("--status-proof", metavar="FILE",
                    help="verify a status proof (§9.6); with --receipt and --document, read "
                    "the status of the receipt's version from it (§9.7)")
    ap.add_argument("--vectors", metavar="DIR")
    ap.add_argument("--genesis-hash", action="store_true",
                    help="print the genesis hash and validator-set hash of --genesis and exit")
    ap.add_argument("--self-test", action="store_true",
                    help="check SM3 and SM2 against the standard example, and the state "
                    "tree and its proofs on small trees, and exit")
    a = ap.parse_args(argv)
    if a.self_test:
        try:
            self_test()
        except AssertionError as e:
            print(f"self-test FAILED: {e}")
            return 1
        print("self-test passed: SM3, the SM2 signature example of GB/T 32918.5 "
              "(user id 1234567812345678, message 'message digest'), and the state tree "
              "(§11.3: the empty tree, one leaf, two keys, a few keys) with its proofs "
              "(§11.5)")
        return 0
    if a.vectors:
        return run_vectors(a.vectors)
    if a.genesis and a.genesis_hash:
        try:
            G = load_genesis(read_text(a.genesis))
        except GenesisError as e:
            print(f"invalid: invalid-genesis: {e}")
            return 2
        print(f"genesis_hash {digest_text(G.genesis_hash)}")
        print(f"validator_set_hash {digest_text(G.vset.hash)}")
        return 0
    if a.genesis and a.status_proof:
        if bool(a.receipt) != bool(a.document):
            ap.error("with --status-proof, give both --receipt and --document, or neither")
        return run_status_proof(a.genesis, a.status_proof, a.receipt, a.document)
    if not (a.genesis and a.receipt and a.document):
        ap.error("give --genesis, --receipt and --document, or --genesis and --status-proof "
                 "(optionally with --receipt and --document), or --vectors DIR")
    return run_one(a.genesis, a.receipt, a.document)


if __name__ == "__main__":
    sys.exit(main())
