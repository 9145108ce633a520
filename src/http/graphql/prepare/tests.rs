use super::super::super::media::Media;
use super::*;

fn analysis(operation_type: OperationType) -> Analysis {
    Analysis {
        operation_type,
        operation_name: None,
        introspection_only: false,
        introspects: false,
        depth: 2,
        aliases: 0,
        directives: 0,
        cost: 2,
        fields: 2,
    }
}

fn admission(via_get: bool, streaming: bool) -> Admission {
    Admission {
        arrival: Arrival {
            via_get,
            media: Media::Json,
            request_bytes: 40,
            streaming,
            subscriptions_only: false,
            live: false,
        },
        only_introspection: false,
        introspection: true,
        identified: true,
    }
}

fn admitted(text: &str, analysis: &Analysis, admission: Admission) -> Result<(), ApiError> {
    let document = async_graphql::parser::parse_query(text).expect("a document");
    admit(analysis, &document, None, admission, &Limits::default())
}

#[test]
fn a_document_past_a_bound_is_refused_before_it_is_parsed() {
    let limits = Limits {
        max_nesting: 3,
        max_tokens: 12,
        ..Limits::default()
    };
    let shape = measure("{ a { b } }", &limits).expect("within the bounds");
    assert_eq!((shape.tokens, shape.nesting), (6, 2));
    let deep = measure("{ a { b { c { d } } } }", &limits).expect_err("too deep");
    assert_eq!(deep.code, Code::NestingLimitExceeded);
    let long = measure("{ a b c d e f g h i j k l m }", &limits).expect_err("too long");
    assert_eq!(long.code, Code::TokenLimitExceeded);
}

#[test]
fn a_subscription_runs_only_where_it_streams_and_selects_one_root_field() {
    let subscription = analysis(OperationType::Subscription);
    let one = "subscription { endpointEvents { cursor } }";
    admitted(one, &subscription, admission(false, true)).expect("streams");
    // An EventSource subscribes by GET.
    admitted(one, &subscription, admission(true, true)).expect("an event stream's GET");
    let refusal =
        admitted(one, &subscription, admission(false, false)).expect_err("nowhere to stream");
    assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    for two in [
        "subscription { a: endpointEvents { cursor } b: endpointEvents { cursor } }",
        "subscription { ... on Subscription { endpointEvents { cursor } } __typename }",
        "subscription { __typename }",
    ] {
        let refusal =
            admitted(two, &subscription, admission(false, true)).expect_err("not one root");
        assert_eq!(refusal.code, Code::GraphqlValidationFailed, "{two}");
    }
}

#[test]
fn a_client_that_takes_multipart_alone_can_only_subscribe() {
    let multipart_only = Admission {
        arrival: Arrival {
            subscriptions_only: true,
            ..admission(false, true).arrival
        },
        ..admission(false, true)
    };
    let refusal = admitted("{ a }", &analysis(OperationType::Query), multipart_only)
        .expect_err("a query has no multipart answer");
    assert_eq!(refusal.status, StatusCode::NOT_ACCEPTABLE);
    admitted(
        "subscription { endpointEvents { cursor } }",
        &analysis(OperationType::Subscription),
        multipart_only,
    )
    .expect("a subscription has");
}

#[test]
fn only_queries_are_sent_with_get() {
    let mutation = analysis(OperationType::Mutation);
    let refusal = admitted("mutation { a }", &mutation, admission(true, false))
        .expect_err("a mutation by GET");
    assert_eq!(refusal.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refusal.allow, Some("POST"));
    admitted("mutation { a }", &mutation, admission(false, false)).expect("by POST");
    admitted(
        "{ a }",
        &analysis(OperationType::Query),
        admission(true, false),
    )
    .expect("a query by GET");
}

#[test]
fn introspection_and_credentials_are_ruled_on_by_what_the_operation_selects() {
    let introspection = Analysis {
        introspection_only: true,
        introspects: true,
        ..analysis(OperationType::Query)
    };
    let anonymous = Admission {
        identified: false,
        ..admission(false, false)
    };
    admitted("{ __schema { types { name } } }", &introspection, anonymous)
        .expect("introspection needs no credential");
    let refusal = admitted("{ a }", &analysis(OperationType::Query), anonymous)
        .expect_err("anything else does");
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    let off = Admission {
        introspection: false,
        ..admission(false, false)
    };
    let refusal = admitted("{ __schema { types { name } } }", &introspection, off)
        .expect_err("introspection turned off");
    assert_eq!(refusal.code, Code::GraphqlValidationFailed);
    let untrusted = Admission {
        only_introspection: true,
        ..admission(false, false)
    };
    admitted("{ __schema { types { name } } }", &introspection, untrusted)
        .expect("an untrusted text may introspect");
    let refusal = admitted("{ a }", &analysis(OperationType::Query), untrusted)
        .expect_err("and nothing else");
    assert_eq!(refusal.code, Code::PersistedQueryNotAllowed);
}

#[test]
fn the_limits_are_checked_in_their_order() {
    let deep = Analysis {
        depth: 99,
        aliases: 99,
        ..analysis(OperationType::Query)
    };
    let refusal = admitted("{ a }", &deep, admission(false, false)).expect_err("over two limits");
    assert_eq!(refusal.code, Code::DepthLimitExceeded);
}
