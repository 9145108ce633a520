//! A GraphQL document as a trace may show it: its literals replaced, so that no value a
//! client wrote into the text (a secret, an address) reaches an attribute.

use crate::scan::{is_word_byte, skip_block_string, skip_string};

/// `document` with every string (plain or block) written `""`, every number `0`, comments
/// left out and each run of whitespace and commas one space. Names, variables, enum values,
/// `true`, `false` and `null` stay: they are the schema's, or the operation's shape.
pub fn stripped(document: &str) -> String {
    let bytes = document.as_bytes();
    let mut out = Vec::with_capacity(bytes.len().min(4096));
    let mut i = 0;
    let mut space = false;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                space = true;
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                space = true;
                continue;
            }
            _ => {}
        }
        if space && !out.is_empty() {
            out.push(b' ');
        }
        space = false;
        match bytes[i] {
            b'"' => {
                out.extend_from_slice(b"\"\"");
                i = if bytes[i..].starts_with(b"\"\"\"") {
                    skip_block_string(bytes, i + 3)
                } else {
                    skip_string(bytes, i + 1)
                };
            }
            b'-' | b'0'..=b'9' => {
                // Two tokens stay two (`A-1` is a name and a number).
                if out.last().is_some_and(|&b| is_name_byte(b)) {
                    out.push(b' ');
                }
                out.push(b'0');
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
            }
            b if is_name_byte(b) => {
                let start = i;
                while i < bytes.len() && is_name_byte(bytes[i]) {
                    i += 1;
                }
                out.extend_from_slice(&bytes[start..i]);
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name's bytes (a `-` after one starts a number, as the grammar reads `A-1`).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The name of the first operation a `stripped` document defines at its top level, if it
/// names it (what a single-operation document runs when the request names none).
pub fn first_operation_name(stripped: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut words = stripped
        .split_inclusive(|c: char| !is_name_char(c))
        .map(str::trim);
    while let Some(piece) = words.next() {
        let word = piece.trim_end_matches(|c: char| !is_name_char(c));
        if depth == 0 && matches!(word, "query" | "mutation" | "subscription") && piece == word {
            let next = words.next()?;
            let name = next.trim_end_matches(|c: char| !is_name_char(c));
            return (!name.is_empty()).then_some(name);
        }
        for c in piece.chars() {
            match c {
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
