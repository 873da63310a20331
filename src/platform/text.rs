//! Text people type into names and titles: trimmed, bounded, and shown as stored. Control
//! characters (NUL among them) and invisible formatting that changes how text reads (zero-width
//! spaces, bidirectional overrides, byte-order marks) are refused. Zero-width joiners stay
//! allowed between visible characters: Persian, Indic scripts and emoji need them.

use crate::platform::http::FieldError;

/// Invisible formatting characters that let stored text read other than it is.
fn deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// What is wrong with `value` (already trimmed) as text of at most `max` characters.
fn problem(value: &str, max: usize, multi_line: bool) -> Option<String> {
    let allowed_control = |c: char| multi_line && matches!(c, '\n' | '\r' | '\t');
    if value
        .chars()
        .any(|c| (c.is_control() && !allowed_control(c)) || deceptive(c))
    {
        return Some("must not contain control characters or invisible formatting".into());
    }
    let count = value.chars().count();
    if count == 0 {
        return Some("is required".into());
    }
    if count > max {
        return Some(format!("must be at most {max} characters"));
    }
    let first_or_last_joins = value.starts_with(joiner) || value.ends_with(joiner);
    if first_or_last_joins || value.chars().all(|c| joiner(c) || c.is_whitespace()) {
        return Some("must start and end with a visible character".into());
    }
    None
}

/// A required one-line text (a name, a title): trimmed, or an error for `field`.
pub fn single_line(errors: &mut Vec<FieldError>, field: &str, raw: &str, max: usize) -> String {
    let value = raw.trim();
    if let Some(message) = problem(value, max, false) {
        errors.push(FieldError {
            field: field.into(),
            message,
        });
    }
    value.to_string()
}

/// An optional text that may span lines (a description, a note): trimmed, empty is none.
pub fn multi_line(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty())?;
    if let Some(message) = problem(value, max, true) {
        errors.push(FieldError {
            field: field.into(),
            message,
        });
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<String, String> {
        let mut errors = Vec::new();
        let value = single_line(&mut errors, "name", raw, 20);
        match errors.pop() {
            None => Ok(value),
            Some(e) => Err(e.message),
        }
    }

    #[test]
    fn names_people_write_pass_trimmed() {
        assert_eq!(check("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert_eq!(check("Zoë Ørsted").unwrap(), "Zoë Ørsted");
        assert_eq!(
            check("می\u{200C}خواهم").unwrap(),
            "می\u{200C}خواهم",
            "ZWNJ inside"
        );
        assert_eq!(check("👩\u{200D}💻").unwrap(), "👩\u{200D}💻", "ZWJ emoji");
    }

    #[test]
    fn hidden_and_control_characters_are_refused() {
        for raw in [
            "\0\0\0",
            "Ada\0",
            "Ada\u{200B}Lovelace",
            "evil\u{202E}gnp.exe",
            "\u{FEFF}Ada",
            "two\nlines",
            "\u{200D}",
            "\u{200D}Ada",
            "",
            "   ",
            "a name far longer than twenty",
        ] {
            assert!(check(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn multi_line_text_keeps_its_lines() {
        let mut errors = Vec::new();
        let text = multi_line(&mut errors, "notes", Some(" one\ntwo\tthree "), 100);
        assert_eq!(text.as_deref(), Some("one\ntwo\tthree"));
        assert_eq!(multi_line(&mut errors, "notes", Some("  "), 100), None);
        multi_line(&mut errors, "notes", Some("bad\0"), 100);
        assert_eq!(errors.len(), 1);
    }
}
