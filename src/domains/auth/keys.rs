//! Ed25519 keys for access tokens: loaded from a directory (generated there on first start)
//! or from configuration; every key verifies, the newest signs; public halves at JWKS.

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Clock skew tolerated between the replica that signed and the one that verifies.
const EXPIRY_LEEWAY_SECS: i64 = 5;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The user id.
    pub sub: Uuid,
    /// The session (refresh-token family) the token belongs to.
    pub sid: Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

struct PublicKey {
    kid: String,
    x: String,
    decoding: DecodingKey,
}

pub struct KeyRing {
    signing_kid: String,
    signing: EncodingKey,
    public: Vec<PublicKey>,
    by_kid: HashMap<String, usize>,
    issuer: String,
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    Ok(STANDARD.decode(body)?)
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// (kid, x, signing key) from a PKCS#8 PEM Ed25519 private key.
fn parse_private(kid: String, pem: &str) -> anyhow::Result<(PublicKey, EncodingKey)> {
    let der = pem_to_der(pem)?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| anyhow::anyhow!("key {kid} is not an Ed25519 PKCS#8 private key: {e}"))?;
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let decoding = DecodingKey::from_ed_components(&x)?;
    Ok((
        PublicKey { kid, x, decoding },
        EncodingKey::from_ed_der(&der),
    ))
}

/// Writes a new key into `dir`, named so that newer keys sort later; returns its key id.
pub fn generate_key(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| anyhow::anyhow!("generating a key: {e}"))?;
    // A UUIDv7 after the time: keys made in the same millisecond still sort in order.
    let kid = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        Uuid::now_v7().simple()
    );
    let path = dir.join(format!("{kid}.pem"));
    write_private(&path, &der_to_pem(der.as_ref()))?;
    Ok(kid)
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(path, pem)?)
}

impl KeyRing {
    /// Loads every `*.pem` in `dir` (generating one if there is none and no `signing_pem`).
    pub fn load(dir: &Path, signing_pem: Option<&str>, issuer: &str) -> anyhow::Result<Self> {
        let list = |dir: &Path| -> anyhow::Result<Vec<(String, String)>> {
            if !dir.exists() {
                return Ok(Vec::new());
            }
            let mut keys = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "pem") {
                    let kid = path
                        .file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string();
                    keys.push((kid, std::fs::read_to_string(&path)?));
                }
            }
            keys.sort();
            Ok(keys)
        };
        let mut files = list(dir)?;
        if files.is_empty() && signing_pem.is_none() {
            let kid = generate_key(dir)?;
            tracing::info!(%kid, dir = %dir.display(), "generated a JWT signing key");
            files = list(dir)?;
        }

        let mut public = Vec::new();
        let mut signing = None;
        for (kid, pem) in files {
            let (key, encoding) = parse_private(kid.clone(), &pem)?;
            public.push(key);
            signing = Some((kid, encoding)); // sorted: the last is the newest
        }
        if let Some(pem) = signing_pem {
            let der = pem_to_der(pem)?;
            // The configured key's id is derived from its public half, stable across replicas.
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| {
                anyhow::anyhow!("auth.jwt.signing_key is not an Ed25519 PKCS#8 key: {e}")
            })?;
            let kid = format!(
                "cfg-{}",
                &URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())[..12]
            );
            let (key, encoding) = parse_private(kid.clone(), pem)?;
            public.retain(|k| k.kid != kid);
            public.push(key);
            signing = Some((kid, encoding));
        }
        let (signing_kid, signing) =
            signing.ok_or_else(|| anyhow::anyhow!("no JWT signing key"))?;
        let by_kid = public
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Ok(Self {
            signing_kid,
            signing,
            public,
            by_kid,
            issuer: issuer.to_string(),
        })
    }

    #[cfg(test)]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.signing)?)
    }

    /// Checks signature (by `kid`), algorithm, issuer, and expiry against `now` (Unix
    /// seconds of the platform clock, not the library's own reading of the system clock).
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = &self.public[*self.by_kid.get(header.kid.as_deref()?)?];
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .ok()?
            .claims;
        (claims.exp + EXPIRY_LEEWAY_SECS >= now).then_some(claims)
    }

    /// The JSON Web Key Set of every verification key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .public
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.x
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(exp_in: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "agora".into(),
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            role: "user".into(),
            iat: now,
            exp: now + exp_in,
            jti: Uuid::now_v7(),
        }
    }

    #[test]
    fn generates_on_first_load_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyRing::load(dir.path(), None, "agora").unwrap();
        let again = KeyRing::load(dir.path(), None, "agora").unwrap();
        assert_eq!(first.signing_kid(), again.signing_kid());
        let token = first.sign(&claims(60)).unwrap();
        assert!(again.verify(&token, now()).is_some());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = KeyRing::load(dir.path(), None, "agora").unwrap();
        let old_token = old.sign(&claims(60)).unwrap();
        let new_kid = generate_key(dir.path()).unwrap();
        let rotated = KeyRing::load(dir.path(), None, "agora").unwrap();
        assert_eq!(rotated.signing_kid(), new_kid);
        assert!(
            rotated.verify(&old_token, now()).is_some(),
            "old tokens still verify"
        );
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_configured_key_signs_and_nothing_is_generated() {
        let elsewhere = tempfile::tempdir().unwrap();
        generate_key(elsewhere.path()).unwrap();
        let file = std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let pem = std::fs::read_to_string(file).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load(dir.path(), Some(&pem), "agora").unwrap();
        assert!(ring.signing_kid().starts_with("cfg-"));
        assert_eq!(
            std::fs::read_dir(dir.path())
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
        let token = ring.sign(&claims(60)).unwrap();
        // Another replica with the same key verifies it.
        let replica =
            KeyRing::load(tempfile::tempdir().unwrap().path(), Some(&pem), "agora").unwrap();
        assert!(replica.verify(&token, now()).is_some());
        assert!(KeyRing::load(dir.path(), Some("not a key"), "agora").is_err());
    }

    #[test]
    fn refuses_expired_foreign_and_tampered_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load(dir.path(), None, "agora").unwrap();
        assert!(
            ring.verify(&ring.sign(&claims(-60)).unwrap(), now())
                .is_none(),
            "expired"
        );
        let fresh = ring.sign(&claims(60)).unwrap();
        assert!(
            ring.verify(&fresh, now() + 120).is_none(),
            "expired by the clock it is given"
        );
        let other = tempfile::tempdir().unwrap();
        let foreign = KeyRing::load(other.path(), None, "agora").unwrap();
        assert!(
            ring.verify(&foreign.sign(&claims(60)).unwrap(), now())
                .is_none(),
            "unknown key"
        );
        let mut token = ring.sign(&claims(60)).unwrap();
        token.pop();
        assert!(ring.verify(&token, now()).is_none(), "bad signature");
        let wrong_issuer = KeyRing::load(dir.path(), None, "someone-else").unwrap();
        assert!(wrong_issuer
            .verify(&ring.sign(&claims(60)).unwrap(), now())
            .is_none());
    }
}
