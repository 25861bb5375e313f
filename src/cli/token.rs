//! `herald token create --subject alice --scopes events:read,triggers:operate`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::auth::create_token;

/// `herald token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new random token (once) and the entry to add to the file named by HERALD_TOKENS_FILE.
    Create {
        /// Who the token belongs to; recorded as the actor of operator actions.
        #[arg(long)]
        subject: String,
        /// Comma-separated scopes: events:publish, events:read, triggers:read, triggers:write, triggers:operate,
        /// sources:operate, schemas:write, metrics:read, admin.
        #[arg(long)]
        scopes: String,
    },
}

/// Runs a token command.
pub fn run(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Create { subject, scopes } => match create_token(&subject, &scopes) {
            Ok(created) => {
                println!("token: {}", created.token);
                println!("(shown once: Herald keeps only its SHA-256)\n");
                println!("# add to the file named by HERALD_TOKENS_FILE:");
                print!("{}", created.entry);
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("herald token create: {message}");
                ExitCode::from(2)
            }
        },
    }
}
