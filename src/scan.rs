//! Linear scans that run before any recursive parser: how deeply a GraphQL document or a JSON
//! text nests and how many tokens a document holds, so that input which would exhaust the
//! stack or the CPU is refused before it is parsed.
//!
//! Hand-written rather than a crate's lexer (apollo-parser has one) because this pass runs on
//! every request and only needs to count: it allocates nothing and looks at each byte once.

/// What a GraphQL document is made of, as far as the limits care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentShape {
    /// Lexical tokens: names, numbers, strings and punctuators (`...` is one).
    pub tokens: usize,
    /// The deepest nesting of `{`, `[` and `(`, in selection sets, values and types alike.
    pub nesting: usize,
}

/// Measures a GraphQL document. Strings, block strings and comments are skipped as the
/// GraphQL grammar reads them (a block string's `\"""` is an escaped quote; a plain string
/// ends at its closing quote or the end of the line), so brackets inside them don't count,
/// and every bracket a parser would see does.
pub fn document_shape(document: &str) -> DocumentShape {
    let bytes = document.as_bytes();
    let mut shape = DocumentShape::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' => {
                shape.tokens += 1;
                i = if bytes[i..].starts_with(b"\"\"\"") {
                    skip_block_string(bytes, i + 3)
                } else {
                    skip_string(bytes, i + 1)
                };
            }
            b'{' | b'[' | b'(' => {
                shape.tokens += 1;
                depth += 1;
                shape.nesting = shape.nesting.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                shape.tokens += 1;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                shape.tokens += 1;
                i += 3;
            }
            b if is_word_byte(b) => {
                shape.tokens += 1;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
            }
            _ => {
                // Other punctuators (`!$&:=@|`), and anything the parser will refuse.
                shape.tokens += 1;
                i += utf8_len(bytes[i]);
            }
        }
    }
    shape
}

/// Names and numbers (a number's `.`, `-`, `+` and exponent run into it harmlessly: only
/// the count matters, and a run counts once).
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// From just after an opening `"`: past the closing quote, or to the end of the line, where
/// the grammar ends (and the parser rejects) an unterminated string.
pub(crate) fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// From just after an opening `"""`: past the closing `"""`.
pub(crate) fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The deepest nesting of arrays and objects in a JSON text (0 for a scalar). Brackets in
/// strings don't count. Malformed JSON is measured as far as it goes; the parser that runs
/// next reports what is wrong with it.
pub fn json_nesting(text: &[u8]) -> usize {
    let mut deepest = 0usize;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_nesting_of_selections_values_and_types() {
        assert_eq!(document_shape("{ a }").nesting, 1);
        assert_eq!(document_shape("{ a { b(x: [[1]]) } }").nesting, 5);
        assert_eq!(document_shape("query($v: [[[Int]]]) { a }").nesting, 4);
        assert_eq!(document_shape("{ a(o: {b: {c: 1}}) }").nesting, 4);
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(document_shape(&deep).nesting, 2002);
        let unclosed = format!("{{ a(x: {}", "{b: ".repeat(1700));
        assert_eq!(document_shape(&unclosed).nesting, 1702);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let q = "{ a(s: \"[[[{{{\", t: \"\"\"[[[ \\\"\"\" [[[\"\"\") # [[[[\n }";
        assert_eq!(document_shape(q).nesting, 2);
        // A plain string ends at the line's end; what follows is code again.
        let q = "{ a(s: \"[[[\n [[[[ ) }";
        assert_eq!(document_shape(q).nesting, 6);
        // An escaped quote doesn't end a string.
        let q = r#"{ a(s: "\"[[[[") }"#;
        assert_eq!(document_shape(q).nesting, 2);
        // `\\"""`: a backslash, then an escaped triple quote; the string goes on.
        let q = "{ a(s: \"\"\"x\\\\\"\"\" [[[[ \"\"\") }";
        assert_eq!(document_shape(q).nesting, 2);
    }

    #[test]
    fn counts_tokens() {
        assert_eq!(document_shape("{ __typename }").tokens, 3);
        assert_eq!(
            document_shape("query Q($n: Int = 5) { endpoints(first: $n) { ...F } }").tokens,
            23
        );
        assert_eq!(document_shape("# only a comment").tokens, 0);
        assert_eq!(document_shape("{ a(s: \"x y z\") }").tokens, 8);
    }

    #[test]
    fn json_nesting_skips_strings() {
        assert_eq!(json_nesting(b"1"), 0);
        assert_eq!(json_nesting(br#"{"a": [1, {"b": []}]}"#), 4);
        assert_eq!(json_nesting(br#"{"a": "[[[[\"[[["}"#), 1);
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(json_nesting(deep.as_bytes()), 5000);
        assert_eq!(json_nesting(b"[[[[ unterminated"), 4);
    }
}
