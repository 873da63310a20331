//! What a file is, from its bytes: magic numbers for binary formats, UTF-8 for text. The
//! client's own claim (header or extension) is only checked against it, to refuse spoofing.

/// The content type of `bytes`, if it is one of the kinds Agora knows.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(bytes) {
        return match kind.mime_type() {
            "image/jpeg" => Some("image/jpeg"),
            "image/png" => Some("image/png"),
            "image/gif" => Some("image/gif"),
            "image/webp" => Some("image/webp"),
            "application/pdf" => Some("application/pdf"),
            _ => None,
        };
    }
    let text = std::str::from_utf8(bytes).ok()?;
    (!text.contains('\0')).then_some("text/plain")
}

/// The type a client claims, from its part's content type or else the file name's extension.
/// `None` when it claims nothing specific.
pub fn claimed(content_type: Option<&str>, filename: &str) -> Option<&'static str> {
    let by_header = content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match by_header.as_deref() {
        Some("image/jpeg" | "image/jpg" | "image/pjpeg") => return Some("image/jpeg"),
        Some("image/png") => return Some("image/png"),
        Some("image/gif") => return Some("image/gif"),
        Some("image/webp") => return Some("image/webp"),
        Some("application/pdf") => return Some("application/pdf"),
        Some("text/plain") => return Some("text/plain"),
        _ => {}
    }
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "gif" => Some("image/gif"),
        "webp" => Some("image/webp"),
        "pdf" => Some("application/pdf"),
        "txt" => Some("text/plain"),
        _ => None,
    }
}

pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        _ => "txt",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];

    #[test]
    fn content_decides() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(
            sniff(b"#!/bin/sh\nrm -rf /\n"),
            None,
            "a script is not accepted as text"
        );
        assert_eq!(sniff(b"plain words\n"), Some("text/plain"));
        assert_eq!(sniff(&[0xff, 0xfe, 0x00, 0x01]), None);
        assert_eq!(
            sniff(b"PK\x03\x04zip"),
            None,
            "known to infer but not allowed"
        );
    }

    #[test]
    fn claims_come_from_header_then_extension() {
        assert_eq!(claimed(Some("image/png"), "x.txt"), Some("image/png"));
        assert_eq!(
            claimed(Some("application/octet-stream"), "cat.JPG"),
            Some("image/jpeg")
        );
        assert_eq!(claimed(None, "notes"), None);
    }
}
