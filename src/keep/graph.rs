//! The network as a whole (issue 11): incoming links (`kith show`), `kith graph` (contacts,
//! links, shared organisations, people met together) and `kith stats`.
//!
//! Invariant: reads only derived tables (contact summaries, item summaries, last contacts and
//! the link terms of `ix_postings`); it never loads a document, so it is a few table scans
//! whatever the size of the history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kith_core::index::{link_term, parse_link_term, ContactSummary, LINK_TERM_PREFIX};
use kith_core::time::Date;
use kith_core::{DocId, Kind};
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

fn visible(s: &ContactSummary) -> bool {
    !s.archived && s.merged_into.is_empty()
}

impl App {
    /// Links other (not archived, not merged) contacts have to `to`, read from its link terms.
    pub fn incoming_links(&self, r: &Reader, to: DocId) -> Result<Vec<IncomingLink>> {
        let mut out = Vec::new();
        for (term, postings) in r.terms_with_prefix(&link_term(to))? {
            let Some((_, rel)) = parse_link_term(&term) else {
                continue;
            };
            for (ord, _) in postings {
                let Some(from) = r.id_of_ord(ord)? else {
                    continue;
                };
                let Some(s) = r.contact(from)? else { continue };
                if from == to || !visible(&s) {
                    continue;
                }
                out.push(IncomingLink {
                    from,
                    name: s.name,
                    rel: rel.to_string(),
                });
            }
        }
        out.sort_by(|a, b| (&a.name, a.from, &a.rel).cmp(&(&b.name, b.from, &b.rel)));
        Ok(out)
    }
}

/// One node of `kith graph` (also its JSON schema).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Node {
    /// A contact id, or `org:<name>` for an organisation.
    pub id: String,
    /// `contact` or `org`.
    pub kind: &'static str,
    pub label: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// One edge of `kith graph` (also its JSON schema).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `link` (directed, `label` is the relation), `org` (contact works at an organisation
    /// shared with another drawn contact; `label` is empty), or `met` (undirected: interactions
    /// with both; `weight` counts them).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub weight: u32,
}

/// `kith graph` (also its JSON schema).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// At most this many contacts in an interaction make "met together" edges (a 40-person event
/// would otherwise add 780 edges that say little).
pub const MET_TOGETHER_MAX: usize = 12;

impl App {
    /// The network: contacts (with `tag` only, when given), links between them, organisations
    /// two or more of them share (by their current role), and pairs met together in an
    /// interaction of at most [`MET_TOGETHER_MAX`] contacts.
    pub fn graph(&self, tag: Option<&str>) -> Result<Graph> {
        let r = self.vault.read()?;
        let tag = tag.map(|t| t.trim().to_lowercase());
        let mut people: BTreeMap<DocId, ContactSummary> = BTreeMap::new();
        for (id, s) in r.contacts()? {
            if visible(&s) && tag.as_ref().is_none_or(|t| s.tags.iter().any(|x| x == t)) {
                people.insert(id, s);
            }
        }
        let mut g = Graph::default();
        for (id, s) in &people {
            g.nodes.push(Node {
                id: id.to_hex(),
                kind: "contact",
                label: s.name.clone(),
                tags: s.tags.clone(),
            });
        }
        // Links, from the link terms; each ordinal resolved once.
        let mut ords: HashMap<u32, Option<DocId>> = HashMap::new();
        let mut links: BTreeSet<(DocId, DocId, String)> = BTreeSet::new();
        for (term, postings) in r.terms_with_prefix(LINK_TERM_PREFIX)? {
            let Some((to, rel)) = parse_link_term(&term) else {
                continue;
            };
            if !people.contains_key(&to) {
                continue;
            }
            for (ord, _) in postings {
                let from = match ords.get(&ord) {
                    Some(f) => *f,
                    None => {
                        let f = r.id_of_ord(ord)?;
                        ords.insert(ord, f);
                        f
                    }
                };
                if let Some(from) = from {
                    if from != to && people.contains_key(&from) {
                        links.insert((from, to, rel.to_string()));
                    }
                }
            }
        }
        for (from, to, rel) in links {
            g.edges.push(Edge {
                from: from.to_hex(),
                to: to.to_hex(),
                kind: "link",
                label: rel,
                weight: 1,
            });
        }
        // Shared organisations (case and accents ignored; labelled as the first member, in id order, writes it).
        let mut orgs: BTreeMap<String, (String, Vec<DocId>)> = BTreeMap::new();
        for (id, s) in &people {
            let org = s.org.trim();
            if !org.is_empty() {
                orgs.entry(kith_core::text::fold(org))
                    .or_insert_with(|| (org.to_string(), Vec::new()))
                    .1
                    .push(*id);
            }
        }
        for (key, (name, members)) in orgs {
            if members.len() < 2 {
                continue;
            }
            let node = format!("org:{key}");
            g.nodes.push(Node {
                id: node.clone(),
                kind: "org",
                label: name,
                tags: Vec::new(),
            });
            for m in members {
                g.edges.push(Edge {
                    from: m.to_hex(),
                    to: node.clone(),
                    kind: "org",
                    label: String::new(),
                    weight: 1,
                });
            }
        }
        // Met together.
        let mut met: BTreeMap<(DocId, DocId), u32> = BTreeMap::new();
        let mut cs: Vec<DocId> = Vec::new();
        r.scan_items(|_, it| {
            if it.kind != Kind::Interaction || it.contacts.len() < 2 {
                return;
            }
            if it.contacts.len() > MET_TOGETHER_MAX {
                return;
            }
            cs.clear();
            cs.extend(
                it.contacts
                    .iter()
                    .filter_map(|c| c.parse::<DocId>().ok())
                    .filter(|c| people.contains_key(c)),
            );
            cs.sort();
            cs.dedup();
            for i in 0..cs.len() {
                for j in i + 1..cs.len() {
                    *met.entry((cs[i], cs[j])).or_insert(0) += 1;
                }
            }
        })?;
        for ((a, b), n) in met {
            g.edges.push(Edge {
                from: a.to_hex(),
                to: b.to_hex(),
                kind: "met",
                label: String::new(),
                weight: n,
            });
        }
        Ok(g)
    }
}

/// Escapes a string for a DOT quoted id.
fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Graph {
    /// Graphviz DOT: contacts as ellipses, organisations as boxes, links as labelled arrows,
    /// organisation membership dashed, met-together as undirected lines (`dir=none`) whose
    /// width grows with the number of interactions.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph kith {\n  node [shape=ellipse];\n");
        for n in &self.nodes {
            let shape = if n.kind == "org" { " shape=box" } else { "" };
            s.push_str(&format!(
                "  {} [label={}{shape}];\n",
                dot_str(&n.id),
                dot_str(&n.label)
            ));
        }
        for e in &self.edges {
            let attrs = match e.kind {
                "link" => format!("label={}", dot_str(&e.label)),
                "org" => "style=dashed dir=none".to_string(),
                _ => format!(
                    "dir=none label=\"met {}x\" penwidth={}",
                    e.weight,
                    1 + e.weight.min(5)
                ),
            };
            s.push_str(&format!(
                "  {} -> {} [{attrs}];\n",
                dot_str(&e.from),
                dot_str(&e.to)
            ));
        }
        s.push_str("}\n");
        s
    }

    /// An SVG picture, laid out and drawn by the `layout-rs` crate (a Graphviz-style layered
    /// layout). Organisations are boxes, contacts circles; links carry their relation.
    pub fn to_svg(&self) -> String {
        use layout::backends::svg::SVGWriter;
        use layout::core::base::Orientation;
        use layout::core::geometry::Point;
        use layout::core::style::{LineStyleKind, StyleAttr};
        use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
        use layout::topo::layout::VisualGraph;

        let mut vg = VisualGraph::new(Orientation::TopToBottom);
        let mut handles = HashMap::new();
        for n in &self.nodes {
            let shape = if n.kind == "org" {
                ShapeKind::new_box(&n.label)
            } else {
                ShapeKind::new_circle(&n.label)
            };
            let width = 40.0 + 8.0 * n.label.chars().count().min(30) as f64;
            let el = Element::create(
                shape,
                StyleAttr::simple(),
                Orientation::TopToBottom,
                Point::new(width, 40.0),
            );
            handles.insert(n.id.clone(), vg.add_node(el));
        }
        for e in &self.edges {
            let (Some(a), Some(b)) = (handles.get(&e.from), handles.get(&e.to)) else {
                continue;
            };
            let (end, style, text) = match e.kind {
                "link" => (LineEndKind::Arrow, LineStyleKind::Normal, e.label.clone()),
                "org" => (LineEndKind::None, LineStyleKind::Dashed, String::new()),
                _ => (
                    LineEndKind::None,
                    LineStyleKind::Normal,
                    format!("met {}x", e.weight),
                ),
            };
            let arrow = Arrow::new(
                LineEndKind::None,
                end,
                style,
                &text,
                &StyleAttr::simple(),
                &None,
                &None,
            );
            vg.add_edge(arrow, *a, *b);
        }
        let mut svg = SVGWriter::new();
        if vg.num_nodes() > 0 {
            vg.do_it(false, false, false, &mut svg);
        }
        svg.finalize()
    }
}

/// The most nodes `kith graph --format svg` lays out; more is unreadable as one picture and
/// the layered layout grows faster than linearly (narrow it with `--tag`).
pub const SVG_MAX_NODES: usize = 300;

// ---------------------------------------------------------------------------------------------
// Stats.

/// A count under a name (also its JSON schema).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Count {
    pub name: String,
    pub count: u32,
}

/// A tie and its weight (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct Tie {
    pub id: DocId,
    pub name: String,
    /// Interactions logged with the contact (up to today).
    pub interactions: u32,
    /// Last interaction day, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// Why (fading ties: the digest's rule in words).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// `kith stats` (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Contacts (not archived, not merged).
    pub contacts: u32,
    pub archived: u32,
    pub notes: u32,
    pub interactions: u32,
    pub reminders_open: u32,
    pub opportunities: u32,
    /// Contacts per tag, most first (then by name).
    pub tags: Vec<Count>,
    /// Contacts per relationship kind, most first.
    pub kinds: Vec<Count>,
    /// Interactions per month (`YYYY-MM`) over the last 12 months up to today, oldest first,
    /// months without any included.
    pub per_month: Vec<Count>,
    /// The contacts with the most interactions (at most 10).
    pub strongest: Vec<Tie>,
    /// Fading ties, by the digest's rule (README, "The digest").
    pub fading: Vec<Tie>,
}

/// How many strongest ties `stats` lists.
pub const STRONGEST_MAX: usize = 10;

fn counts(m: BTreeMap<&str, u32>) -> Vec<Count> {
    let mut v: Vec<Count> = m
        .into_iter()
        .map(|(name, count)| Count {
            name: name.to_string(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    v
}

impl App {
    /// `kith stats`.
    pub fn stats(&self) -> Result<Stats> {
        let today = self.today().to_days();
        let r = self.vault.read()?;
        // Contact summaries decoded without copying their strings: `people` borrows the names
        // from `encoded` (one buffer for the whole table).
        let encoded = r.contacts_encoded()?;
        let mut people: HashMap<DocId, &str> = HashMap::with_capacity(encoded.entries.len());
        let mut archived = 0;
        let mut tags: BTreeMap<&str, u32> = BTreeMap::new();
        let mut kinds: BTreeMap<&str, u32> = BTreeMap::new();
        for &(id, start, end) in &encoded.entries {
            let s = crate::store::decode_contact(&encoded.bytes[start..end])?;
            if !s.merged_into.is_empty() {
                continue;
            }
            if s.archived {
                archived += 1;
                continue;
            }
            for t in &s.tags {
                *tags.entry(t).or_insert(0) += 1;
            }
            for k in &s.kinds {
                *kinds.entry(k).or_insert(0) += 1;
            }
            people.insert(id, s.name);
        }
        let (mut notes, mut interactions, mut reminders_open, mut opportunities) = (0, 0, 0, 0);
        // The last 12 months, oldest first.
        let mut months: Vec<(i32, u8)> = Vec::new();
        let (mut y, mut m) = (self.today().year, self.today().month);
        for _ in 0..12 {
            months.push((y, m));
            if m == 1 {
                y -= 1;
                m = 12;
            } else {
                m -= 1;
            }
        }
        months.reverse();
        let mut per_month: BTreeMap<(i32, u8), u32> = months.iter().map(|k| (*k, 0)).collect();
        r.scan_items(|_, it| match it.kind {
            Kind::Note => notes += 1,
            Kind::Reminder if !it.done => reminders_open += 1,
            Kind::Opportunity => opportunities += 1,
            Kind::Interaction => {
                interactions += 1;
                if it.day <= today {
                    let d = Date::from_days(it.day);
                    if let Some(n) = per_month.get_mut(&(d.year, d.month)) {
                        *n += 1;
                    }
                }
            }
            _ => {}
        })?;
        // Interactions up to today and the last of them, per contact (`ix_contact_days`, read
        // once: the fading ties below are computed from the same rows).
        let contact_days = r.contact_days()?;
        let mut per_contact: HashMap<DocId, (u32, i32)> =
            HashMap::with_capacity(contact_days.len());
        for (id, days) in contact_days.iter() {
            let past = days.iter().filter(|d| **d <= today);
            let n = past.clone().count() as u32;
            if let Some(last) = past.max() {
                per_contact.insert(id, (n, *last));
            }
        }
        // The strongest ties: ranked by (interactions, last day) first, keeping every contact
        // tied with the last one kept, then by name too: the same as sorting every contact by
        // all three, with a name and a date string made only for those few.
        let mut ranked: Vec<(u32, i32, DocId)> = per_contact
            .iter()
            .filter(|(id, _)| people.contains_key(*id))
            .map(|(id, (n, last))| (*n, *last, *id))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let keep = match ranked.get(STRONGEST_MAX.saturating_sub(1)) {
            Some(&(n, last, _)) => ranked
                .iter()
                .position(|x| (x.0, x.1) < (n, last))
                .unwrap_or(ranked.len()),
            None => ranked.len(),
        };
        let mut strongest: Vec<Tie> = ranked[..keep]
            .iter()
            .map(|&(n, last, id)| Tie {
                id,
                name: people.get(&id).map(|s| s.to_string()).unwrap_or_default(),
                interactions: n,
                last: Some(Date::from_days(last).to_string()),
                why: String::new(),
            })
            .collect();
        strongest.sort_by(|a, b| {
            b.interactions
                .cmp(&a.interactions)
                .then(b.last.cmp(&a.last))
                .then(a.name.cmp(&b.name))
        });
        strongest.truncate(STRONGEST_MAX);
        // The digest's fading ties: its rule over the same rows, without the contacts the
        // digest lists as overdue first (no digest is built).
        let overdue: BTreeSet<DocId> = r
            .cadence_due(today)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let fading = self
            .silent_ties(&r.lookup()?, &contact_days, today, &overdue, false)?
            .fading
            .into_iter()
            .map(|l| Tie {
                id: l.id,
                interactions: per_contact.get(&l.id).map(|p| p.0).unwrap_or(0),
                name: l.name,
                last: l.date.map(|d| d.to_string()),
                why: l.why,
            })
            .collect();
        Ok(Stats {
            contacts: people.len() as u32,
            archived,
            notes,
            interactions,
            reminders_open,
            opportunities,
            tags: counts(tags),
            kinds: counts(kinds),
            per_month: per_month
                .into_iter()
                .map(|((y, m), count)| Count {
                    name: format!("{y:04}-{m:02}"),
                    count,
                })
                .collect(),
            strongest,
            fading,
        })
    }
}
