//! The subcommands: serving, migrating, printing and checking the schema, and the admin
//! commands.

use super::*;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the gateway (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    PrintSchema,
    /// Check the schema against an older one.
    #[command(subcommand)]
    Schema(super::SchemaCommand),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage phone numbers.
    #[command(subcommand, name = "phone-number")]
    PhoneNumber(PhoneNumberCommand),
    /// Manage organization members (dashboard users).
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a user (their JWT `sub`) to an organization, or change their role.
    Add {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Owner => Role::Owner,
            RoleArg::Admin => Role::Admin,
            RoleArg::Member => Role::Member,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key, once. Only its SHA-256 is stored.
    Create {
        #[arg(long)]
        org: Uuid,
        #[arg(long, value_enum)]
        mode: ModeArg,
        #[arg(long, default_value = "Default key")]
        name: String,
    },
    /// Revoke an API key by id; it stops working on the next request.
    Revoke { key_id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum PhoneNumberCommand {
    /// Add an E.164 phone number to an organization; prints its id.
    Add {
        #[arg(long)]
        org: Uuid,
        #[arg(long, value_enum)]
        mode: ModeArg,
        #[arg(long)]
        number: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Test,
    Live,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Test => Mode::Test,
            ModeArg::Live => Mode::Live,
        }
    }
}
