//! `schema check`: the breaking changes from an older schema, and whether anyone uses them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::CliError;
use crate::config::Config;
use crate::schema_check::{self, Document, Schema, Usage, one_line};

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// List the breaking changes from an older schema, with the trusted documents and clients
    /// that use them; exits 1 when one is in use, 2 when an input can't be read.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The schema (SDL) clients were built against.
    #[arg(long, value_name = "OLD.graphql")]
    pub against: PathBuf,
    /// The schema to ship (SDL); the gateway's own schema when not given.
    #[arg(long, value_name = "NEW.graphql")]
    pub schema: Option<PathBuf>,
    /// A trusted documents manifest, in any format `--trusted-documents` reads.
    #[arg(long, value_name = "MANIFEST")]
    pub documents: Option<PathBuf>,
    /// Also name the clients that used each change in the last N days (needs the database).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub usage_days: Option<u64>,
    /// `text` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub(super) async fn run(command: SchemaCommand, config: &Config) -> Result<(), CliError> {
    let SchemaCommand::Check(args) = command;
    let old = read_schema(&args.against)?;
    let new = match &args.schema {
        Some(path) => read_schema(path)?,
        None => Schema::parse(&crate::graphql::sdl())
            .map_err(|e| CliError::Unchecked(format!("the gateway's own schema: {e}")))?,
    };
    let manifest = match &args.documents {
        Some(path) => crate::http::trusted::Manifest::load(path)
            .map_err(|e| CliError::Unchecked(one_line(&e)))?,
        None => crate::http::trusted::Manifest::default(),
    };
    let mut documents: Vec<Document> = manifest
        .documents()
        .map(|(id, text)| Document { id, text })
        .collect();
    documents.sort_by_key(|d| d.id);
    let usage = match args.usage_days {
        Some(days) => Some(recorded_usage(config, days).await?),
        None => None,
    };
    let report = schema_check::check(&old, &new, &documents, usage.as_deref());
    match args.format {
        Format::Text => print!("{}", report.text()),
        Format::Json => {
            let json = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::Unchecked(format!("the report: {e}")))?;
            println!("{json}");
        }
    }
    match report.in_use() {
        0 => Ok(()),
        n => Err(CliError::BreakingInUse(n)),
    }
}

fn read_schema(path: &Path) -> Result<Schema, CliError> {
    let shown = path.display();
    let sdl = crate::files::read_text(path)
        .map_err(|e| CliError::Unchecked(format!("the schema {shown} can't be read: {e}")))?;
    Schema::parse(&sdl).map_err(|e| {
        // The parser quotes the line it stopped at, which may be the whole file.
        let e: String = e.chars().take(300).collect();
        CliError::Unchecked(format!("the schema {shown} is not valid SDL: {e}"))
    })
}

/// The clients that used each schema coordinate in the last `days` days, as every gateway on
/// the configured database recorded them.
async fn recorded_usage(config: &Config, days: u64) -> Result<Box<dyn Usage>, CliError> {
    // Read only: a check creates, migrates or keys no database, so a mistyped URL fails here
    // instead of passing on an empty one.
    let db = crate::db::connect_existing(&config.database_url)
        .await
        .map_err(|e| CliError::Unchecked(format!("field usage can't be read: {e}")))?;
    let days = u32::try_from(days).unwrap_or(u32::MAX);
    let recorded = crate::domain::usage::recorded(&crate::db::Db::from(db), days)
        .await
        .map_err(|_| {
            CliError::Unchecked(
                "field usage can't be read: the database has no field usage table (is DATABASE_URL a gateway's database, migrated by this version?)".to_owned(),
            )
        })?;
    let usage: BTreeMap<String, Vec<(String, u64)>> = recorded
        .into_iter()
        .map(|(coordinate, clients)| {
            let clients = clients
                .into_iter()
                .map(|c| (c.client_name, c.count.unsigned_abs()))
                .collect();
            (coordinate, clients)
        })
        .collect();
    Ok(Box::new(usage))
}
