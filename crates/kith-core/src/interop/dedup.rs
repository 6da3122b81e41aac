//! Who is the same person: the name rules of import matching and the evidence `kith duplicates`
//! weighs (docs/export-format.md, "Matching").
//!
//! Invariants:
//! - A shared email or phone alone never makes two differently named people one: import
//!   merges a card into a contact only when [`same_name`] holds (or one side has no name).
//! - Pure and deterministic: the same two contacts always give the same [`Evidence`].

use std::collections::BTreeSet;

use crate::index::phone_key;
use crate::model::Contact;
use crate::text;

/// Words that are not part of who someone is: honorifics and generational suffixes.
const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "jr", "sr", "ii", "iii", "iv",
    "phd", "md",
];

/// The words of a name, folded (case and accents), split on anything that is not a letter or
/// digit. A name that is an email address (a card without FN or N) has no words.
pub fn name_words(name: &str) -> Vec<String> {
    if name.contains('@') {
        return Vec::new();
    }
    text::fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Import's name rule: the same words in any order, ignoring case, accents, punctuation and
/// honorifics ("Berg, Anna" = "Dr. Anna Berg" = "anna BERG"; not "Anna M. Berg"), or one side
/// is a single word that is the other's given name ("Ada" / "Ada Lovelace"; not "Berg" /
/// "Nils Berg"), or one side has no name (no words, or an email address as its name).
pub fn same_name(a: &str, b: &str) -> bool {
    let (ka, kb) = (match_key(a), match_key(b));
    ka.is_empty() || kb.is_empty() || ka == kb || given_only(a, b) || given_only(b, a)
}

/// `a` is one word, the given name of `b` ("Ada" / "Ada Lovelace", "Ada" / "Lovelace, Ada"):
/// what someone types in kith before a card fills in the rest.
fn given_only(a: &str, b: &str) -> bool {
    let wa = core_words(a);
    if wa.len() != 1 {
        return false;
    }
    let given = match b.split_once(',') {
        Some((_, given)) => core_words(given).into_iter().next(),
        None => core_words(b).into_iter().next(),
    };
    given.as_deref() == Some(wa[0].as_str())
}

/// How alike two names are, for `kith duplicates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NameMatch {
    /// Nothing in common (Anna Berg / Nils Berg).
    Different,
    /// One side has no name (a card with only an email).
    Unknown,
    /// Every word of the shorter name matches a distinct word of the longer one, an initial
    /// matching a word it starts ("A. Berg", "Anna M. Berg", "Dr. Anna Berg" / "Anna Berg").
    Compatible,
    /// The same words, ignoring order, case, accents, punctuation and honorifics.
    Same,
}

fn core_words(name: &str) -> Vec<String> {
    name_words(name)
        .into_iter()
        .filter(|w| !HONORIFICS.contains(&w.as_str()))
        .collect()
}

/// The words of a name that say who someone is (honorifics dropped), sorted and joined: names
/// with the same key are [`NameMatch::Same`]. Empty when the name has no words.
pub fn match_key(name: &str) -> String {
    let mut w = core_words(name);
    w.sort();
    w.join(" ")
}

fn word_match(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let initial = |x: &str, y: &str| x.chars().count() == 1 && y.starts_with(x);
    initial(a, b) || initial(b, a)
}

/// Compares two names (see [`NameMatch`]).
pub fn name_match(a: &str, b: &str) -> NameMatch {
    let (mut wa, mut wb) = (core_words(a), core_words(b));
    if wa.is_empty() || wb.is_empty() {
        return NameMatch::Unknown;
    }
    wa.sort();
    wb.sort();
    if wa == wb {
        return NameMatch::Same;
    }
    let (short, long) = if wa.len() <= wb.len() {
        (wa, wb)
    } else {
        (wb, wa)
    };
    // Full words first, so an initial cannot take the word a full word needs.
    let mut used = vec![false; long.len()];
    let mut rest = Vec::new();
    for w in &short {
        match (0..long.len()).find(|&i| !used[i] && long[i] == *w) {
            Some(i) => used[i] = true,
            None => rest.push(w),
        }
    }
    for w in rest {
        match (0..long.len()).find(|&i| !used[i] && word_match(w, &long[i])) {
            Some(i) => used[i] = true,
            None => return NameMatch::Different,
        }
    }
    NameMatch::Compatible
}

/// Why two contacts may be the same person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub name: NameMatch,
    /// Emails both have (lower case).
    pub emails: Vec<String>,
    /// Phones both have (digits).
    pub phones: Vec<String>,
    /// Organisations both have (folded).
    pub orgs: Vec<String>,
    /// 0..=100, higher is likelier.
    pub score: u32,
}

fn emails(c: &Contact) -> BTreeSet<String> {
    c.emails
        .values()
        .map(|e| e.value.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

fn phones(c: &Contact) -> BTreeSet<String> {
    c.phones
        .values()
        .map(|p| phone_key(&p.value))
        .filter(|p| p.len() >= 5)
        .collect()
}

fn orgs(c: &Contact) -> BTreeSet<String> {
    c.orgs
        .values()
        .map(|r| text::fold(r.org.trim()))
        .filter(|o| !o.is_empty())
        .collect()
}

/// The evidence that `a` and `b` are one person, or None when they should not be proposed:
/// a pair is proposed when the names are the same, or compatible (or one is unknown) and they
/// share an email, a phone or an organisation. Different names are never proposed, whatever
/// they share (a household phone, a team address).
pub fn evidence(a: &Contact, b: &Contact) -> Option<Evidence> {
    let name = name_match(&a.name, &b.name);
    let inter = |x: BTreeSet<String>, y: BTreeSet<String>| -> Vec<String> {
        x.intersection(&y).cloned().collect()
    };
    let e = Evidence {
        name,
        emails: inter(emails(a), emails(b)),
        phones: inter(phones(a), phones(b)),
        orgs: inter(orgs(a), orgs(b)),
        score: 0,
    };
    let shares = !e.emails.is_empty() || !e.phones.is_empty() || !e.orgs.is_empty();
    let propose = match name {
        NameMatch::Same => true,
        NameMatch::Compatible | NameMatch::Unknown => shares,
        NameMatch::Different => false,
    };
    if !propose {
        return None;
    }
    let mut score: u32 = match name {
        NameMatch::Same => 40,
        NameMatch::Compatible => 25,
        NameMatch::Unknown => 10,
        NameMatch::Different => 0,
    };
    score += 30 * e.emails.len().min(2) as u32;
    score += 20 * e.phones.len().min(2) as u32;
    score += 10 * e.orgs.len().min(1) as u32;
    Some(Evidence {
        score: score.min(100),
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labeled;

    #[test]
    fn name_rules() {
        assert!(same_name("Anna Berg", "Berg, Anna"));
        assert!(same_name("ANNA BÉRG", "anna berg"));
        assert!(same_name("", "Anna Berg"));
        assert!(same_name("anna@example.com", "Anna Berg"));
        assert!(!same_name("Anna Berg", "Nils Berg"));
        assert!(!same_name("Anna M. Berg", "Anna Berg"));
        assert!(same_name("Dr. Anna Berg", "Anna Berg"));
        assert!(same_name("Ada", "Ada Lovelace"));
        assert!(same_name("Lovelace, Ada", "Ada"));
        assert!(!same_name("Berg", "Nils Berg"));
        assert_eq!(name_match("Anna Berg", "Nils Berg"), NameMatch::Different);
        assert_eq!(name_match("Dr. Anna Berg", "Berg, Anna"), NameMatch::Same);
        assert_eq!(
            name_match("Anna M. Berg", "Anna Berg"),
            NameMatch::Compatible
        );
        assert_eq!(name_match("A. Berg", "Anna Berg"), NameMatch::Compatible);
        assert_eq!(name_match("A. Berg", "Nils Berg"), NameMatch::Different);
        assert_eq!(name_match("Anna", "Anna Berg"), NameMatch::Compatible);
        assert_eq!(name_match("x@y.org", "Anna Berg"), NameMatch::Unknown);
    }

    fn person(name: &str, email: &str, phone: &str) -> Contact {
        let mut c = Contact {
            name: name.into(),
            ..Default::default()
        };
        if !email.is_empty() {
            c.emails.insert(
                "e".into(),
                Labeled {
                    value: email.into(),
                    label: String::new(),
                },
            );
        }
        if !phone.is_empty() {
            c.phones.insert(
                "p".into(),
                Labeled {
                    value: phone.into(),
                    label: String::new(),
                },
            );
        }
        c
    }

    #[test]
    fn shared_phone_alone_is_no_evidence() {
        let anna = person("Anna Berg", "", "+46 8 555 0100");
        let nils = person("Nils Berg", "", "+46 8 555 0100");
        assert_eq!(evidence(&anna, &nils), None);
        let anna2 = person("Anna M. Berg", "anna@x.org", "+46855501 00");
        let e = evidence(&anna, &anna2).unwrap();
        assert_eq!(e.name, NameMatch::Compatible);
        assert_eq!(e.phones, vec!["+4685550100".to_string()]);
        assert_eq!(e.score, 45);
        let same = evidence(&anna, &person("Berg, Anna", "", "")).unwrap();
        assert!(same.score < e.score + 100 && same.name == NameMatch::Same);
        assert_eq!(evidence(&person("Anna M. Berg", "", ""), &anna), None);
    }
}
