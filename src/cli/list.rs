//! `kith list`: parses the filters, calls `App::list`, renders the table or JSON.
//!
//! Invariant: no rule lives here; the filtering and sorting are `App::list`'s.

use std::fmt::Write as _;

use clap::Args;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{AppError, ListQuery, SortBy};
use crate::store::EncodedContacts;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only contacts with this tag (repeat: all must match)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only contacts of this relationship kind, e.g. mentor (repeat: all must match)
    #[arg(long = "kind", short = 'k', value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only contacts whose organisation contains this text
    #[arg(long)]
    pub org: Option<String>,
    /// Sort order
    #[arg(long, value_enum, default_value_t = SortBy::Name)]
    pub sort: SortBy,
    /// Reverse the sort order
    #[arg(long, short = 'r')]
    pub reverse: bool,
    /// Show at most N contacts (after sorting)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Leave out the column headers
    #[arg(long)]
    pub no_header: bool,
    /// Include archived contacts
    #[arg(long)]
    pub archived: bool,
}

pub fn list(ctx: &Ctx, a: ListArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let mut buf = EncodedContacts::default();
    let q = ListQuery {
        only_tags: a.tags,
        kinds: a.kinds,
        org: a.org,
        sort: a.sort,
        reverse: a.reverse,
        limit: a.limit,
        archived: a.archived,
        ..Default::default()
    };
    let rows = app.list(&q, &mut buf)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    if rows.is_empty() {
        out.note("no contacts; add one with `kith add NAME`");
        return Ok(());
    }
    let header = (!a.no_header).then_some(["ID", "NAME", "ROLE", "EMAIL", "LAST CONTACT"]);
    out.table_of_headed(header, &rows, |r, [id, name, role, email, last]| {
        id.push_str(&r.id.short());
        name.push_str(r.name);
        if r.archived {
            name.push_str(" [archived]");
        }
        role.push_str(r.title);
        if !r.org.is_empty() {
            if !r.title.is_empty() {
                role.push_str(", ");
            }
            role.push_str(r.org);
        }
        email.push_str(r.email);
        match r.last_contact {
            Some(d) => {
                let _ = write!(last, "{d}");
            }
            None => last.push('-'),
        }
    })
    .map_err(io_err)
}
