use super::*;

fn of(accept: &[&str]) -> Negotiated {
    let mut headers = HeaderMap::new();
    for value in accept {
        headers.append(header::ACCEPT, HeaderValue::from_str(value).expect("value"));
    }
    negotiate(&headers)
}

fn is(json: Option<Media>, stream: Stream) -> Negotiated {
    Negotiated {
        json,
        stream,
        multipart: false,
    }
}

const URQL: &str = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed";

#[test]
fn json_wins_when_preferred_or_equal_and_first() {
    let gr = Some(Media::GraphqlResponseJson);
    let json = Some(Media::Json);
    for (accept, expected) in [
        (URQL, is(gr, Stream::Accepted)),
        (
            "application/json, text/event-stream",
            is(json, Stream::Accepted),
        ),
        (
            "text/event-stream;q=0.9, application/json",
            is(json, Stream::Accepted),
        ),
        (
            "text/event-stream, application/json",
            is(json, Stream::Preferred),
        ),
        (
            "application/json;q=0.5, text/event-stream",
            is(json, Stream::Preferred),
        ),
        ("text/event-stream", is(None, Stream::Preferred)),
        ("*/*", is(json, Stream::Accepted)),
        // JSON by a wildcard, liked more than plain JSON, ties an event stream by the
        // same wildcard: a tie goes to JSON.
        ("application/json;q=0.5, */*", is(gr, Stream::Accepted)),
        (
            "application/json;q=0.5, */*;q=0.9",
            is(gr, Stream::Accepted),
        ),
        ("text/*, application/json", is(json, Stream::Preferred)),
        ("application/*, text/*", is(json, Stream::Accepted)),
        ("text/*;q=0.5, */*", is(json, Stream::Accepted)),
        ("text/event-stream;q=0, */*", is(json, Stream::Refused)),
        (
            "TEXT/Event-Stream ; Q=1 ,  Application/JSON",
            is(json, Stream::Preferred),
        ),
        (
            "application/json;q=0.5, text/event-stream;q=0.5",
            is(json, Stream::Accepted),
        ),
        (
            "multipart/mixed, application/json",
            is(json, Stream::Refused),
        ),
        ("multipart/mixed", is(None, Stream::Refused)),
        ("text/event-stream;q=0", is(None, Stream::Refused)),
        (
            "application/json;q=2, text/event-stream",
            is(None, Stream::Preferred),
        ),
        ("application/json;q=abc", is(None, Stream::Refused)),
        (
            "application/json;q=0.25, text/event-stream;q=0.3",
            is(json, Stream::Preferred),
        ),
        // Duplicates: the best of equally specific ranges.
        (
            "application/json;q=0, application/json, text/event-stream",
            is(json, Stream::Accepted),
        ),
        ("*/json, text/event-stream", is(None, Stream::Preferred)),
        (
            "multipart/mixed;boundary=\"a,application/json\", text/event-stream",
            is(None, Stream::Preferred),
        ),
        (
            "application/json;charset=utf-8;q=0.5;level=1, text/event-stream;q=0.4",
            is(json, Stream::Accepted),
        ),
    ] {
        assert_eq!(of(&[accept]), expected, "Accept: {accept}");
    }
}

const APOLLO_CLIENT: &str = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/graphql-response+json,application/json;q=0.9";

#[test]
fn multipart_subscriptions_only_when_named_with_their_spec() {
    let gr = Some(Media::GraphqlResponseJson);
    let json = Some(Media::Json);
    let multipart = |json, stream| Negotiated {
        json,
        stream,
        multipart: true,
    };
    for (accept, expected) in [
        (APOLLO_CLIENT, multipart(gr, Stream::Refused)),
        (
            "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\",application/graphql-response+json,application/json",
            multipart(gr, Stream::Refused),
        ),
        (
            "multipart/mixed; subscriptionSpec=1.0, application/json",
            multipart(json, Stream::Refused),
        ),
        (
            "Multipart/Mixed;SubscriptionSpec=1.0",
            multipart(None, Stream::Refused),
        ),
        // Incremental delivery (`@defer`), another version, or none at all: not offered.
        (
            "multipart/mixed;deferSpec=20220824, application/json",
            is(json, Stream::Refused),
        ),
        (
            "multipart/mixed;subscriptionSpec=2.0, application/json",
            is(json, Stream::Refused),
        ),
        ("multipart/*, */*", is(json, Stream::Accepted)),
        (
            "multipart/mixed;subscriptionSpec=1.0;q=0, application/json",
            is(json, Stream::Refused),
        ),
        // The spec is a media type parameter; after `q` it is an accept extension.
        (
            "multipart/mixed;q=1;subscriptionSpec=1.0, application/json",
            is(json, Stream::Refused),
        ),
        // Beside an event stream, the one ranked higher carries a subscription.
        (
            "multipart/mixed;subscriptionSpec=1.0, text/event-stream, application/json",
            multipart(json, Stream::Preferred),
        ),
        (
            "text/event-stream, multipart/mixed;subscriptionSpec=1.0, application/json",
            is(json, Stream::Preferred),
        ),
        (
            "text/event-stream;q=0.5, multipart/mixed;subscriptionSpec=1.0;q=0.8, application/json",
            multipart(json, Stream::Accepted),
        ),
        (
            "multipart/mixed;subscriptionSpec=1.0, */*",
            multipart(json, Stream::Accepted),
        ),
        (
            "multipart/mixed, multipart/mixed;subscriptionSpec=1.0;q=0.5, text/event-stream;q=0.6",
            is(None, Stream::Preferred),
        ),
    ] {
        assert_eq!(of(&[accept]), expected, "Accept: {accept}");
    }
    assert!(of(&["multipart/mixed;subscriptionSpec=1.0"]).acceptable());
    assert!(!of(&["multipart/mixed"]).acceptable());
}

#[test]
fn every_accept_header_counts_and_a_missing_one_is_json() {
    assert_eq!(
        of(&["application/json", "text/event-stream"]),
        is(Some(Media::Json), Stream::Accepted)
    );
    assert_eq!(
        of(&["text/event-stream", "application/json"]).stream,
        Stream::Preferred
    );
    assert_eq!(of(&[]), is(Some(Media::Json), Stream::Refused));
    assert_eq!(of(&[" "]), is(Some(Media::Json), Stream::Refused));
}
