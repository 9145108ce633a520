//! `GET /v1/openapi.json`: the seed's document with the gateway's additions (`openapi.json`),
//! where every provider's config schema, the `ProviderConfig` union and the endpoint type enums
//! are written from the provider catalog — so a new provider needs no edit here. Where the base
//! document describes a provider field in its own words, its words are kept.

use std::sync::LazyLock;

use sea_orm::Iterable;
use serde_json::{Map, Value, json};

use super::shape::seed_name;
use crate::domain::EndpointType;
use crate::domain::provider::{FieldKind, PROVIDERS, Provider, Rule, description, set_flag};

const BASE: &str = include_str!("openapi.json");

/// The document, built once.
pub(super) fn document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string_pretty(&build(BASE)).expect("a JSON value serializes")
    });
    &DOCUMENT
}

fn build(base: &str) -> Value {
    let mut document: Value = serde_json::from_str(base).expect("openapi.json is JSON");
    let schemas = &mut document["components"]["schemas"];
    for provider in PROVIDERS {
        let written = schemas[provider.config].take();
        schemas[provider.config] = provider_schema(provider, &written);
    }
    schemas["ProviderConfig"]["oneOf"] = PROVIDERS
        .iter()
        .map(|p| json!({ "$ref": format!("#/components/schemas/{}", p.config) }))
        .collect();
    let types: Value = EndpointType::iter().map(seed_name).collect();
    for schema in ["Endpoint", "EndpointCreate"] {
        schemas[schema]["properties"]["type"]["enum"] = types.clone();
    }
    document
}

/// A provider's config schema from the catalog; `written` is the base document's schema of the
/// same name, whose descriptions and formats win over the catalog's.
fn provider_schema(provider: &Provider, written: &Value) -> Value {
    let mut properties = Map::new();
    for field in provider.fields {
        let mut property = json!({
            "type": "string",
            "description": description(field.doc),
        });
        match field.kind {
            FieldKind::Plain(Rule::SipUri) => property["format"] = json!("uri"),
            FieldKind::Plain(_) => {}
            FieldKind::Secret => property["writeOnly"] = json!(true),
        }
        overlay(&mut property, &written["properties"][field.name]);
        properties.insert(field.name.to_owned(), property);
        if field.kind == FieldKind::Secret {
            let shown = set_flag(field.name);
            let mut property = json!({
                "type": "boolean",
                "readOnly": true,
                "description": "Whether it is stored (the secret itself is write-only)",
            });
            overlay(&mut property, &written["properties"][&shown]);
            properties.insert(shown, property);
        }
    }
    let required: Vec<&str> = provider
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": description(provider.doc),
        "properties": properties,
        "required": required,
        // A key the config doesn't have is refused, not ignored.
        "additionalProperties": false,
    });
    if let Some(text) = written.get("description") {
        schema["description"] = text.clone();
    }
    schema
}

/// The written property's keys over the generated ones.
fn overlay(property: &mut Value, written: &Value) {
    if let (Some(property), Some(written)) = (property.as_object_mut(), written.as_object()) {
        property.extend(written.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a word of the base document, each provider's schema still has every field,
    /// its requiredness, its secrets as write-only with a read-only `_set`, and the union lists
    /// every provider.
    #[test]
    fn provider_schemas_come_from_the_catalog() {
        let mut base: Value = serde_json::from_str(BASE).expect("JSON");
        for provider in PROVIDERS {
            base["components"]["schemas"][provider.config] = Value::Null;
        }
        let document = build(&base.to_string());
        let schemas = &document["components"]["schemas"];
        let vogent = &schemas["VogentConfig"];
        assert_eq!(
            vogent["required"],
            json!([
                "vogent_sip_prefix",
                "vogent_sip_username",
                "vogent_sip_password"
            ])
        );
        assert_eq!(
            vogent["properties"]["vogent_sip_password"]["writeOnly"],
            true
        );
        assert_eq!(
            vogent["properties"]["vogent_sip_password_set"]["readOnly"],
            true
        );
        assert_eq!(
            schemas["CustomSipConfig"]["properties"]["sip_uri"]["format"],
            "uri"
        );
        assert_eq!(schemas["CustomSipConfig"]["required"], json!(["sip_uri"]));
        assert_eq!(schemas["VapiConfig"]["additionalProperties"], false);
        assert_eq!(
            schemas["ProviderConfig"]["oneOf"].as_array().map(Vec::len),
            Some(PROVIDERS.len())
        );
        for provider in PROVIDERS {
            let schema = &schemas[provider.config];
            for field in provider.fields {
                assert!(
                    schema["properties"][field.name]["description"].is_string(),
                    "{}.{}",
                    provider.config,
                    field.name
                );
            }
        }
    }

    /// The served document keeps the base document's words for the seed's providers.
    #[test]
    fn the_seeds_words_are_kept() {
        let document: Value = serde_json::from_str(document()).expect("JSON");
        let vapi = &document["components"]["schemas"]["VapiConfig"];
        assert_eq!(vapi["description"], "Configuration for Vapi AI voice agent");
        assert_eq!(
            vapi["properties"]["assistant_id"]["description"],
            "Vapi Assistant ID (required)"
        );
        let types = &document["components"]["schemas"]["Endpoint"]["properties"]["type"]["enum"];
        for ty in [
            "webhook",
            "vapi",
            "retell",
            "livekit",
            "elevenlabs",
            "vogent",
            "custom_sip",
        ] {
            assert!(
                types.as_array().is_some_and(|t| t.contains(&json!(ty))),
                "{ty}"
            );
        }
    }
}
