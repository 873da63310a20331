//! HMAC-SHA256 webhook signatures in the `sha256=<hex>` form: Agora signs what it sends
//! (notification providers) and checks what it receives (payment events) the same way.

use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

/// `sha256=<hex>` of HMAC-SHA256 over `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Whether `header` (`sha256=<hex>`) signs `body` with `secret`; compared in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"what do ya want for nothing?";

    #[test]
    fn signs_as_rfc_4231_says() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", BODY),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_its_own_signature_and_nothing_else() {
        let good = sign("Jefe", BODY);
        assert!(verify("Jefe", BODY, &good));
        assert!(verify("Jefe", BODY, &format!(" {good}\n")));
        assert!(!verify("other", BODY, &good));
        assert!(!verify("Jefe", b"what do ya want for something?", &good));
        assert!(!verify("Jefe", BODY, good.trim_start_matches("sha256=")));
        assert!(!verify("Jefe", BODY, &good[..good.len() - 1]));
        assert!(!verify("Jefe", BODY, "sha256=zz"));
        assert!(!verify("Jefe", BODY, "sha256="));
    }
}
