// The host side of wit/host.wit's `image-promote:host/ecdsa`: ECDSA P-256 with SHA-256 by Node's
// crypto (OpenSSL), signatures in ASN.1 DER as cosign writes them. The component has no ECDSA of
// its own (ring needs a C compiler for the wasm target); it hands over the key as DER
// (SubjectPublicKeyInfo to verify, PKCS#8 to sign). Nothing throws across the boundary unasked:
// a malformed key or signature verifies as `false`; a key that cannot sign is the `err` string,
// which names what went wrong and never holds the key's bytes (nor Node's message, which could
// quote them).
// jco maps the interface to this file (scripts/build-dist.sh, `--map`): `verifyP256Sha256`
// returns a boolean; `signP256Sha256` returns the signature bytes or throws the error string
// (jco's `err` case of the result).
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";

const P256 = "prime256v1";

// A Node KeyObject of `type` ('spki' | 'pkcs8') from DER bytes, or null when it is not a P-256 key.
function p256Key(der, type) {
  let key;
  try {
    const input = { key: Buffer.from(der), format: "der", type };
    key = type === "spki" ? createPublicKey(input) : createPrivateKey(input);
  } catch {
    return null;
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== P256) return null;
  return key;
}

export function verifyP256Sha256(spkiDer, message, signatureDer) {
  const key = p256Key(spkiDer, "spki");
  if (!key) return false;
  try {
    return verify("sha256", message, { key, dsaEncoding: "der" }, signatureDer) === true;
  } catch {
    return false;
  }
}

export function signP256Sha256(pkcs8Der, message) {
  const key = p256Key(pkcs8Der, "pkcs8");
  // A plain string thrown: jco lowers it as the result's `err`.
  if (!key) throw "the private key is not an ECDSA P-256 PKCS#8 key Node's crypto can read";
  let signature;
  try {
    signature = sign("sha256", message, { key, dsaEncoding: "der" });
  } catch (e) {
    throw `Node's crypto could not sign${e?.code ? ` (${e.code})` : ""}`;
  }
  return new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength);
}
