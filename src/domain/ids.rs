//! Object ids: UUIDs that say which type of object they name, so that one id finds its object
//! with one lookup (GraphQL's `node(id:)`) while staying the plain UUID every API and the CLI
//! have always used.
//!
//! A new id is a UUIDv8 (RFC 9562 §5.8, "custom") laid out as a UUIDv7 — the milliseconds since
//! the Unix epoch first, so that ids sort by creation and keep indexes compact — except that the
//! four bits after the version hold the type (`Kind::tag`). The other 70 bits are the v7
//! generator's counter and random bits. Ids made before types were tagged (UUIDv7) and ids of
//! rows written by other tools (any version) carry no type: they are looked up in every table.

use uuid::Uuid;

/// The kinds of object with an id of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Endpoint,
    PhoneNumber,
    ApiKey,
    Organization,
    OrganizationMember,
    /// An event: a record of the audit log.
    Event,
    /// A subscription's delivery of an endpoint's event (`EndpointEvent`): its id is its
    /// event's, with this kind (see [`retag`]).
    EndpointEvent,
    /// A subscription's delivery of a phone number's event (`PhoneNumberEvent`).
    PhoneNumberEvent,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Endpoint,
        Kind::PhoneNumber,
        Kind::ApiKey,
        Kind::Organization,
        Kind::OrganizationMember,
        Kind::Event,
        Kind::EndpointEvent,
        Kind::PhoneNumberEvent,
    ];

    /// The four bits an id of this kind carries. Never reuse a retired tag.
    fn tag(self) -> u8 {
        match self {
            Kind::Endpoint => 1,
            Kind::PhoneNumber => 2,
            Kind::ApiKey => 3,
            Kind::Organization => 4,
            Kind::OrganizationMember => 5,
            Kind::Event => 6,
            Kind::EndpointEvent => 7,
            Kind::PhoneNumberEvent => 8,
        }
    }
}

/// A new id for an object of `kind`.
pub fn new_id(kind: Kind) -> Uuid {
    let mut bytes = *Uuid::now_v7().as_bytes();
    // Byte 6: the version in the high four bits, then the first four bits of v7's `rand_a`.
    bytes[6] = 0x80 | kind.tag();
    Uuid::from_bytes(bytes)
}

/// `id` (a typed id) with its kind replaced by `kind`: the id of another object that stands
/// for the same thing (an event's delivery), distinct from it and found from it without a
/// lookup.
pub fn retag(id: Uuid, kind: Kind) -> Uuid {
    let mut bytes = *id.as_bytes();
    bytes[6] = 0x80 | kind.tag();
    Uuid::from_bytes(bytes)
}

/// The kind an id says it names; `None` for an id that carries no kind.
pub fn kind_of(id: Uuid) -> Option<Kind> {
    if id.get_version_num() != 8 || id.get_variant() != uuid::Variant::RFC4122 {
        return None;
    }
    let tag = id.as_bytes()[6] & 0x0f;
    Kind::ALL.into_iter().find(|kind| kind.tag() == tag)
}

/// The kinds an id that carries none may name, in the order they are looked for: every kind
/// but members and events (every member and event has a typed id).
static UNTYPED: [Kind; 4] = [
    Kind::Endpoint,
    Kind::PhoneNumber,
    Kind::ApiKey,
    Kind::Organization,
];

/// The most lookups one id takes: an untyped one is looked for in each table it may be in.
pub const MOST_CANDIDATES: usize = UNTYPED.len();

/// The kinds an object with id `id` may be, in the order they are looked for: its own, or
/// every one an untyped id may name. Each is a lookup in its table.
pub fn candidates(id: Uuid) -> &'static [Kind] {
    static ALL: [Kind; 8] = Kind::ALL;
    match kind_of(id).and_then(|kind| ALL.iter().position(|k| *k == kind)) {
        Some(at) => &ALL[at..=at],
        None => &UNTYPED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_says_its_kind_and_sorts_by_creation() {
        for kind in Kind::ALL {
            let first = new_id(kind);
            std::thread::sleep(std::time::Duration::from_millis(2));
            let second = new_id(kind);
            assert_eq!(kind_of(first), Some(kind));
            assert_eq!(first.get_version_num(), 8);
            assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
            assert!(first < second, "{first} {second}");
            assert_ne!(first, new_id(kind));
        }
        // Untagged ids: v7 (made before tags), v4 (written by other tools), and a v8 whose tag
        // names no kind.
        assert_eq!(kind_of(Uuid::now_v7()), None);
        assert_eq!(kind_of(Uuid::new_v4()), None);
        let mut bytes = *new_id(Kind::Endpoint).as_bytes();
        bytes[6] = 0x8f;
        assert_eq!(kind_of(Uuid::from_bytes(bytes)), None);
    }

    #[test]
    fn a_typed_id_is_looked_for_once_and_an_untyped_one_in_every_table_but_members() {
        for kind in Kind::ALL {
            assert_eq!(candidates(new_id(kind)), [kind]);
        }
        let untyped = candidates(Uuid::now_v7());
        assert_eq!(untyped, UNTYPED);
        assert_eq!(untyped.len(), MOST_CANDIDATES);
    }

    #[test]
    fn a_retagged_id_is_another_kind_of_the_same_thing() {
        let event = new_id(Kind::Event);
        let delivery = retag(event, Kind::EndpointEvent);
        assert_ne!(delivery, event);
        assert_eq!(kind_of(delivery), Some(Kind::EndpointEvent));
        assert_eq!(retag(delivery, Kind::Event), event);
    }
}
