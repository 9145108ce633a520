//! What text a client may store: no control characters anywhere, and names that are visible
//! text with no bidirectional overrides.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::error::UserErrorCode;

/// Control characters have no business in names, identifiers, URLs or secrets: they break log
/// lines and SIP headers, and PostgreSQL can't store NUL at all.
pub(crate) fn has_control_chars(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Characters that reorder the text around them (embeddings, overrides, isolates), which make
/// a name display as something other than what it is ("Trojan Source"). The marks (U+200E,
/// U+200F, U+061C) are left alone: they only nudge neutral characters and are common in
/// mixed-direction names.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that break a name across lines or mean nothing at all: the line and paragraph
/// separators (which aren't control characters but end a line in many renderers and logs)
/// and Unicode's noncharacters.
fn is_line_break_or_noncharacter(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{FDD0}'..='\u{FDEF}')
        || (u32::from(c) & 0xFFFE) == 0xFFFE
}

/// A character that puts ink on the screen: a letter, digit, punctuation mark or symbol —
/// not space, a format character (zero-width space, BOM), a combining mark on its own, or one
/// of the letters Unicode draws blank (Hangul fillers, the blank Braille pattern).
fn is_visible(c: char) -> bool {
    let blank = matches!(
        c,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
    );
    !blank
        && matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Number
                | GeneralCategoryGroup::Punctuation
                | GeneralCategoryGroup::Symbol
        )
}

/// Checks a name of at most `max` characters and returns it trimmed, or what is wrong with it
/// as a code and a message naming the field as `{field}`.
pub(crate) fn check_name(name: &str, max: usize) -> Result<String, (UserErrorCode, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err((UserErrorCode::Blank, "{field} can't be blank".to_owned()));
    }
    if name.chars().count() > max {
        return Err((
            UserErrorCode::TooLong,
            format!("{{field}} is longer than {max} characters"),
        ));
    }
    if has_control_chars(name) || name.chars().any(is_line_break_or_noncharacter) {
        return Err((
            UserErrorCode::Invalid,
            "{field} contains control characters or line separators".to_owned(),
        ));
    }
    if name.chars().any(is_bidi_control) {
        return Err((
            UserErrorCode::Invalid,
            "{field} contains bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)".to_owned(),
        ));
    }
    if !name.chars().any(is_visible) {
        return Err((
            UserErrorCode::Blank,
            "{field} has no visible character (only spaces, format or invisible characters)"
                .to_owned(),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_visible_text() {
        for ok in [
            "Support",
            "Ünïcödé 名前",
            "a\u{200B}b",
            "שלום\u{200F}",
            "x",
            "😀",
            "-",
        ] {
            assert_eq!(check_name(ok, 100).as_deref(), Ok(ok), "{ok:?}");
        }
        for blank in [
            "",
            "   ",
            "\u{200B}",
            "\u{FEFF}",
            "\u{200B}\u{FEFF}\u{2060}",
            "\u{3164}",
            "\u{2800}",
            "\u{0301}",
            "\u{00A0}\u{2003}",
            "\u{00AD}",
        ] {
            assert_eq!(
                check_name(blank, 100).map_err(|e| e.0),
                Err(UserErrorCode::Blank),
                "{blank:?}"
            );
        }
        for bidi in [
            "abc\u{202E}fdp.exe",
            "\u{202A}x",
            "x\u{202B}",
            "x\u{202C}",
            "x\u{202D}",
            "x\u{2066}y",
            "x\u{2067}y",
            "x\u{2068}y",
            "x\u{2069}y",
        ] {
            assert_eq!(
                check_name(bidi, 100).map_err(|e| e.0),
                Err(UserErrorCode::Invalid),
                "{bidi:?}"
            );
        }
        for control in [
            "a\u{0}b",
            "a\nb",
            "a\tb",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{FFFE}",
            "a\u{FFFF}",
            "a\u{1FFFF}",
            "a\u{FDD0}",
        ] {
            assert_eq!(
                check_name(control, 100).map_err(|e| e.0),
                Err(UserErrorCode::Invalid),
                "{control:?}"
            );
        }
        assert_eq!(
            check_name(&"a".repeat(101), 100).map_err(|e| e.0),
            Err(UserErrorCode::TooLong)
        );
        assert_eq!(check_name("  padded  ", 100).as_deref(), Ok("padded"));
    }
}
