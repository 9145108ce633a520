use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CREATED, Direction, Keyset, List, Page, Refused, decode, encode};

/// Phone numbers' order.
const NEWEST_FIRST: Keyset = Keyset {
    list: List::PhoneNumbers,
    key: CREATED,
    direction: Direction::Desc,
};
/// Members' order.
const OLDEST_FIRST: Keyset = Keyset {
    list: List::Members,
    key: CREATED,
    direction: Direction::Asc,
};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z")
        .expect("a time")
        .with_timezone(&Utc)
}

#[test]
fn a_cursor_gives_back_its_value_and_id() {
    let id = Uuid::new_v4();
    let cursor = encode(NEWEST_FIRST, at().to_rfc3339(), id);
    assert_eq!(decode(&cursor, NEWEST_FIRST), Ok((at().to_rfc3339(), id)));
}

#[test]
fn the_format_is_the_endpoint_lists_json() {
    let id = Uuid::nil();
    let cursor = encode(
        Keyset {
            list: List::Endpoints,
            key: "n",
            direction: Direction::Asc,
        },
        "a".to_owned(),
        id,
    );
    let json = URL_SAFE_NO_PAD.decode(cursor).expect("base64url");
    assert_eq!(
        String::from_utf8(json).expect("utf-8"),
        format!(r#"{{"f":"n","d":"a","v":"a","id":"{id}"}}"#)
    );
}

#[test]
fn a_phone_number_cursor_of_the_earlier_format_still_decodes() {
    let id = Uuid::new_v4();
    let earlier = serde_json::json!({ "c": at(), "id": id }).to_string();
    let cursor = URL_SAFE_NO_PAD.encode(earlier);
    assert_eq!(decode(&cursor, NEWEST_FIRST), Ok((at().to_rfc3339(), id)));
}

#[test]
fn a_member_cursor_of_the_earlier_format_still_decodes() {
    let id = Uuid::new_v4();
    let cursor = URL_SAFE_NO_PAD.encode(format!("{}|{id}", at().to_rfc3339()));
    assert_eq!(decode(&cursor, OLDEST_FIRST), Ok((at().to_rfc3339(), id)));
}

#[test]
fn an_earlier_cursor_continues_only_the_list_that_gave_it_out() {
    let member = URL_SAFE_NO_PAD.encode(format!("{}|{}", at().to_rfc3339(), Uuid::nil()));
    let number =
        URL_SAFE_NO_PAD.encode(serde_json::json!({ "c": at(), "id": Uuid::nil() }).to_string());
    let endpoints = Keyset {
        list: List::Endpoints,
        key: CREATED,
        direction: Direction::Asc,
    };
    assert_eq!(decode(&member, NEWEST_FIRST), Err(Refused::Invalid));
    assert_eq!(decode(&member, endpoints), Err(Refused::Invalid));
    assert_eq!(decode(&number, OLDEST_FIRST), Err(Refused::Invalid));
    assert_eq!(decode(&number, endpoints), Err(Refused::Invalid));
}

#[test]
fn a_cursor_continues_only_the_list_that_gave_it_out() {
    let endpoints = Keyset {
        list: List::Endpoints,
        key: CREATED,
        direction: Direction::Desc,
    };
    let lists = [endpoints, NEWEST_FIRST, OLDEST_FIRST];
    for from in lists {
        let cursor = encode(from, at().to_rfc3339(), Uuid::nil());
        for to in lists.iter().filter(|to| to.list != from.list) {
            let to = Keyset {
                direction: from.direction,
                ..*to
            };
            assert_eq!(
                decode(&cursor, to),
                Err(Refused::Invalid),
                "{from:?} in {to:?}"
            );
        }
    }
}

#[test]
fn a_cursor_of_another_order_is_refused_as_such() {
    let newest_first = Keyset {
        list: List::Endpoints,
        key: CREATED,
        direction: Direction::Desc,
    };
    let cursor = encode(newest_first, at().to_rfc3339(), Uuid::nil());
    let oldest_first = Keyset {
        direction: Direction::Asc,
        ..newest_first
    };
    let by_name = Keyset {
        key: super::NAME,
        ..newest_first
    };
    assert_eq!(decode(&cursor, oldest_first), Err(Refused::OtherOrder));
    assert_eq!(decode(&cursor, by_name), Err(Refused::OtherOrder));
}

#[test]
fn anything_else_is_refused() {
    let control = encode(NEWEST_FIRST, "a\u{7}".to_owned(), Uuid::nil());
    let long = encode(NEWEST_FIRST, "a".repeat(401), Uuid::nil());
    for raw in [
        "",
        "!!",
        &URL_SAFE_NO_PAD.encode("no bar"),
        &URL_SAFE_NO_PAD.encode("2025-01-01|not-a-uuid"),
        &URL_SAFE_NO_PAD.encode(r#"{"c":"yesterday","id":"00000000-0000-0000-0000-000000000000"}"#),
        &control,
        &long,
    ] {
        assert_eq!(decode(raw, NEWEST_FIRST), Err(Refused::Invalid), "{raw}");
    }
}

#[test]
fn a_page_reads_one_row_more_to_know_another_follows() {
    let item = |n: u32| Ok(n);
    let cursor = |n: &u32| n.to_string();
    let page = Page::of_rows(vec![1, 2, 3], 2, false, item, cursor).expect("page");
    assert_eq!(page.items, vec![1, 2]);
    assert_eq!(page.end_cursor().as_deref(), Some("2"));
    assert!(page.has_next_page);
    let last = Page::of_rows(vec![1, 2], 2, true, item, cursor).expect("page");
    assert!(!last.has_next_page && last.has_previous_page);
}

#[test]
fn a_cursor_naming_no_sort_key_is_invalid_not_of_another_order() {
    let id = Uuid::nil();
    let forged = format!(r#"{{"f":"x","d":"d","v":"a","id":"{id}"}}"#);
    let cursor = URL_SAFE_NO_PAD.encode(forged);
    assert_eq!(decode(&cursor, NEWEST_FIRST), Err(Refused::Invalid));
}
