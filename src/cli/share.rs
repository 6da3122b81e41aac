//! `person`, `share`, `shared`, `who-knows`: parsing and rendering; the use cases are in
//! `app::share` (storage, projections) and `app::persons` (network flows).

use std::collections::BTreeSet;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kith_core::share::{self as kshare, Field, Filter, Spec};

use super::device::{open_shared, NetArgs};
use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{self, persons, AppError};

#[derive(Subcommand, Debug)]
pub enum PersonCommand {
    /// Print a one-time ticket (first line) and wait for the person to accept it
    Invite {
        /// What you call the person you invite
        #[arg(long)]
        name: String,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Accept a person's ticket
    Accept {
        ticket: String,
        /// What you call the person who invited you
        #[arg(long)]
        name: String,
        #[command(flatten)]
        net: NetArgs,
    },
    /// The persons you paired with
    #[command(visible_alias = "ls")]
    List,
    /// Forget a person: revoke your shares with them and drop what they shared
    Remove { name: String },
}

#[derive(Subcommand, Debug)]
pub enum ShareCommand {
    /// Share a slice of your contacts with a person (read-only); prints the share id
    Create(CreateArgs),
    /// Your shares
    #[command(visible_alias = "ls")]
    List,
    /// Exactly what the person sees of a share
    Show { id: String },
    /// Widen or narrow a share (a narrowing starts a new epoch of fresh documents)
    Edit(EditArgs),
    /// Stop sharing: the person receives nothing more and their copy drops the slice
    Revoke { id: String },
    /// Receive the slices persons share with you now
    Sync {
        #[command(flatten)]
        net: NetArgs,
    },
    /// Serve your shares until interrupted (`kith daemon` serves them too)
    Serve {
        #[command(flatten)]
        net: NetArgs,
    },
}

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// Contacts carrying this tag (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// This contact (repeatable)
    #[arg(long = "contact", value_name = "REF")]
    contacts: Vec<String>,
    /// Contacts whose name, org, title, email, tags or help match every word
    #[arg(long, value_name = "QUERY")]
    query: Option<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The person to share with
    #[arg(long = "with", value_name = "PERSON")]
    with: String,
    #[command(flatten)]
    filter: FilterArgs,
    /// Fields shared, comma-separated: name,org,title,tags,emails,phones,urls,help,met
    /// [default: name,org,title,help]
    #[arg(long, value_name = "F,F")]
    fields: Option<String>,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    id: String,
    #[command(flatten)]
    filter: FilterArgs,
    /// The new field list (replaces the old one)
    #[arg(long, value_name = "F,F")]
    fields: Option<String>,
}

#[derive(Args, Debug)]
pub struct SharedArgs {
    /// Only what this person shared
    #[arg(long, value_name = "PERSON")]
    from: Option<String>,
}

#[derive(Args, Debug)]
pub struct WhoKnowsArgs {
    /// An organisation, a title or a word of how they could help
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
}

fn filter_of(ctx: &Ctx, f: &FilterArgs, required: bool) -> Result<Option<Filter>, AppError> {
    let given = [
        !f.tags.is_empty(),
        !f.contacts.is_empty(),
        f.query.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given > 1 {
        return Err(AppError::hint(
            "give one kind of filter: --tag, --contact or --query",
            "repeat --tag or --contact for several",
        ));
    }
    if given == 0 {
        return if required {
            Err(AppError::hint(
                "which contacts? give --tag TAG, --contact REF or --query QUERY",
                "e.g. `kith share create --with Sam --tag investors`",
            ))
        } else {
            Ok(None)
        };
    }
    if !f.tags.is_empty() {
        return Ok(Some(Filter::Tags(app::clean_tags(&f.tags)?)));
    }
    if let Some(q) = &f.query {
        if kith_core::text::terms(q).is_empty() {
            return Err(AppError::user("the --query has no words"));
        }
        return Ok(Some(Filter::Query(q.clone())));
    }
    let a = ctx.open_read()?;
    let r = a.vault.read()?;
    let mut ids = BTreeSet::new();
    for c in &f.contacts {
        ids.insert(app::resolve_contact(&r, c)?);
    }
    Ok(Some(Filter::Contacts(ids)))
}

fn fields_of(s: &Option<String>) -> Result<Option<BTreeSet<Field>>, AppError> {
    match s {
        None => Ok(None),
        Some(s) => kshare::parse_fields(s).map(Some).map_err(|e| {
            AppError::hint(
                format!("--fields: {e}"),
                "e.g. --fields name,org,title,help",
            )
        }),
    }
}

fn fields_text<'a>(f: impl IntoIterator<Item = &'a Field>) -> String {
    f.into_iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn filter_text(f: &Filter) -> String {
    match f {
        Filter::Tags(t) => format!("tags {}", t.iter().cloned().collect::<Vec<_>>().join(",")),
        Filter::Contacts(c) => format!("{} contact(s)", c.len()),
        Filter::Query(q) => format!("query \"{q}\""),
    }
}

pub fn person(ctx: &Ctx, cmd: PersonCommand, out: &mut Out) -> Result<(), AppError> {
    match cmd {
        PersonCommand::Invite { name, net } => {
            let cfg = net.config(ctx)?;
            let vault = open_shared(ctx)?;
            let key = persons::invite(vault, &ctx.home, cfg, &name, &mut |t| {
                out.line(t).map_err(io_err)?;
                out.flush().map_err(io_err)?;
                out.note("waiting for the person: they run `kith person accept TICKET --name YOUR-NAME` (the ticket works once, for 10 minutes)");
                Ok(())
            })?;
            out.note(format!("paired with the person {name} ({})", &key[..8]));
            Ok(())
        }
        PersonCommand::Accept { ticket, name, net } => {
            let cfg = net.config(ctx)?;
            let vault = open_shared(ctx)?;
            let key = persons::accept(vault, &ctx.home, cfg, &ticket, &name)?;
            out.note(format!("paired with the person {name} ({})", &key[..8]));
            Ok(())
        }
        PersonCommand::List => {
            let a = ctx.open_read()?;
            let ps = a.sharing().persons()?;
            if ctx.json {
                return out.json(&ps).map_err(io_err);
            }
            if ps.is_empty() {
                out.note("no persons yet: `kith person invite --name NAME`");
                return Ok(());
            }
            let mut rows = vec![["NAME", "KEY", "LAST SYNC", "ERROR"]
                .map(String::from)
                .to_vec()];
            for p in ps {
                rows.push(vec![
                    p.name,
                    p.key[..8].to_string(),
                    p.paired_on
                        .map_or(when(p.last_sync), |d| format!("paired on {d}")),
                    p.last_error,
                ]);
            }
            out.table(&rows).map_err(io_err)
        }
        PersonCommand::Remove { name } => {
            let mut a = ctx.open()?;
            let p = a.sharing().remove_person(&name)?;
            a.compact_after_drop()?;
            out.note(format!("removed the person {}", p.name));
            Ok(())
        }
    }
}

pub fn share(ctx: &Ctx, cmd: ShareCommand, out: &mut Out) -> Result<(), AppError> {
    match cmd {
        ShareCommand::Create(a) => {
            let filter = filter_of(ctx, &a.filter, true)?.expect("required");
            let fields =
                fields_of(&a.fields)?.unwrap_or_else(|| Field::DEFAULT.into_iter().collect());
            let app = ctx.open()?;
            let id = app
                .sharing()
                .create_share(&a.with, Spec { filter, fields })?;
            if ctx.json {
                return out
                    .json(&serde_json::json!({ "id": id.to_hex() }))
                    .map_err(io_err);
            }
            out.line(id.to_hex()).map_err(io_err)
        }
        ShareCommand::List => {
            let app = ctx.open_read()?;
            let rows = app.sharing().share_rows()?;
            if ctx.json {
                return out.json(&rows).map_err(io_err);
            }
            if rows.is_empty() {
                out.note("no shares yet: `kith share create --with PERSON --tag TAG`");
                return Ok(());
            }
            let mut t = vec![vec![
                "ID".into(),
                "WITH".into(),
                "FILTER".into(),
                "FIELDS".into(),
                "EPOCH".into(),
                "CONTACTS".into(),
                "REFUSED WRITES".into(),
                "SERVED BY".into(),
            ]];
            for r in rows {
                t.push(vec![
                    r.id[..8].to_string(),
                    r.with,
                    filter_text(&r.filter),
                    fields_text(&r.fields),
                    r.epoch.to_string(),
                    r.contacts.to_string(),
                    r.write_attempts.to_string(),
                    r.served_by.unwrap_or_else(|| "this device".into()),
                ]);
            }
            out.table(&t).map_err(io_err)
        }
        ShareCommand::Show { id } => {
            // Reads only, unless an older kith derived the share last (derived once: a write).
            let mut app = ctx.open_read()?;
            if app.sharing().resolve_share(&id)?.needs_derivation() {
                drop(app);
                app = ctx.open()?;
            }
            let (def, rows) = app.sharing().show_share(&id)?;
            if ctx.json {
                return out
                    .json(&serde_json::json!({"id": def.id.to_hex(), "epoch": def.epoch, "contacts": rows}))
                    .map_err(io_err);
            }
            out.note(format!(
                "share {} (epoch {}): {} contact(s), fields {}",
                def.id.short(),
                def.epoch,
                rows.len(),
                fields_text(&def.spec.fields)
            ));
            for p in rows {
                let line = p
                    .iter()
                    .map(|(k, v)| match v {
                        kshare::PValue::Str(s) => format!("{k}: {s}"),
                        kshare::PValue::Set(s) => {
                            format!("{k}: {}", s.iter().cloned().collect::<Vec<_>>().join(", "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                out.line(line).map_err(io_err)?;
            }
            Ok(())
        }
        ShareCommand::Edit(a) => {
            let filter = filter_of(ctx, &a.filter, false)?;
            let fields = fields_of(&a.fields)?;
            if filter.is_none() && fields.is_none() {
                return Err(AppError::hint(
                    "nothing to change",
                    "give --tag/--contact/--query and/or --fields",
                ));
            }
            let app = ctx.open()?;
            let before = app.sharing().resolve_share(&a.id)?.epoch;
            let def = app.sharing().edit_share(&a.id, filter, fields)?;
            if def.epoch != before {
                out.note(format!(
                    "share {} narrowed: epoch {} starts; the person's copy of epoch {} is dropped at their next sync",
                    def.id.short(),
                    def.epoch,
                    before
                ));
            } else {
                out.note(format!(
                    "share {} updated (epoch {})",
                    def.id.short(),
                    def.epoch
                ));
            }
            Ok(())
        }
        ShareCommand::Revoke { id } => {
            let app = ctx.open()?;
            let def = app.sharing().revoke_share(&id)?;
            out.note(format!(
                "revoked share {}: nothing more is sent, and the person's copy is dropped at their next sync (what they already received cannot be recalled)",
                def.id.short()
            ));
            Ok(())
        }
        ShareCommand::Sync { net } => {
            let cfg = net.config(ctx)?;
            let vault = open_shared(ctx)?;
            let reports = persons::pull_all(vault.clone(), &ctx.home, cfg)?;
            compact_if_dropped(vault, &reports)?;
            render_pulls(ctx, &reports, out)?;
            if reports.is_empty() {
                return Err(AppError::hint(
                    "no persons to receive slices from",
                    "pair with one: `kith person accept TICKET --name NAME`",
                ));
            }
            if reports.iter().all(|r| r.error.is_some()) {
                return Err(AppError::user("no person's slice could be received"));
            }
            Ok(())
        }
        ShareCommand::Serve { net } => {
            let cfg = net.config(ctx)?;
            let vault = open_shared(ctx)?;
            persons::serve(vault, &ctx.home, cfg, &mut |line| {
                if line.starts_with("serving") {
                    out.line(&line).map_err(io_err)?;
                    out.flush().map_err(io_err)?;
                } else {
                    out.note(line);
                }
                Ok(())
            })
        }
    }
}

mod received;
pub use received::*;
