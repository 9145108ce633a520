//! Pages of a list, and the one cursor format of the lists kept in keyset order (endpoints,
//! phone numbers, members). The audit log keeps its own cursor (`events::Cursors`): it is
//! encrypted so that it hides the events' numbering, which all organizations share.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainError, has_control_chars};

/// Makes the cursor that continues after an item.
type CursorOf<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// One page of a list, and how to make the cursor that continues after each item: made only
/// when asked for (a page read for its nodes asks for none; its page info for two).
#[derive(Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    cursor_of: CursorOf<T>,
}

impl<T> Page<T> {
    /// A page with nothing on it (a list the actor can see nothing of).
    pub fn empty(has_previous_page: bool) -> Self {
        Self {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page,
            cursor_of: Arc::new(|_| String::new()),
        }
    }

    /// The page of `rows`, read with one row more than `first` so that the extra one tells
    /// whether another page follows; `item` makes each kept row an item, `cursor_of` an
    /// item's cursor.
    pub fn of_rows<R>(
        mut rows: Vec<R>,
        first: u64,
        has_previous_page: bool,
        item: impl FnMut(R) -> Result<T, DomainError>,
        cursor_of: impl Fn(&T) -> String + Send + Sync + 'static,
    ) -> Result<Self, DomainError> {
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
        Ok(Self {
            items: rows.into_iter().map(item).collect::<Result<_, _>>()?,
            has_next_page,
            has_previous_page,
            cursor_of: Arc::new(cursor_of),
        })
    }

    /// The cursor that continues after `item`.
    pub fn cursor(&self, item: &T) -> String {
        (self.cursor_of)(item)
    }

    /// The cursor after the last item, if any.
    pub fn end_cursor(&self) -> Option<String> {
        self.items.last().map(|item| self.cursor(item))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("items", &self.items)
            .field("has_next_page", &self.has_next_page)
            .field("has_previous_page", &self.has_previous_page)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "a")]
    Asc,
    #[default]
    #[serde(rename = "d")]
    Desc,
}

/// The order a keyset list is in: its sort key's short name (`c` for creation time, as every
/// list names it) and direction; ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub list: List,
    pub key: &'static str,
    pub direction: Direction,
}

/// The list a cursor was given out by: it continues that list only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Endpoints,
    PhoneNumbers,
    Members,
}

impl List {
    /// The list's tag in its cursors; endpoints' carry none, as they did before the others
    /// took this format.
    fn tag(self) -> Option<&'static str> {
        match self {
            Self::Endpoints => None,
            Self::PhoneNumbers => Some("p"),
            Self::Members => Some("m"),
        }
    }
}

/// The sort key every list has: when the row was created.
pub const CREATED: &str = "c";
/// When the row was last changed.
pub const UPDATED: &str = "u";
/// The row's name.
pub const NAME: &str = "n";
/// Every sort key a cursor may name: any other is no cursor this gateway wrote.
const KEYS: [&str; 3] = [CREATED, UPDATED, NAME];

/// The longest sort value a cursor holds: an endpoint's name, 100 characters of at most four
/// bytes, is the longest any list sorts by.
const MAX_VALUE_LEN: usize = 400;

/// A position in a keyset list: the sort value and id of the last row seen. Opaque to
/// clients, base64url of its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    f: String,
    d: Direction,
    v: String,
    id: Uuid,
}

/// Phone numbers' earlier cursor: `{c, id}`, a position in creation order.
#[derive(Deserialize)]
struct CreatedPosition {
    c: DateTime<Utc>,
    id: Uuid,
}

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It is no cursor this gateway wrote.
    Invalid,
    /// It is a cursor of another order than the list's.
    OtherOrder,
}

impl From<Refused> for DomainError {
    fn from(refused: Refused) -> Self {
        DomainError::BadInput(match refused {
            Refused::Invalid => "`after` is not a valid cursor".to_owned(),
            Refused::OtherOrder => "`after` is a cursor from a different orderBy; use cursors with the ordering that produced them".to_owned(),
        })
    }
}

/// The cursor after the row with sort value `value` and id `id` in a list in `keyset` order.
pub fn encode(keyset: Keyset, value: String, id: Uuid) -> String {
    let position = Position {
        l: keyset.list.tag().map(str::to_owned),
        f: keyset.key.to_owned(),
        d: keyset.direction,
        v: value,
        id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&position).expect("a position is plain data"))
}

/// The sort value and id that `raw` continues after in a list in `keyset` order. Cursors
/// given out before every list had this format still continue their list: phone numbers'
/// `{c, id}` and members' `created_at|id`, both positions in creation order.
pub fn decode(raw: &str, keyset: Keyset) -> Result<(String, Uuid), Refused> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| Refused::Invalid)?;
    let position = match serde_json::from_slice::<Position>(&bytes) {
        Ok(position) => position,
        Err(_) => {
            let (v, id) = earlier(&bytes, keyset.list).ok_or(Refused::Invalid)?;
            Position {
                l: keyset.list.tag().map(str::to_owned),
                f: CREATED.to_owned(),
                d: keyset.direction,
                v,
                id,
            }
        }
    };
    // Made by this gateway from stored values, which never hold control characters.
    if has_control_chars(&position.v)
        || position.v.len() > MAX_VALUE_LEN
        || !KEYS.contains(&position.f.as_str())
        || position.l.as_deref() != keyset.list.tag()
    {
        return Err(Refused::Invalid);
    }
    if position.f != keyset.key || position.d != keyset.direction {
        return Err(Refused::OtherOrder);
    }
    Ok((position.v, position.id))
}

/// The creation time (as `encode` writes it) and id of a cursor `list` gave out in its
/// earlier format; `None` for any other list's.
fn earlier(bytes: &[u8], list: List) -> Option<(String, Uuid)> {
    match list {
        List::Endpoints => None,
        List::PhoneNumbers => {
            let position = serde_json::from_slice::<CreatedPosition>(bytes).ok()?;
            Some((position.c.to_rfc3339(), position.id))
        }
        List::Members => {
            let (at, id) = std::str::from_utf8(bytes).ok()?.split_once('|')?;
            let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
            Some((at.to_rfc3339(), id.parse().ok()?))
        }
    }
}

/// The creation time and id `raw` continues after, in a list with that one order (phone
/// numbers, members): any refusal reads as an invalid cursor, since there is no other order.
pub fn decode_created(raw: &str, keyset: Keyset) -> Result<(DateTime<Utc>, Uuid), DomainError> {
    let position = decode(raw, keyset).and_then(|(at, id)| Ok((parse_time(&at)?, id)));
    position.map_err(|_| Refused::Invalid.into())
}

/// A time a cursor holds, as `encode` wrote it.
pub fn parse_time(value: &str) -> Result<DateTime<Utc>, Refused> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| Refused::Invalid)
}

#[cfg(test)]
mod tests;
