//! The network as a whole (issue 11): incoming links (`kith show`), `kith graph` (contacts,
//! links, shared organisations, people met together) and `kith stats`.
//!
//! Invariant: reads only derived tables (contact summaries, item summaries, timelines, the
//! link terms of `ix_postings`) plus, for `graph`, the links of the contacts it draws (the one
//! field no summary holds), so it never loads a note, interaction or reminder document.

use kith_core::index::link_term;
use kith_core::model;
use kith_core::DocId;
use serde::Serialize;

use crate::app::{App, Result};
use crate::store::Reader;

/// A link from another contact to this one (also its JSON schema, in `kith show --json`'s
/// `links_in`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IncomingLink {
    /// The contact the link is written on.
    pub from: DocId,
    pub name: String,
    /// The relation, as written on `from` (`introduced-by`, ...).
    pub rel: String,
}

impl App {
    /// Links other contacts have to `to`: the contacts found by its link term, then the
    /// matching links read from each (a contact may link to `to` more than once).
    pub fn incoming_links(&self, r: &Reader, to: DocId) -> Result<Vec<IncomingLink>> {
        let mut out = Vec::new();
        let hex = to.to_hex();
        for (ord, (_, exact)) in r.postings_prefix(&link_term(to))? {
            if !exact {
                continue;
            }
            let Some(from) = r.id_of_ord(ord)? else {
                continue;
            };
            if from == to {
                continue;
            }
            let Some(doc) = r.load(from)? else { continue };
            let c = model::read_contact(&doc);
            if c.archived || !c.merged_into.is_empty() {
                continue;
            }
            for l in c.links.values() {
                if l.to.trim() == hex {
                    out.push(IncomingLink {
                        from,
                        name: c.name.clone(),
                        rel: l.rel.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.name, a.from, &a.rel).cmp(&(&b.name, b.from, &b.rel)));
        Ok(out)
    }
}
