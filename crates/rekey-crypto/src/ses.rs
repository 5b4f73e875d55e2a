//! The Amazon SES SMTP password of an access key: AWS's documented derivation (signature
//! version 4 style, version byte 0x04) from the secret access key and the SES region. The SMTP
//! user name is the access key id itself. The password is as secret as the key it comes from,
//! so it is a [`Secret`] too.

use crate::Secret;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<sha2::Sha256>;

/// The fixed inputs of the derivation (AWS's documentation).
const DATE: &str = "11111111";
const SERVICE: &str = "ses";
const TERMINAL: &str = "aws4_request";
const MESSAGE: &str = "SendRawEmail";
const VERSION: u8 = 0x04;

fn sign(key: &[u8], msg: &str) -> Zeroizing<[u8; 32]> {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(msg.as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The SMTP password for `region` of the key whose secret access key is `secret`.
pub fn smtp_password(secret: &Secret, region: &str) -> Secret {
    let first = Zeroizing::new(format!("AWS4{}", secret.expose()));
    let mut sig = sign(first.as_bytes(), DATE);
    for msg in [region, SERVICE, TERMINAL, MESSAGE] {
        sig = sign(&sig[..], msg);
    }
    let mut versioned = Zeroizing::new(Vec::with_capacity(33));
    versioned.push(VERSION);
    versioned.extend_from_slice(&sig[..]);
    Secret::new(base64::engine::general_purpose::STANDARD.encode(&versioned[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers, computed with Python's standard library (hmac, hashlib, base64) following
    /// AWS's published algorithm:
    /// `sig = HMAC("AWS4"+key, "11111111")`, then HMAC by region, "ses", "aws4_request",
    /// "SendRawEmail"; `base64(0x04 || sig)`.
    #[test]
    fn known_answers() {
        let cases = [
            ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"),
            ("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "eu-west-1", "BEXQeTCKL373+drt5hvGImO1h/CBncqBrEhffLrKkPmb"),
        ];
        for (key, region, want) in cases {
            assert_eq!(smtp_password(&Secret::new(key), region).expose(), want, "{region}");
        }
    }

    /// The same derivation done by another implementation at test time: OpenSSL's HMAC, each
    /// step keyed with the previous step's output (hex).
    #[test]
    fn matches_openssl() {
        let key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let step = |mac_key: String, msg: &str| -> String {
            let mut child = std::process::Command::new("openssl")
                .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt", &mac_key, "-hex"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("openssl");
            std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), msg.as_bytes()).expect("write");
            let out = child.wait_with_output().expect("openssl output");
            let text = String::from_utf8(out.stdout).expect("utf-8");
            text.rsplit(' ').next().expect("a digest").trim().to_owned()
        };
        let mut hex = step(format!("key:AWS4{key}"), DATE);
        for msg in ["ap-southeast-2", SERVICE, TERMINAL, MESSAGE] {
            hex = step(format!("hexkey:{hex}"), msg);
        }
        let mut bytes = vec![VERSION];
        bytes.extend(::hex::decode(hex).expect("hex"));
        let want = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(smtp_password(&Secret::new(key), "ap-southeast-2").expose(), want);
    }

    #[test]
    fn the_password_differs_by_region_and_is_redacted() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let (a, b) = (smtp_password(&s, "us-east-1"), smtp_password(&s, "us-west-2"));
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
