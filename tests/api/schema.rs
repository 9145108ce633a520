//! `schema.graphql` is a snapshot of the schema the code builds.

#[test]
fn schema_file_matches_print_schema() {
    let printed = cockpit_gateway::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).expect("schema.graphql exists");
    if printed != on_disk {
        let diff = similar::TextDiff::from_lines(&on_disk, &printed)
            .unified_diff()
            .context_radius(3)
            .header("schema.graphql", "printed by the code")
            .to_string();
        panic!(
            "schema.graphql is out of date: run `cargo run -- print-schema > schema.graphql`\n{diff}"
        );
    }
}

#[test]
fn print_schema_command_prints_the_checked_in_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .arg("print-schema")
        .output()
        .expect("run print-schema");
    assert!(out.status.success());
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema");
    assert_eq!(String::from_utf8_lossy(&out.stdout), on_disk);
}

#[test]
fn schema_has_the_contract_shapes() {
    let sdl = cockpit_gateway::graphql::sdl();
    for needle in [
        "input CreateProviderConfigInput @oneOf",
        "input UpdateProviderConfigInput @oneOf",
        "input CreateVapiConfigInput {",
        "\tassistantId: String!\n",
        "interface Node {",
        "type Endpoint implements Node {",
        "node(id: ID!): Node\n",
        "nodes(ids: [ID!]!): [Node]!\n",
        "union ProviderConfig = VapiConfig | RetellConfig | ElevenLabsConfig | LiveKitConfig | VogentConfig | CustomSipConfig",
        "first: Int = 50",
        "orderBy: EndpointOrder",
        "): EndpointConnection!",
        "userErrors: [UserError!]!",
        "createEndpoint(input: CreateEndpointInput!): CreateEndpointPayload\n",
        "updateEndpoint(input: UpdateEndpointInput!): UpdateEndpointPayload\n",
        "deleteEndpoint(input: DeleteEndpointInput!): DeleteEndpointPayload\n",
        "scalar DateTime @specifiedBy(url: \"https://scalars.graphql.org/andimarek/date-time\")\n",
        "scalar UUID @specifiedBy(url: ",
    ] {
        assert!(sdl.contains(needle), "schema lacks `{needle}`");
    }
    // Numbers and endpoints don't nest into each other: a cycle of lists costed as one object
    // each let a query of cost 8 fan out into tens of thousands of lookups.
    let number = &sdl[sdl
        .find("type PhoneNumber implements Node {")
        .expect("PhoneNumber")..];
    let number = &number[..number.find("\n}").expect("its end")];
    assert!(
        number.contains("\tendpointId: UUID\n") || number.ends_with("\tendpointId: UUID"),
        "{number}"
    );
    assert!(!number.contains("Endpoint\n"), "{number}");
}
