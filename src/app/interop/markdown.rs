//! `kith export --format markdown`: one file per contact.

use std::path::Path;

use automerge::AutoCommit;
use kith_core::model::{self, Contact};
use kith_core::{DocId, Kind};

use super::ExportFilter;
use crate::app::{App, Result};
use crate::store::map_io;

impl App {
    /// One Markdown file per selected contact in `dir`: YAML front matter, how we met, and the
    /// timeline newest first. Returns the number of files written.
    pub fn export_markdown(&self, f: &ExportFilter, dir: &Path) -> Result<usize> {
        let ids = self.export_ids(f)?;
        std::fs::create_dir_all(dir).map_err(|e| map_io(dir, e))?;
        let r = self.vault.read()?;
        for id in &ids {
            let Some(doc) = r.load(*id)? else { continue };
            let c = model::read_contact(&doc);
            let mut items = Vec::new();
            for (iid, kind) in r.timeline(*id)? {
                if let Some(d) = r.load(iid)? {
                    items.push((kind, d));
                }
            }
            let text = markdown(*id, &c, &items);
            let path = dir.join(format!("{}-{}.md", slug(&c.name), id.short()));
            crate::atomic::write(&path, text.as_bytes()).map_err(|e| map_io(&path, e))?;
        }
        Ok(ids.len())
    }
}

fn slug(name: &str) -> String {
    let folded = kith_core::text::fold(name);
    let words: Vec<String> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    if words.is_empty() {
        "contact".into()
    } else {
        words.join("-")
    }
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn yaml_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.map(yaml_str).collect();
    format!("[{}]", v.join(", "))
}

fn markdown(id: DocId, c: &Contact, items: &[(Kind, AutoCommit)]) -> String {
    let mut s = String::from("---\n");
    s.push_str(&format!("id: {}\n", yaml_str(&id.to_hex())));
    s.push_str(&format!("name: {}\n", yaml_str(&c.name)));
    let scalars = [
        ("nickname", &c.nickname),
        ("birthday", &c.birthday),
        ("every", &c.every),
        ("uid", &c.uid),
    ];
    for (k, v) in scalars {
        if !v.is_empty() {
            s.push_str(&format!("{k}: {}\n", yaml_str(v)));
        }
    }
    if let Some(r) = c.primary_role() {
        if !r.org.is_empty() {
            s.push_str(&format!("org: {}\n", yaml_str(&r.org)));
        }
        if !r.title.is_empty() {
            s.push_str(&format!("title: {}\n", yaml_str(&r.title)));
        }
    }
    for (k, list) in [
        ("emails", &c.emails),
        ("phones", &c.phones),
        ("urls", &c.urls),
    ] {
        if !list.is_empty() {
            s.push_str(&format!(
                "{k}: {}\n",
                yaml_list(list.values().map(|e| e.value.as_str()))
            ));
        }
    }
    for (k, set) in [("tags", &c.tags), ("kinds", &c.kinds)] {
        if !set.is_empty() {
            s.push_str(&format!(
                "{k}: {}\n",
                yaml_list(set.iter().map(String::as_str))
            ));
        }
    }
    s.push_str("---\n\n");
    s.push_str(&format!("# {}\n", c.name));
    if !c.met.trim().is_empty() {
        s.push_str(&format!("\nHow we met: {}\n", c.met.trim()));
    }
    if !items.is_empty() {
        s.push_str("\n## Timeline\n");
    }
    for (kind, d) in items {
        let (head, body) = match kind {
            Kind::Note => {
                let n = model::read_note(d);
                let day = kith_core::time::Date::from_unix_ms(n.created, 0);
                (format!("{day} · note"), n.body)
            }
            Kind::Interaction => {
                let i = model::read_interaction(d);
                (format!("{} · {}", i.date, i.kind), i.summary)
            }
            Kind::Reminder => {
                let r = model::read_reminder(d);
                let state = if r.done { "done" } else { "open" };
                (format!("{} · reminder ({state})", r.due), r.text)
            }
            Kind::Opportunity => {
                let o = model::read_opportunity(d);
                let day = kith_core::time::Date::from_unix_ms(o.created, 0);
                (
                    format!("{day} · opportunity ({}): {}", o.stage, o.title),
                    o.note,
                )
            }
            Kind::Devices => continue,
            Kind::Contact => continue,
        };
        s.push_str(&format!("\n### {head}\n"));
        if !body.trim().is_empty() {
            s.push_str(&format!("\n{}\n", body.trim_end()));
        }
    }
    s
}
