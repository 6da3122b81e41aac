//! Full-text search over the posting index.
//!
//! Invariant: reads postings and summaries only; every query word must match a word of the
//! document (as a prefix), so adding words never adds hits.

use super::*;

/// One search hit (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct Hit {
    pub id: DocId,
    pub kind: Kind,
    pub score: u32,
    /// Contact name, or the names of the item's contacts.
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub date: String,
    pub text: String,
}

impl App {
    /// Full-text search: every query word must match (as a prefix) some word of the document.
    /// Ranked by field weight (names above organisations above tags above text), exact words
    /// above prefixes, then newest first.
    pub fn search(&self, query: &str, limit: usize) -> Result<(usize, Vec<Hit>)> {
        let words = text::terms(query);
        if words.is_empty() {
            return Err(AppError::hint(
                "the search query has no words",
                "search for a name, an email, an organisation, a tag or a word of a note",
            ));
        }
        let r = self.vault.read()?;
        let all_words = |words: &[String]| -> Result<std::collections::HashMap<u32, u32>> {
            let mut acc: Option<std::collections::HashMap<u32, u32>> = None;
            for w in words {
                let hits = r.postings_prefix(w)?;
                let mut next = std::collections::HashMap::new();
                for (ord, (weight, exact)) in hits {
                    let s = u32::from(weight) * 10 + if exact { 5 } else { 0 };
                    match &acc {
                        None => {
                            next.insert(ord, s);
                        }
                        Some(prev) => {
                            if let Some(p) = prev.get(&ord) {
                                next.insert(ord, p + s);
                            }
                        }
                    }
                }
                acc = Some(next);
            }
            Ok(acc.unwrap_or_default())
        };
        let mut scored = all_words(&words)?;
        // A query that is a phone number in any formatting (`+1 (555) 010-9999`, `555.010`)
        // also matches phones by their digits.
        if let Some(digits) = kith_core::index::phone_query(query) {
            if words != [digits.clone()] {
                for (ord, s) in all_words(&[digits])? {
                    let e = scored.entry(ord).or_insert(0);
                    *e = (*e).max(s);
                }
            }
        }
        let total = scored.len();
        // Rank first by score; break ties by recency, which needs summaries: fetch the best
        // candidates only.
        let mut by_score: Vec<(u32, u32)> = scored.into_iter().map(|(o, s)| (s, o)).collect();
        by_score.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut hits = Vec::new();
        let mut names: BTreeMap<DocId, String> = BTreeMap::new();
        for (score, ord) in by_score.into_iter().take(limit) {
            let Some(id) = r.id_of_ord(ord)? else {
                continue;
            };
            if let Some(s) = r.contact(id)? {
                if !s.merged_into.is_empty() {
                    continue;
                }
                let mut text = [s.title.as_str(), s.org.as_str()]
                    .iter()
                    .filter(|x| !x.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                if s.archived {
                    text.push_str(" [archived]");
                }
                hits.push(Hit {
                    id,
                    kind: Kind::Contact,
                    score,
                    title: s.name,
                    date: String::new(),
                    text,
                });
            } else if let Some(item) = r.item(id)? {
                let mut who = Vec::new();
                for c in &item.contacts {
                    if !names.contains_key(c) {
                        let n = r.contact(*c)?.map(|s| s.name).unwrap_or_else(|| c.short());
                        names.insert(*c, n);
                    }
                    who.push(names[c].clone());
                }
                hits.push(Hit {
                    id,
                    kind: item.kind,
                    score,
                    title: who.join(", "),
                    date: Date::from_days(item.day).to_string(),
                    text: item.snippet,
                });
            }
        }
        hits.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(b.date.cmp(&a.date))
                .then(a.id.cmp(&b.id))
        });
        Ok((total, hits))
    }
}
