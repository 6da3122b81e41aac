//! The `kith` command line: argument parsing, settings, rendering and exit codes.
//!
//! Invariants: data goes to stdout, messages to stderr; every read command has `--json`; the
//! exit code is 0 on success, 1 for a user error, 2 for a usage error (clap), 4 for an internal
//! failure. Business rules live in `app`, not here.

mod command_error;
mod contacts;
mod conventions;
mod device;
mod edit;
mod editor;
mod heap;
mod interop;
mod intro;
mod items;
mod keep;
mod list;
mod output;
mod search;
mod set;
mod share;
mod sync;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kith_core::time::Date;

use crate::app::{App, AppError, Clock};
use crate::store::Vault;

pub use command_error::{classify, finish, CommandError, ErrorKind};
pub(crate) use editor::missing_program;
pub use editor::run_editor;
pub(crate) use output::io_err;
pub use output::Out;

/// kith: a local-first personal relationship manager.
///
/// Your contacts, notes, interactions and follow-ups, in a file on your own machine.
#[derive(Parser, Debug)]
#[command(
    name = "kith",
    version,
    propagate_version = true,
    max_term_width = 100,
    arg_required_else_help = false
)]
pub struct Cli {
    /// The kith home directory (default: $KITH_HOME, else the platform's data directory, e.g.
    /// ~/.local/share/kith)
    // KITH_HOME is read in `home_of`, not by clap: clap's usage lines list every argument it
    // saw, so an environment value made them show `--home <DIR>` as if it were required.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (read commands)
    #[arg(long, global = true)]
    pub json: bool,

    /// Log what kith does to stderr: -v info, -vv debug, -vvv trace [env: KITH_LOG]
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Never page long output (also KITH_PAGER= empty)
    #[arg(long, global = true)]
    pub no_pager: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Add a contact and print its id
    #[command(after_long_help = conventions::EX_ADD)]
    Add(contacts::AddArgs),
    /// Show one contact
    #[command(after_long_help = conventions::EX_SHOW)]
    Show(contacts::ShowArgs),
    /// List contacts
    #[command(visible_alias = "ls", after_long_help = conventions::EX_LIST)]
    List(contacts::ListArgs),
    /// Edit a contact, note, interaction or reminder in $EDITOR; your change is merged with
    /// anything that changed meanwhile
    #[command(after_long_help = conventions::EX_EDIT)]
    Edit(contacts::EditArgs),
    /// Set one field of a contact (for scripts)
    #[command(after_long_help = conventions::EX_SET)]
    Set(contacts::SetArgs),
    /// Add (+TAG) or remove (-TAG) tags of a contact
    Tag(contacts::TagArgs),
    /// Archive a contact or remove a note, interaction or reminder (--undo brings it back)
    Rm(contacts::RmArgs),
    /// Link two contacts with a relation (introduced-by, works-with, reports-to, ...)
    Link(contacts::LinkArgs),
    /// Write a note about one or more contacts
    #[command(after_long_help = conventions::EX_NOTE)]
    Note(items::NoteArgs),
    /// Log an interaction (meeting, call, email, message, coffee, event, other)
    #[command(after_long_help = conventions::EX_LOG)]
    Log(items::LogArgs),
    /// Show a contact's notes, interactions and reminders, newest first
    Timeline(items::TimelineArgs),
    /// Set a reminder about a contact
    #[command(after_long_help = conventions::EX_REMIND)]
    Remind(items::RemindArgs),
    /// Show overdue and upcoming reminders and contacts past their keep-in-touch cadence
    #[command(after_long_help = conventions::EX_DUE)]
    Due(items::DueArgs),
    /// Mark a reminder done (or snooze it)
    #[command(after_long_help = conventions::EX_DONE)]
    Done(items::DoneArgs),
    /// What needs you today: overdue keep-in-touch, fading ties, dates, reminders, people to
    /// reconnect with, each saying why
    Digest(keep::DigestArgs),
    /// Record something you did for a contact (a favour, an introduction, a referral, advice)
    Gave(keep::GiveArgs),
    /// Record something a contact did for you
    Got(keep::GiveArgs),
    /// What you and each contact did for each other, with a balance per person
    Ledger(keep::LedgerArgs),
    /// Opportunities: job leads, collaborations, projects, referrals, by stage
    #[command(subcommand)]
    Opp(keep::opp::OppCommand),
    /// Every change to a contact's fields: old and new value, on which device, when, and
    /// whether from an import, an edit, another command or a sync
    History(keep::HistoryArgs),
    /// The network as Graphviz DOT, JSON or an SVG picture: contacts, links, shared
    /// organisations, people met together
    Graph(keep::GraphArgs),
    /// Contacts per tag and kind, interactions per month, strongest and fading ties
    Stats,
    /// Record a promise to a contact (a reminder the digest lists until it is done)
    Promise(keep::PromiseArgs),
    /// Search names, organisations, titles, emails, tags, notes and interactions
    #[command(after_long_help = conventions::EX_SEARCH)]
    Search(items::SearchArgs),
    /// Rebuild every index from the documents, then repack and compact the vault file
    Reindex,
    /// Verify the vault: the file's checksums, that every document loads, and the indexes
    Check,
    /// Your devices: id, invite, join, list, rename, remove
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Sync now with every one of your devices that can be reached
    #[command(after_long_help = conventions::EX_SYNC)]
    Sync(device::SyncArgs),
    /// Stay up: accept syncs and push this device's edits to your other devices
    Daemon(device::DaemonArgs),
    /// Your devices, the last sync with each, and changes not yet sent
    Status,
    /// Import contacts from vCard (.vcf) or Google/LinkedIn CSV files
    #[command(after_long_help = conventions::EX_IMPORT)]
    Import(interop::ImportArgs),
    /// Export contacts as vCard, the whole vault as JSON, or Markdown files
    #[command(after_long_help = conventions::EX_EXPORT)]
    Export(interop::ExportArgs),
    /// Merge the second contact into the first (both ids keep resolving)
    Merge(interop::MergeArgs),
    /// List likely duplicate contacts with the evidence and the merge commands
    Duplicates(interop::DuplicatesArgs),
    /// Write a consistent snapshot of the vault to FILE (safe while kith runs elsewhere)
    Backup(interop::BackupArgs),
    /// Restore a backup into an empty home
    Restore(interop::RestoreArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(after_long_help = conventions::EX_COMPLETIONS)]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Print the kith(1) man page (roff)
    #[command(after_long_help = conventions::EX_MAN)]
    Man,
    /// Serve a web UI of your vault on this machine (127.0.0.1) and print its URL
    Web(crate::web::WebArgs),
    /// Persons you share slices with (never your own devices): invite, accept, list, remove
    #[command(subcommand)]
    Person(share::PersonCommand),
    /// Share a read-only slice of your contacts with a person: create, list, show, edit,
    /// revoke, sync, serve
    #[command(subcommand)]
    Share(share::ShareCommand),
    /// What persons shared with you
    Shared(share::SharedArgs),
    /// Who you, or the persons who share with you, know at an organisation, with a title, or
    /// who could help with something
    WhoKnows(share::WhoKnowsArgs),
    /// Introductions through shared slices: ask, list, accept, decline, made, outcome
    #[command(subcommand)]
    Intro(intro::IntroCommand),
}

/// Settings resolved from flags and the environment.
pub struct Ctx {
    pub home: PathBuf,
    pub json: bool,
    /// The time when the command started (one command is short; long-lived code such as the
    /// web server reads `clock` through `App::now` instead).
    pub now: i64,
    pub today: Date,
    /// The system clock, or the one pinned by `KITH_NOW`; handed to every `App`.
    pub clock: Clock,
}

fn default_home() -> Result<PathBuf, AppError> {
    dirs::data_dir().map(|d| d.join("kith")).ok_or_else(|| {
        AppError::hint(
            "cannot find a data directory for this platform",
            "set KITH_HOME or pass --home DIR",
        )
    })
}

/// The clock: the system's, or the one pinned by `KITH_NOW` (RFC 3339; for tests and scripts).
pub(crate) fn clock() -> Result<Clock, AppError> {
    if let Ok(pinned) = std::env::var("KITH_NOW") {
        let ms = kith_core::time::parse_rfc3339_to_unix_ms(&pinned).map_err(|e| {
            AppError::hint(
                format!("KITH_NOW: {e}"),
                "unset KITH_NOW or give an RFC 3339 time",
            )
        })?;
        return Ok(Clock::pinned(ms));
    }
    Ok(Clock::system())
}

impl Ctx {
    /// Opens the vault for a command that only reads: nothing is written or synced to disk.
    pub fn open_read(&self) -> Result<App, AppError> {
        heap::on_huge_pages();
        let t = std::time::Instant::now();
        let vault = Vault::open_read_only(&crate::app::vault_path(&self.home))?;
        tracing::debug!(home = %self.home.display(), ms = t.elapsed().as_millis() as u64, "vault opened read-only");
        Ok(App::new(vault, self.home.clone(), self.clock.clone()))
    }

    /// Opens the vault for a command that writes.
    pub fn open(&self) -> Result<App, AppError> {
        let t = std::time::Instant::now();
        let vault = Vault::open(&crate::app::vault_path(&self.home))?;
        tracing::debug!(home = %self.home.display(), ms = t.elapsed().as_millis() as u64, "vault opened");
        Ok(App::new(vault, self.home.clone(), self.clock.clone()))
    }
}

/// The vault file the command line refers to, if a home can be found (for error messages).
pub fn vault_of(cli: &Cli) -> Option<PathBuf> {
    let home = home_of(cli.home.clone()).ok()?;
    Some(crate::app::vault_path(&home))
}

/// The home: `--home`, else `KITH_HOME` (when not empty), else the platform's data directory.
fn home_of(flag: Option<PathBuf>) -> Result<PathBuf, AppError> {
    if let Some(h) = flag {
        return Ok(h);
    }
    match std::env::var_os("KITH_HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h)),
        None => match crate::config::load().ok().and_then(|c| c.home.clone()) {
            Some(h) => Ok(h),
            None => default_home(),
        },
    }
}

/// Runs a parsed command line. Returns the process exit code.
pub fn run(cli: Cli, out: &mut Out) -> Result<(), AppError> {
    match cli.command {
        Command::Completions { shell } => return conventions::completions(shell, out),
        Command::Man => return conventions::man(out),
        _ => {}
    }
    let settings = crate::config::load()?;
    conventions::init_logging(cli.verbose, settings)?;
    if conventions::pages(&cli.command) {
        out.set_pager(conventions::pager(cli.no_pager, settings));
    }
    crate::store::set_commit_origin(&keep::origin_of(&cli.command));
    let home = home_of(cli.home)?;
    let clock = clock()?;
    let (now, today) = clock.read();
    let ctx = Ctx {
        home,
        json: cli.json,
        now,
        today,
        clock,
    };
    match cli.command {
        Command::Add(a) => contacts::add(&ctx, a, out),
        Command::Show(a) => contacts::show(&ctx, a, out),
        Command::List(a) => contacts::list(&ctx, a, out),
        Command::Edit(a) => contacts::edit(&ctx, a, out),
        Command::Set(a) => contacts::set(&ctx, a, out),
        Command::Tag(a) => contacts::tag(&ctx, a, out),
        Command::Rm(a) => contacts::rm(&ctx, a, out),
        Command::Link(a) => contacts::link(&ctx, a, out),
        Command::Note(a) => items::note(&ctx, a, out),
        Command::Log(a) => items::log(&ctx, a, out),
        Command::Timeline(a) => items::timeline(&ctx, a, out),
        Command::Remind(a) => items::remind(&ctx, a, out),
        Command::Due(a) => items::due(&ctx, a, out),
        Command::Done(a) => items::done(&ctx, a, out),
        Command::Digest(a) => keep::digest(&ctx, a, out),
        Command::Gave(a) => keep::give(&ctx, a, crate::keep::GAVE, out),
        Command::Got(a) => keep::give(&ctx, a, crate::keep::GOT, out),
        Command::Ledger(a) => keep::ledger(&ctx, a, out),
        Command::Opp(c) => keep::opp::opp(&ctx, c, out),
        Command::History(a) => keep::history(&ctx, a, out),
        Command::Graph(a) => keep::graph(&ctx, a, out),
        Command::Stats => keep::stats(&ctx, out),
        Command::Promise(a) => keep::promise(&ctx, a, out),
        Command::Search(a) => items::search(&ctx, a, out),
        Command::Reindex => items::reindex(&ctx, out),
        Command::Check => check(&ctx, out),
        Command::Device(c) => device::device(&ctx, c, out),
        Command::Sync(a) => device::sync(&ctx, a, out),
        Command::Daemon(a) => device::daemon(&ctx, a, out),
        Command::Status => device::status(&ctx, out),
        Command::Import(a) => interop::import(&ctx, a, out),
        Command::Export(a) => interop::export(&ctx, a, out),
        Command::Merge(a) => interop::merge(&ctx, a, out),
        Command::Duplicates(a) => interop::duplicates(&ctx, a, out),
        Command::Backup(a) => interop::backup(&ctx, a, out),
        Command::Restore(a) => interop::restore(&ctx, a, out),
        Command::Completions { .. } | Command::Man => Ok(()),
        Command::Web(a) => crate::web::run(&ctx, a, out),
        Command::Person(c) => share::person(&ctx, c, out),
        Command::Share(c) => share::share(&ctx, c, out),
        Command::Shared(a) => share::shared(&ctx, a, out),
        Command::WhoKnows(a) => share::who_knows(&ctx, a, out),
        Command::Intro(c) => intro::intro(&ctx, c, out),
    }
}

/// `kith check`: prints "ok" and the document counts, or what is wrong (exit 1).
fn check(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let path = crate::app::vault_path(&ctx.home);
    let rep = crate::store::Vault::check(&path)?;
    if ctx.json {
        out.json(&rep).map_err(output::io_err)?;
    } else {
        for p in &rep.problems {
            out.line(format!("problem: {p}")).map_err(output::io_err)?;
        }
        for s in &rep.skipped {
            out.note(format!("note: skipped: {s}"));
        }
        if rep.ok {
            let total: u64 = rep.documents.values().sum();
            let parts: Vec<String> = rep
                .documents
                .iter()
                .map(|(k, n)| format!("{n} {k}{}", if *n == 1 { "" } else { "s" }))
                .collect();
            out.line(if parts.is_empty() {
                format!("ok: {total} documents")
            } else {
                format!("ok: {total} documents ({})", parts.join(", "))
            })
            .map_err(output::io_err)?;
        }
    }
    if rep.ok {
        return Ok(());
    }
    Err(AppError::hint(
        format!(
            "the vault {} has {} problem{}",
            path.display(),
            rep.problems.len(),
            if rep.problems.len() == 1 { "" } else { "s" }
        ),
        "if only indexes differ, run `kith reindex`; otherwise restore a backup into a new home (kith restore FILE --home DIR) or sync a new home from another device",
    ))
}
