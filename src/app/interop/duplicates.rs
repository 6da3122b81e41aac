//! `kith duplicates`: candidate pairs through the identity indexes, never all pairs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kith_core::interop::dedup;
use kith_core::model::{self, Contact};
use kith_core::DocId;
use serde::Serialize;

use crate::app::{App, Result};
use crate::store::SharedIndex;

/// A shared name, email or phone held by more contacts than this is not used to propose pairs
/// (a switchboard number, a team address): it would propose every pair among them.
pub const MAX_SHARED: usize = 50;

/// A contact of a duplicate group, as `kith duplicates` shows it.
#[derive(Debug, Serialize)]
pub struct DupContact {
    pub id: DocId,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub org: String,
}

/// Two contacts of a group and why they may be one person.
#[derive(Debug, Serialize)]
pub struct DupPair {
    pub a: DocId,
    pub b: DocId,
    #[serde(flatten)]
    pub evidence: dedup::Evidence,
}

/// Contacts that are likely one person: the first is the suggested survivor (the one with the
/// most entries), `merge` the commands that fold the others into it.
#[derive(Debug, Serialize)]
pub struct DupGroup {
    pub score: u32,
    pub contacts: Vec<DupContact>,
    pub pairs: Vec<DupPair>,
    pub merge: Vec<String>,
}

/// The result of `kith duplicates` (also its `--json` schema).
#[derive(Debug, Serialize)]
pub struct Duplicates {
    pub groups: Vec<DupGroup>,
}

fn find_root(parent: &mut HashMap<DocId, DocId>, x: DocId) -> DocId {
    let mut r = x;
    while let Some(&p) = parent.get(&r) {
        if p == r {
            break;
        }
        r = p;
    }
    // Path compression.
    let mut c = x;
    while c != r {
        let next = parent[&c];
        parent.insert(c, r);
        c = next;
    }
    r
}

impl App {
    /// Likely duplicates, best first. Candidate pairs come only from contacts that share an
    /// index key (folded name, email, phone: one pass over each table) or the same name words
    /// (one pass over the contact summaries), never from all pairs; each candidate pair is
    /// judged by `dedup::evidence` and the proposed pairs are joined into groups.
    pub fn duplicates(&self) -> Result<Duplicates> {
        let r = self.vault.read()?;
        let live: HashMap<DocId, String> = r
            .contacts()?
            .into_iter()
            .filter(|(_, c)| c.merged_into.is_empty())
            .map(|(id, c)| (id, c.name))
            .collect();
        let mut sets: Vec<Vec<DocId>> = Vec::new();
        for ix in [SharedIndex::Names, SharedIndex::Emails, SharedIndex::Phones] {
            for (_, ids) in r.shared_keys(ix)? {
                sets.push(ids);
            }
        }
        let mut by_words: HashMap<String, Vec<DocId>> = HashMap::new();
        for (id, name) in &live {
            let k = dedup::match_key(name);
            if !k.is_empty() {
                by_words.entry(k).or_default().push(*id);
            }
        }
        sets.extend(by_words.into_values().filter(|v| v.len() > 1));
        let mut candidates: BTreeSet<(DocId, DocId)> = BTreeSet::new();
        for ids in sets {
            let mut ids: Vec<DocId> = ids.into_iter().filter(|i| live.contains_key(i)).collect();
            ids.sort();
            ids.dedup();
            if ids.len() > MAX_SHARED {
                continue;
            }
            for (i, a) in ids.iter().enumerate() {
                for b in &ids[i + 1..] {
                    candidates.insert((*a, *b));
                }
            }
        }
        let mut cache: HashMap<DocId, Contact> = HashMap::new();
        let mut pairs = Vec::new();
        for (a, b) in candidates {
            for id in [a, b] {
                if let std::collections::hash_map::Entry::Vacant(v) = cache.entry(id) {
                    v.insert(
                        r.load(id)?
                            .map(|d| model::read_contact(&d))
                            .unwrap_or_default(),
                    );
                }
            }
            if let Some(e) = dedup::evidence(&cache[&a], &cache[&b]) {
                pairs.push(DupPair { a, b, evidence: e });
            }
        }
        let mut parent: HashMap<DocId, DocId> = HashMap::new();
        for p in &pairs {
            parent.entry(p.a).or_insert(p.a);
            parent.entry(p.b).or_insert(p.b);
            let (ra, rb) = (find_root(&mut parent, p.a), find_root(&mut parent, p.b));
            if ra != rb {
                parent.insert(ra.max(rb), ra.min(rb));
            }
        }
        let mut groups: BTreeMap<DocId, (Vec<DocId>, Vec<DupPair>)> = BTreeMap::new();
        let members: Vec<DocId> = parent.keys().copied().collect();
        for id in members {
            let root = find_root(&mut parent, id);
            groups.entry(root).or_default().0.push(id);
        }
        for p in pairs {
            let root = find_root(&mut parent, p.a);
            groups.entry(root).or_default().1.push(p);
        }
        let size = |c: &Contact| c.emails.len() + c.phones.len() + c.urls.len() + c.orgs.len();
        let mut out: Vec<DupGroup> = groups
            .into_values()
            .map(|(mut ids, mut pairs)| {
                ids.sort_by(|x, y| {
                    let (cx, cy) = (&cache[x], &cache[y]);
                    size(cy)
                        .cmp(&size(cx))
                        .then(cx.created.cmp(&cy.created))
                        .then(x.cmp(y))
                });
                pairs.sort_by(|p, q| {
                    q.evidence
                        .score
                        .cmp(&p.evidence.score)
                        .then((p.a, p.b).cmp(&(q.a, q.b)))
                });
                let score = pairs.first().map(|p| p.evidence.score).unwrap_or(0);
                let survivor = ids[0].to_hex();
                let merge = ids[1..]
                    .iter()
                    .map(|o| format!("kith merge {survivor} {}", o.to_hex()))
                    .collect();
                let contacts = ids
                    .iter()
                    .map(|id| {
                        let c = &cache[id];
                        DupContact {
                            id: *id,
                            name: c.name.clone(),
                            emails: c.emails.values().map(|e| e.value.clone()).collect(),
                            phones: c.phones.values().map(|e| e.value.clone()).collect(),
                            org: c.primary_role().map(|r| r.org.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                DupGroup {
                    score,
                    contacts,
                    pairs,
                    merge,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then_with(|| {
                    kith_core::text::fold(&a.contacts[0].name)
                        .cmp(&kith_core::text::fold(&b.contacts[0].name))
                })
                .then(a.contacts[0].id.cmp(&b.contacts[0].id))
        });
        Ok(Duplicates { groups: out })
    }
}
