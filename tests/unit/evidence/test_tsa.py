import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import rfc3161_client

from entramado import crypto
from entramado.evidence import tsa

CA = crypto.CertificateAuthority.create("UY-DEMO")
AUTHORITY, _ = tsa.new_authority(CA, "UY-DEMO")
DIGEST = hashlib.sha256(b"merkle root").digest()


def test_token_verifies_with_our_verifier() -> None:
    token = tsa.token_from_response(AUTHORITY.respond(tsa.request(DIGEST)))
    verified = tsa.verify_token(token, DIGEST, CA.cert)
    assert abs((verified.gen_time - dt.datetime.now(dt.UTC)).total_seconds()) < 5


def test_openssl_ts_verify_accepts_the_token(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is required in CI: it is the independent verifier of our tokens")
        pytest.skip("openssl not installed")
    (tmp_path / "resp.tsr").write_bytes(AUTHORITY.respond(tsa.request(DIGEST)))
    (tmp_path / "ca.pem").write_text(crypto.cert_to_pem(CA.cert))
    (tmp_path / "tsa.pem").write_text(crypto.cert_to_pem(AUTHORITY.cert))
    args = ["openssl", "ts", "-verify", "-in", "resp.tsr", "-CAfile", "ca.pem", "-untrusted", "tsa.pem"]
    done = subprocess.run([*args, "-digest", DIGEST.hex()], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    other = hashlib.sha256(b"another root").hexdigest()
    assert subprocess.run([*args, "-digest", other], cwd=tmp_path, capture_output=True).returncode != 0


def test_rfc3161_client_accepts_the_token() -> None:
    response = rfc3161_client.decode_timestamp_response(AUTHORITY.respond(tsa.request(DIGEST)))
    verifier = rfc3161_client.VerifierBuilder(roots=[CA.cert], tsa_certificate=AUTHORITY.cert).build()
    assert verifier.verify(response, DIGEST)


def test_refusals_and_forgeries() -> None:
    with pytest.raises(tsa.TimestampError, match="refused"):
        tsa.token_from_response(AUTHORITY.respond(b"not a request"))
    token = tsa.token_from_response(AUTHORITY.respond(tsa.request(DIGEST)))
    with pytest.raises(tsa.TimestampError, match="does not cover"):
        tsa.verify_token(token, hashlib.sha256(b"x").digest(), CA.cert)
    other_ca = crypto.CertificateAuthority.create("UY-DEMO")
    with pytest.raises(tsa.TimestampError, match="trust anchor"):
        tsa.verify_token(token, DIGEST, other_ca.cert)
    # A certificate without the time-stamping usage cannot stamp.
    key = crypto.new_tls_key()
    tls_cert = CA.issue(crypto.make_csr(key, "not a tsa", crypto.ROLE_TLS), crypto.ROLE_TLS)
    rogue = tsa.Authority(key, tls_cert)
    with pytest.raises(tsa.TimestampError, match="time-stamping"):
        tsa.verify_token(tsa.token_from_response(rogue.respond(tsa.request(DIGEST))), DIGEST, CA.cert)
    tampered = bytearray(token)
    tampered[-5] ^= 0xFF
    with pytest.raises(tsa.TimestampError):
        tsa.verify_token(bytes(tampered), DIGEST, CA.cert)
