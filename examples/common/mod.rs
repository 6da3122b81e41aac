//! Shared by the benchmark examples (`bench_vault`, `bench_sync`): the deterministic synthetic
//! network (a seeded splitmix64 generator and a pinned clock), loading it into a vault through
//! the library, and small report helpers.
//!
//! Invariant: the generated data depends only on the [`Sizes`] and [`SEED`], so every run on
//! every machine produces the same documents with the same ids.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::error::Error;
use std::time::Instant;

use kith::store::{StoreError, Vault};
use kith_core::model::{self, Contact, Interaction, Labeled, Note, Reminder, Role};
use kith_core::time::{Date, Span};
use kith_core::DocId;

/// Seed of the generator: change it and every document changes.
pub const SEED: u64 = 42;
/// The pinned "now" of the generated data and of every measured command.
pub const NOW: &str = "2025-06-01T12:00:00Z";
/// The word planted in exactly 1% of the notes (and nowhere else) for the search benchmark.
pub const RARE_WORD: &str = "zephyrine";
/// Links go to this many "close" contacts 20% of the time, so timelines have a realistic skew.
const CLOSE_CONTACTS: usize = 50;
const DAY_MS: i64 = 86_400_000;

pub type Res<T> = Result<T, Box<dyn Error>>;

/// How many documents of each kind to generate.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub contacts: usize,
    pub notes: usize,
    pub interactions: usize,
    pub reminders: usize,
}

impl Sizes {
    pub fn total(&self) -> usize {
        self.contacts + self.notes + self.interactions + self.reminders
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic generator.

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn id(&mut self) -> DocId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        DocId(b)
    }
    pub fn key(&mut self, ms: i64) -> String {
        format!("{:011x}{:08x}", ms, self.next() as u32)
    }
}

const FIRST: &[&str] = &[
    "Aaron", "Abigail", "Adrian", "Aisha", "Alan", "Alice", "Amara", "Amir", "Ana", "Andrei",
    "Anna", "Arjun", "Astrid", "Beatriz", "Ben", "Bianca", "Boris", "Carla", "Carlos", "Chen",
    "Chloe", "Clara", "Daniel", "Dara", "David", "Diego", "Elena", "Eli", "Emma", "Erik", "Fatima",
    "Felix", "Fiona", "Gabriel", "Grace", "Hana", "Hannah", "Hugo", "Ines", "Isaac", "Ivan",
    "Jack", "Jana", "Javier", "Jin", "Jonas", "Julia", "Kai", "Karim", "Kate", "Kenji", "Lara",
    "Leo", "Lina", "Lucas", "Luis", "Maya", "Mei", "Mia", "Mikhail", "Nadia", "Naomi", "Nina",
    "Noah", "Olga", "Omar", "Oscar", "Paula", "Pedro", "Priya", "Rafael", "Rahul", "Rosa", "Ruth",
    "Sam", "Sara", "Sofia", "Stefan", "Tara", "Theo", "Tomas", "Uma", "Victor", "Wei", "Yara",
    "Yusuf", "Zoë", "Björn", "Søren", "Łukasz", "José", "Chiara", "Matteo", "Ingrid", "Kofi",
    "Amani", "Thandiwe", "Ravi", "Sunita", "Hiroshi", "Yuki",
];
const LAST: &[&str] = &[
    "Abbott",
    "Adeyemi",
    "Alvarez",
    "Andersen",
    "Bailey",
    "Banerjee",
    "Becker",
    "Bianchi",
    "Brown",
    "Campbell",
    "Castro",
    "Chen",
    "Cohen",
    "Costa",
    "Dubois",
    "Edwards",
    "Eriksson",
    "Fischer",
    "Fernández",
    "Garcia",
    "Gonzalez",
    "Gupta",
    "Haddad",
    "Hansen",
    "Hoffmann",
    "Huang",
    "Ivanova",
    "Jansen",
    "Jensen",
    "Johnson",
    "Kato",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Lefebvre",
    "Li",
    "Lopez",
    "Martin",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Pereira",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Schneider",
    "Silva",
    "Singh",
    "Smith",
    "Sørensen",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Torres",
    "Van Dijk",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wong",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
    "Ahmed",
    "Mensah",
    "O'Brien",
    "Kovač",
    "Horváth",
    "Lindqvist",
    "Moreau",
    "Rinaldi",
    "Sato",
    "Brennan",
    "Dimitrov",
    "Ferreira",
    "Greco",
    "Hughes",
    "Iyer",
    "Jovanović",
    "Khan",
    "Laine",
    "Mwangi",
    "Nieminen",
    "Ortiz",
    "Quinn",
    "Reyes",
    "Stewart",
    "Volkov",
];
const ORGS: &[(&str, &str)] = &[
    ("Acme Robotics", "acme-robotics.com"),
    ("Blue Harbor Capital", "blueharbor.vc"),
    ("Cedar Health", "cedarhealth.org"),
    ("Delta Logistics", "deltalog.com"),
    ("Evergreen University", "evergreen.edu"),
    ("Fjord Analytics", "fjord.io"),
    ("Granite Labs", "granitelabs.dev"),
    ("Helix Bio", "helixbio.com"),
    ("Indigo Studio", "indigo.studio"),
    ("Juniper Systems", "juniper-sys.com"),
    ("Kestrel Aerospace", "kestrel.aero"),
    ("Lumen Energy", "lumen.energy"),
    ("Meridian Bank", "meridianbank.com"),
    ("Northwind Traders", "northwind.com"),
    ("Orchid Media", "orchid.media"),
    ("Pinecone Software", "pinecone.software"),
    ("Quarry Partners", "quarry.partners"),
    ("Riverbend Hospital", "riverbend.health"),
    ("Summit Consulting", "summitco.com"),
    ("Tidewater Foundation", "tidewater.org"),
    ("Umbra Security", "umbrasec.com"),
    ("Vantage Motors", "vantage-motors.com"),
    ("Willow School", "willow.school"),
    ("Yarrow Foods", "yarrowfoods.com"),
    ("City Council", "city.gov"),
    ("Open Source Collective", "oscollective.org"),
];
const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Staff Engineer",
    "Engineering Manager",
    "Product Manager",
    "Designer",
    "Data Scientist",
    "Founder",
    "CEO",
    "CTO",
    "Partner",
    "Analyst",
    "Researcher",
    "Professor",
    "Teacher",
    "Nurse",
    "Physician",
    "Recruiter",
    "Sales Lead",
    "Marketing Director",
    "Consultant",
    "Lawyer",
    "Accountant",
    "Journalist",
];
const MAIL_DOMAINS: &[&str] = &["gmail.com", "fastmail.com", "proton.me", "outlook.com"];
const TAGS: &[&str] = &[
    "climbing",
    "running",
    "chess",
    "book-club",
    "ml",
    "rust",
    "design",
    "hiring",
    "investor",
    "conference",
    "neighbour",
    "school",
    "university",
    "ex-colleague",
    "board",
    "volunteer",
    "music",
    "photography",
    "cycling",
    "berlin",
    "london",
    "lisbon",
    "tokyo",
    "nyc",
    "remote",
    "speaker",
    "mentor-circle",
    "alumni",
    "family-friend",
    "podcast",
];
const CADENCES: &[&str] = &["2w", "30d", "3m", "6m", "1y"];
/// Real words mixed into the generated vocabulary so notes read a little like notes.
const REAL_WORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "agreed",
    "asked",
    "back",
    "before",
    "birthday",
    "board",
    "book",
    "budget",
    "call",
    "changed",
    "children",
    "coffee",
    "conference",
    "contract",
    "daughter",
    "deadline",
    "dinner",
    "draft",
    "email",
    "feedback",
    "follow",
    "friend",
    "funding",
    "garden",
    "gift",
    "going",
    "health",
    "hiring",
    "holiday",
    "idea",
    "interview",
    "intro",
    "invite",
    "job",
    "launch",
    "lunch",
    "market",
    "meeting",
    "mentioned",
    "move",
    "moved",
    "new",
    "next",
    "offer",
    "office",
    "paper",
    "partner",
    "plan",
    "planning",
    "podcast",
    "promotion",
    "project",
    "question",
    "recipe",
    "recommend",
    "review",
    "role",
    "run",
    "school",
    "send",
    "ship",
    "sister",
    "son",
    "spoke",
    "startup",
    "talk",
    "team",
    "thanks",
    "thesis",
    "travel",
    "trip",
    "update",
    "visit",
    "wedding",
    "week",
    "weekend",
    "work",
    "wrote",
    "year",
];
const SYLLABLES: &[&str] = &[
    "ba", "be", "bi", "bo", "bu", "ca", "co", "cu", "da", "de", "di", "do", "fa", "fe", "fi", "ga",
    "go", "gu", "ha", "he", "hi", "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "lu", "ma", "me",
    "mi", "mo", "mu", "na", "ne", "ni", "no", "pa", "pe", "pi", "po", "ra", "re", "ri", "ro", "ru",
    "sa", "se", "si", "so", "ta", "te", "ti", "to", "tu", "va", "ve", "vi", "vo", "wa", "we", "ya",
    "yo",
];
const CODAS: &[&str] = &["", "", "", "n", "r", "s", "l", "t", "m", "k"];
const VOCABULARY: usize = 3000;

/// A vocabulary of `VOCABULARY` distinct words, none of which starts with `RARE_WORD`.
pub fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let mut seen: BTreeSet<String> = REAL_WORDS.iter().map(|w| w.to_string()).collect();
    let mut words: Vec<String> = REAL_WORDS.iter().map(|w| w.to_string()).collect();
    while words.len() < VOCABULARY {
        let n = rng.range(2, 3);
        let mut w = String::new();
        for _ in 0..n {
            w.push_str(rng.pick::<&str>(SYLLABLES));
        }
        w.push_str(rng.pick::<&str>(CODAS));
        if !w.starts_with(RARE_WORD) && seen.insert(w.clone()) {
            words.push(w);
        }
    }
    // Fisher-Yates, so the real words get random ranks in the skewed distribution below.
    for i in (1..words.len()).rev() {
        let j = rng.below(i + 1);
        words.swap(i, j);
    }
    words
}

/// A word with a skewed (Zipf-like) frequency: rank r is drawn with density ~ r^(-1/3), so the
/// most common word is in about one note in six and most words are rare.
pub fn word<'a>(rng: &mut Rng, vocab: &'a [String]) -> &'a str {
    let i = (vocab.len() as f64 * rng.unit().powf(1.5)) as usize;
    &vocab[i.min(vocab.len() - 1)]
}

/// `n` words in sentences of 4 to 12 words.
pub fn text(rng: &mut Rng, vocab: &[String], n: usize, plant: Option<&str>) -> String {
    let mut words: Vec<String> = (0..n).map(|_| word(rng, vocab).to_string()).collect();
    if let Some(p) = plant {
        let at = rng.below(words.len());
        words[at] = p.to_string();
    }
    let mut out = String::new();
    let mut left = 0;
    for (i, w) in words.iter().enumerate() {
        if left == 0 {
            if i > 0 {
                out.push_str(". ");
            }
            left = rng.range(4, 12);
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
        left -= 1;
    }
    out.push('.');
    out
}

pub fn ascii_lower(s: &str) -> String {
    kith_core::text::fold(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The synthetic network, with the ids the vault will use.
pub struct Data {
    pub contacts: Vec<(DocId, Contact)>,
    pub notes: Vec<(DocId, Note)>,
    pub interactions: Vec<(DocId, Interaction)>,
    pub reminders: Vec<(DocId, Reminder)>,
    /// The most common word of the vocabulary (for the "common word" search row).
    pub common_word: String,
}

pub fn generate(a: &Sizes, now_ms: i64) -> Data {
    let mut rng = Rng(SEED);
    let vocab = vocabulary(&mut rng);
    let today = Date::from_unix_ms(now_ms, 0);
    let n_contacts = a.contacts.max(1);
    let mut contacts = Vec::with_capacity(n_contacts);
    for i in 0..n_contacts {
        let id = rng.id();
        let (first, last) = if i == 0 {
            ("Ada", "Lovelace")
        } else {
            (*rng.pick(FIRST), *rng.pick(LAST))
        };
        let created =
            now_ms - rng.below(3 * 365) as i64 * DAY_MS - rng.below(DAY_MS as usize) as i64;
        let mut c = Contact {
            name: format!("{first} {last}"),
            created,
            updated: created,
            ..Default::default()
        };
        c.n.given = first.to_string();
        c.n.family = last.to_string();
        let org = rng.chance(0.75).then(|| *rng.pick(ORGS));
        if let Some((org, _)) = org {
            c.orgs.insert(
                rng.key(created),
                Role {
                    org: org.to_string(),
                    title: rng.pick(TITLES).to_string(),
                    ..Default::default()
                },
            );
        }
        let local = format!("{}.{}", ascii_lower(first), ascii_lower(last));
        if rng.chance(0.9) {
            let domain = match org {
                Some((_, d)) if rng.chance(0.6) => d,
                _ => rng.pick(MAIL_DOMAINS),
            };
            let value = format!("{local}{}@{domain}", i % 100);
            let label = if domain.contains('.') && org.is_some_and(|o| o.1 == domain) {
                "work"
            } else {
                "home"
            };
            c.emails.insert(
                rng.key(created),
                Labeled {
                    value,
                    label: label.into(),
                },
            );
            if rng.chance(0.2) {
                c.emails.insert(
                    rng.key(created),
                    Labeled {
                        value: format!("{local}.{i}@{}", rng.pick(MAIL_DOMAINS)),
                        label: "home".into(),
                    },
                );
            }
        }
        if rng.chance(0.6) {
            c.phones.insert(
                rng.key(created),
                Labeled {
                    value: format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000)),
                    label: "mobile".into(),
                },
            );
        }
        for _ in 0..rng.range(0, 3) {
            c.tags.insert(rng.pick(TAGS).to_string());
        }
        if rng.chance(0.5) {
            c.kinds
                .insert(rng.pick(model::RELATIONSHIP_KINDS).to_string());
        }
        if rng.chance(0.2) {
            let n = rng.range(5, 12);
            c.met = text(&mut rng, &vocab, n, None);
        }
        if rng.chance(0.2) {
            let span: Span = rng.pick(CADENCES).parse().expect("valid cadence");
            c.every = span.to_string();
        }
        if rng.chance(0.3) {
            c.birthday = format!(
                "{}-{:02}-{:02}",
                1950 + rng.below(55),
                1 + rng.below(12),
                1 + rng.below(28)
            );
        }
        contacts.push((id, c));
    }
    let ids: Vec<DocId> = contacts.iter().map(|(id, _)| *id).collect();
    let close = CLOSE_CONTACTS.min(ids.len());
    let pick_contact = |rng: &mut Rng| -> DocId {
        if rng.chance(0.2) {
            ids[rng.below(close)]
        } else {
            ids[rng.below(ids.len())]
        }
    };
    let pick_contacts = |rng: &mut Rng| -> BTreeSet<DocId> {
        let mut s = BTreeSet::new();
        s.insert(pick_contact(rng));
        if rng.chance(0.3) {
            s.insert(pick_contact(rng));
        }
        s
    };

    let mut notes = Vec::with_capacity(a.notes);
    for i in 0..a.notes {
        let id = rng.id();
        let created = now_ms - rng.below(730 * DAY_MS as usize) as i64;
        let n = rng.range(10, 60);
        // Exactly one note in a hundred gets the rare word.
        let plant = (i % 100 == 37).then_some(RARE_WORD);
        let body = text(&mut rng, &vocab, n, plant);
        let mut tags = BTreeSet::new();
        if rng.chance(0.2) {
            tags.insert(rng.pick(TAGS).to_string());
        }
        notes.push((
            id,
            Note {
                body,
                contacts: pick_contacts(&mut rng),
                tags,
                created,
                updated: created,
            },
        ));
    }

    let mut interactions = Vec::with_capacity(a.interactions);
    for _ in 0..a.interactions {
        let id = rng.id();
        let day = today.to_days() - rng.below(730) as i32;
        let created = i64::from(day) * DAY_MS + rng.below(DAY_MS as usize) as i64;
        let n = rng.range(5, 25);
        interactions.push((
            id,
            Interaction {
                date: Date::from_days(day).to_string(),
                kind: rng.pick(model::INTERACTION_KINDS).to_string(),
                contacts: pick_contacts(&mut rng),
                summary: text(&mut rng, &vocab, n, None),
                created,
                updated: created,
            },
        ));
    }

    let mut reminders = Vec::with_capacity(a.reminders);
    for _ in 0..a.reminders {
        let id = rng.id();
        let due = today.to_days() + rng.range(0, 90) as i32 - 30;
        let created = now_ms - rng.below(60 * DAY_MS as usize) as i64;
        let n = rng.range(3, 10);
        reminders.push((
            id,
            Reminder {
                due: Date::from_days(due).to_string(),
                contact: Some(pick_contact(&mut rng)),
                text: format!("Follow up: {}", text(&mut rng, &vocab, n, None)),
                done: rng.chance(0.1),
                snoozed_until: String::new(),
                created,
                updated: created,
            },
        ));
    }
    Data {
        contacts,
        notes,
        interactions,
        reminders,
        common_word: vocab[0].clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Building the vault.

pub fn am(e: automerge::AutomergeError) -> StoreError {
    StoreError::Internal(format!("automerge: {e}"))
}

/// Writes `docs` in write transactions of `batch` documents. `write` fills one new document.
pub fn load<T>(
    vault: &Vault,
    now_ms: i64,
    batch: usize,
    what: &str,
    docs: &[(DocId, T)],
    write: impl Fn(&mut automerge::AutoCommit, &T) -> Result<bool, automerge::AutomergeError>,
) -> Res<()> {
    let start = Instant::now();
    for (i, chunk) in docs.chunks(batch.max(1)).enumerate() {
        vault.write(now_ms, |w| -> Result<(), StoreError> {
            for (id, v) in chunk {
                let mut l = w.create_with_id(*id);
                write(&mut l.doc, v).map_err(am)?;
                w.save(l)?;
            }
            Ok(())
        })?;
        eprint!(
            "\r  {what}: {}/{} ({:.1} s)",
            (i * batch + chunk.len()),
            docs.len(),
            start.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    Ok(())
}

pub fn build_vault(vault: &Vault, data: &Data, now_ms: i64, batch: usize) -> Res<()> {
    load(vault, now_ms, batch, "contacts", &data.contacts, |d, c| {
        model::write_contact(d, c, c.created)
    })?;
    load(vault, now_ms, batch, "notes", &data.notes, |d, n| {
        model::write_note(d, n, n.created)
    })?;
    load(
        vault,
        now_ms,
        batch,
        "interactions",
        &data.interactions,
        |d, i| model::write_interaction(d, i, i.created),
    )?;
    load(
        vault,
        now_ms,
        batch,
        "reminders",
        &data.reminders,
        |d, r| model::write_reminder(d, r, r.created),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Report helpers.

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn read_first(path: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = read_first("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let mem = read_first("/proc/meminfo", "MemTotal").unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("{cpus} CPUs ({model}), {mem} RAM, Linux {kernel}")
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
