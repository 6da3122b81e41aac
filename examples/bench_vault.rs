//! Reproducible benchmark of a kith vault at a realistic size.
//!
//! Builds a deterministic synthetic network (a seeded splitmix64 generator and a pinned clock,
//! so every run produces the same contacts, notes, interactions and reminders) through the
//! library, writes the same data as JSON for the size comparison, then runs the real `kith`
//! binary as whole processes and measures, per command, the wall time (median, min and max of
//! several runs after one warm-up run) and the peak resident memory (`ru_maxrss` from `wait4`).
//! The result is printed as Markdown; docs/benchmarks.md holds the latest table.
//!
//! ```text
//! cargo build --release --examples --bin kith
//! target/release/examples/bench_vault [--contacts 10000 --notes 50000 --interactions 20000
//!     --reminders 5000 --runs 7 --dir PATH --keep --reuse]
//! ```
//!
//! Invariant: the generated data depends only on the sizes and [`SEED`]; the commands run with
//! `KITH_NOW` pinned to [`NOW`] and an otherwise empty environment, so their output (and the
//! counts printed as proof of work) are the same on every machine.

use std::collections::BTreeSet;
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use kith::store::{StoreError, Vault};
use kith_core::model::{self, Contact, Interaction, Labeled, Note, Reminder, Role};
use kith_core::time::{Date, Span};
use kith_core::DocId;
use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
use serde::Serialize;

/// Seed of the generator: change it and every document changes.
const SEED: u64 = 42;
/// The pinned "now" of the generated data and of every measured command.
const NOW: &str = "2025-06-01T12:00:00Z";
/// The word planted in exactly 1% of the notes (and nowhere else) for the search benchmark.
const RARE_WORD: &str = "zephyrine";
/// The contact every `show` and `timeline` run asks for; the name is unique in the network.
const TARGET_NAME: &str = "Ada Lovelace";
/// Links go to this many "close" contacts 20% of the time, so timelines have a realistic skew.
const CLOSE_CONTACTS: usize = 50;
const DAY_MS: i64 = 86_400_000;

type Res<T> = Result<T, Box<dyn Error>>;

/// Benchmark of a kith vault: deterministic synthetic data, whole-process timings.
#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    contacts: usize,
    #[arg(long, default_value_t = 50_000)]
    notes: usize,
    #[arg(long, default_value_t = 20_000)]
    interactions: usize,
    #[arg(long, default_value_t = 5_000)]
    reminders: usize,
    /// Measured runs per command (after one warm-up run)
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Documents per write transaction while building the vault
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Working directory (default: $TMPDIR/kith-bench)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the vault and the JSON file afterwards
    #[arg(long)]
    keep: bool,
    /// Reuse the vault already in --dir (built by an earlier run with the same sizes)
    #[arg(long)]
    reuse: bool,
    /// The kith binary (default: target/release/kith next to this example)
    #[arg(long)]
    kith: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Deterministic generator.

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn id(&mut self) -> DocId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        DocId(b)
    }
    fn key(&mut self, ms: i64) -> String {
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
fn vocabulary(rng: &mut Rng) -> Vec<String> {
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
fn word<'a>(rng: &mut Rng, vocab: &'a [String]) -> &'a str {
    let i = (vocab.len() as f64 * rng.unit().powf(1.5)) as usize;
    &vocab[i.min(vocab.len() - 1)]
}

/// `n` words in sentences of 4 to 12 words.
fn text(rng: &mut Rng, vocab: &[String], n: usize, plant: Option<&str>) -> String {
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

fn ascii_lower(s: &str) -> String {
    kith_core::text::fold(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The synthetic network, with the ids the vault will use.
struct Data {
    contacts: Vec<(DocId, Contact)>,
    notes: Vec<(DocId, Note)>,
    interactions: Vec<(DocId, Interaction)>,
    reminders: Vec<(DocId, Reminder)>,
    /// The most common word of the vocabulary (for the "common word" search row).
    common_word: String,
}

fn generate(a: &Args, now_ms: i64) -> Data {
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
// Building the vault and the JSON file.

fn am(e: automerge::AutomergeError) -> StoreError {
    StoreError::Internal(format!("automerge: {e}"))
}

/// Writes `docs` in write transactions of `batch` documents. `write` fills one new document.
fn load<T>(
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

fn build_vault(vault: &Vault, data: &Data, now_ms: i64, batch: usize) -> Res<()> {
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

#[derive(Serialize)]
struct WithId<'a, T> {
    id: DocId,
    #[serde(flatten)]
    value: &'a T,
}

#[derive(Serialize)]
struct Dump<'a> {
    contacts: Vec<WithId<'a, Contact>>,
    notes: Vec<WithId<'a, Note>>,
    interactions: Vec<WithId<'a, Interaction>>,
    reminders: Vec<WithId<'a, Reminder>>,
}

fn with_ids<T>(v: &[(DocId, T)]) -> Vec<WithId<'_, T>> {
    v.iter()
        .map(|(id, value)| WithId { id: *id, value })
        .collect()
}

/// Writes the data as compact JSON (one array per kind, each object with its id); returns bytes.
fn write_json(data: &Data, path: &Path) -> Res<u64> {
    let dump = Dump {
        contacts: with_ids(&data.contacts),
        notes: with_ids(&data.notes),
        interactions: with_ids(&data.interactions),
        reminders: with_ids(&data.reminders),
    };
    let mut f = BufWriter::new(File::create(path)?);
    serde_json::to_writer(&mut f, &dump)?;
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Where the bytes of a vault file are.
struct Storage {
    /// Per table: (name, entries, stored bytes, fragmented bytes), largest first.
    tables: Vec<(String, u64, u64, u64)>,
    /// Pages in use times the page size.
    allocated: u64,
    /// Unused bytes: free pages plus the unused parts of pages in use.
    fragmented: u64,
    /// Size of a copy of the file after redb's `compact()`.
    compacted: u64,
    /// Size of a copy after `kith reindex` (rebuilds the indexes, rewrites every table in key
    /// order and compacts the file), and the wall time of that command.
    reindexed: u64,
    reindex_secs: f64,
}

fn open_db(path: &Path) -> Res<redb::Database> {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    Ok(b.open(path)?)
}

fn storage(kith: &Path, path: &Path, scratch: &Path) -> Res<Storage> {
    let mut tables = Vec::new();
    let (allocated, fragmented) = {
        let db = open_db(path)?;
        {
            let r = db.begin_read()?;
            for h in r.list_tables()? {
                let name = h.name().to_string();
                let t = r.open_untyped_table(h)?;
                let s = t.stats()?;
                tables.push((name, t.len()?, s.stored_bytes(), s.fragmented_bytes()));
            }
        }
        let w = db.begin_write()?;
        let s = w.stats()?;
        w.abort()?;
        (
            s.allocated_pages() * s.page_size() as u64,
            s.fragmented_bytes(),
        )
    };
    tables.sort_by_key(|t| std::cmp::Reverse(t.2));
    let copy = scratch.join("compacted.redb");
    std::fs::copy(path, &copy)?;
    {
        let mut db = open_db(&copy)?;
        for _ in 0..8 {
            if !db.compact()? {
                break;
            }
        }
    }
    let compacted = kith::store::file_size(&copy);
    std::fs::remove_file(&copy)?;
    // The maintenance command, as a user runs it, on another copy.
    let home = scratch.join("reindex-home");
    std::fs::create_dir_all(&home)?;
    let copy = kith::app::vault_path(&home);
    std::fs::copy(path, &copy)?;
    let t = Instant::now();
    let status = Command::new(kith)
        .env_clear()
        .env("KITH_HOME", &home)
        .arg("reindex")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let reindex_secs = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("kith reindex failed: {status}").into());
    }
    let reindexed = kith::store::file_size(&copy);
    std::fs::remove_dir_all(&home)?;
    Ok(Storage {
        tables,
        allocated,
        fragmented,
        compacted,
        reindexed,
        reindex_secs,
    })
}

// ---------------------------------------------------------------------------------------------
// Measuring whole processes.

struct Sample {
    wall: Duration,
    /// User plus system CPU time of the child.
    cpu: Duration,
    max_rss_kib: u64,
    stdout: Vec<u8>,
}

/// Hidden first argument that turns this binary into the measuring helper (see [`helper`]).
const HELPER: &str = "__measure";

/// Runs `kith ARGS` with a hermetic environment; stdout goes to a file, read back afterwards.
///
/// The child is started by a fresh copy of this binary in helper mode, not by this process:
/// Linux carries the peak RSS of the process that forks over `exec` into the child's
/// `ru_maxrss`, so spawning from this process (which holds the whole data set) would report
/// its peak instead of kith's. The helper's own peak is a few MiB.
fn run_once(kith: &Path, home: &Path, args: &[String], scratch: &Path) -> Res<Sample> {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let helper = Command::new(std::env::current_exe()?)
        .arg(HELPER)
        .arg(&out_path)
        .arg(&err_path)
        .arg(kith)
        .args(args)
        .env_clear()
        .env("KITH_HOME", home)
        .env("KITH_NOW", NOW)
        .stdin(Stdio::null())
        .output()?;
    let report = String::from_utf8_lossy(&helper.stdout);
    let mut f = report.split_whitespace().map(|x| x.parse::<i64>());
    let (Some(Ok(wall_ns)), Some(Ok(cpu_us)), Some(Ok(rss)), Some(Ok(status))) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(format!(
            "measuring helper failed: {}{}",
            report,
            String::from_utf8_lossy(&helper.stderr)
        )
        .into());
    };
    if status != 0 {
        let msg = std::fs::read_to_string(&err_path).unwrap_or_default();
        return Err(format!("kith {} failed (status {status}): {msg}", args.join(" ")).into());
    }
    Ok(Sample {
        wall: Duration::from_nanos(wall_ns.max(0) as u64),
        cpu: Duration::from_micros(cpu_us.max(0) as u64),
        max_rss_kib: rss.max(0) as u64,
        stdout: std::fs::read(&out_path)?,
    })
}

/// Helper mode: `bench_vault __measure OUT ERR KITH ARGS...` runs KITH ARGS (environment
/// inherited) with stdout to OUT and stderr to ERR, and prints
/// "wall_ns cpu_us max_rss_kib status".
/// Wall time runs from just before the spawn to the return of `wait4`.
fn helper(mut argv: impl Iterator<Item = std::ffi::OsString>) -> Res<()> {
    let (Some(out), Some(err), Some(kith)) = (argv.next(), argv.next(), argv.next()) else {
        return Err("usage: bench_vault __measure OUT ERR KITH ARGS...".into());
    };
    let out = File::create(out)?;
    let err = File::create(err)?;
    let start = Instant::now();
    let child = Command::new(kith)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct for which all-zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's `Child` is never waited on); the
    // pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    drop(child);
    if r != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()).into());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let cpu_us = tv(ru.ru_utime) + tv(ru.ru_stime);
    println!("{} {cpu_us} {} {code}", wall.as_nanos(), ru.ru_maxrss);
    Ok(())
}

fn lines(out: &[u8]) -> u64 {
    out.iter().filter(|&&b| b == b'\n').count() as u64
}

fn json_total(out: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(out)
        .ok()
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0)
}

struct Row {
    label: String,
    what: String,
    target_ms: Option<f64>,
    times_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
    max_rss_kib: u64,
    count: String,
}

fn median(v: &[f64]) -> f64 {
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

struct Bench<'a> {
    kith: &'a Path,
    scratch: &'a Path,
    runs: usize,
}

impl Bench<'_> {
    /// One warm-up run, then `runs` measured runs of the same command line.
    fn measure(
        &self,
        home: &Path,
        label: &str,
        what: &str,
        target_ms: Option<f64>,
        args: &[&str],
        count: impl Fn(&[u8]) -> String,
    ) -> Res<Row> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.measure_with(home, label, what, target_ms, |_| args.clone(), count)
    }

    fn measure_with(
        &self,
        home: &Path,
        label: &str,
        what: &str,
        target_ms: Option<f64>,
        args: impl Fn(usize) -> Vec<String>,
        count: impl Fn(&[u8]) -> String,
    ) -> Res<Row> {
        eprint!("  {label} ...");
        run_once(self.kith, home, &args(0), self.scratch)?;
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut rss = 0;
        let mut last = Vec::new();
        for i in 1..=self.runs {
            let s = run_once(self.kith, home, &args(i), self.scratch)?;
            times.push(s.wall.as_secs_f64() * 1000.0);
            cpu.push(s.cpu.as_secs_f64() * 1000.0);
            rss = rss.max(s.max_rss_kib);
            last = s.stdout;
        }
        eprintln!(" {:.1} ms", median(&times));
        Ok(Row {
            label: label.to_string(),
            what: what.to_string(),
            target_ms,
            times_ms: times,
            cpu_ms: cpu,
            max_rss_kib: rss,
            count: count(&last),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Report.

fn read_first(path: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}

fn machine() -> String {
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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

const MIB: f64 = 1024.0 * 1024.0;
const RSS_TARGET_MIB: f64 = 64.0;
const SIZE_TARGET_RATIO: f64 = 3.0;

fn print_report(
    a: &Args,
    rows: &[Row],
    vault_bytes: u64,
    json_bytes: u64,
    st: &Storage,
    build_secs: Option<f64>,
    load: (&str, &str),
) {
    let docs = a.contacts + a.notes + a.interactions + a.reminders;
    println!(
        "Workload: {} contacts, {} notes, {} interactions, {} reminders ({docs} documents), \
         seed {SEED}, KITH_NOW={NOW}.",
        a.contacts, a.notes, a.interactions, a.reminders
    );
    println!();
    println!(
        "| command | what it does | median ms | min–max ms | CPU ms | peak RSS MiB | proof of work | target | met? |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---|---|");
    for r in rows {
        let med = median(&r.times_ms);
        let min = r.times_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.times_ms.iter().copied().fold(0.0, f64::max);
        let rss = r.max_rss_kib as f64 / 1024.0;
        let cpu = median(&r.cpu_ms);
        let (target, met) = match r.target_ms {
            Some(t) => {
                let ok = med <= t && rss <= RSS_TARGET_MIB;
                (
                    format!("≤ {t:.0} ms, ≤ {RSS_TARGET_MIB:.0} MiB"),
                    if ok { "yes" } else { "**no**" },
                )
            }
            None => ("–".to_string(), "–"),
        };
        println!(
            "| `{}` | {} | {med:.1} | {min:.1}–{max:.1} | {cpu:.1} | {rss:.1} | {} | {target} | {met} |",
            r.label,
            r.what,
            r.count
        );
    }
    println!();
    let ratio = vault_bytes as f64 / json_bytes.max(1) as f64;
    println!("| storage | bytes | MiB | ratio to JSON | target | met? |");
    println!("|---|---:|---:|---:|---|---|");
    println!(
        "| same data as compact JSON | {json_bytes} | {:.1} | 1.00 | | |",
        json_bytes as f64 / MIB
    );
    let verdict = |r: f64| {
        if r <= SIZE_TARGET_RATIO {
            "yes"
        } else {
            "**no**"
        }
    };
    println!(
        "| vault.redb as built | {vault_bytes} | {:.1} | {ratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
        vault_bytes as f64 / MIB,
        verdict(ratio)
    );
    println!(
        "| pages in use (allocated) | {} | {:.1} | {:.2} | | |",
        st.allocated,
        st.allocated as f64 / MIB,
        st.allocated as f64 / json_bytes.max(1) as f64
    );
    println!(
        "| unused bytes (free pages + slack inside used pages) | {} | {:.1} | {:.2} | | |",
        st.fragmented,
        st.fragmented as f64 / MIB,
        st.fragmented as f64 / json_bytes.max(1) as f64
    );
    let cratio = st.compacted as f64 / json_bytes.max(1) as f64;
    println!(
        "| a copy after redb `compact()` | {} | {:.1} | {cratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
        st.compacted,
        st.compacted as f64 / MIB,
        verdict(cratio)
    );
    let rratio = st.reindexed as f64 / json_bytes.max(1) as f64;
    println!(
        "| a copy after `kith reindex` ({:.1} s) | {} | {:.1} | {rratio:.2} | ≤ {SIZE_TARGET_RATIO:.0}× JSON | {} |",
        st.reindex_secs,
        st.reindexed,
        st.reindexed as f64 / MIB,
        verdict(rratio)
    );
    println!();
    println!("Where the vault's bytes are (redb table stats; stored = keys + values, without page overhead):");
    println!();
    println!("| table | entries | stored MiB | fragmented MiB |");
    println!("|---|---:|---:|---:|");
    let mut stored_total = 0;
    for (name, n, stored, frag) in &st.tables {
        stored_total += stored;
        println!(
            "| {name} | {n} | {:.1} | {:.1} |",
            *stored as f64 / MIB,
            *frag as f64 / MIB
        );
    }
    println!("| **all tables** | | {:.1} | |", stored_total as f64 / MIB);
    println!();
    if let Some(s) = build_secs {
        println!(
            "Building the vault through the library ({} documents per write transaction) took {s:.1} s \
             ({:.0} documents/s).",
            a.batch,
            docs as f64 / s
        );
    }
    println!("Machine: {}.", machine());
    println!(
        "Load average (1/5/15 min) before the measurements: {}; after: {}.",
        load.0, load.1
    );
    let argv: Vec<String> = std::env::args().collect();
    println!("Command: `{}`", argv.join(" "));
    println!(
        "Runs: 1 warm-up + {} measured runs per command, warm page cache; times are whole-process \
         wall times (spawn to exit); CPU ms is the median user + system time of the process; \
         peak RSS is the maximum `ru_maxrss` over the measured runs.",
        a.runs
    );
}

fn main() -> Res<()> {
    let mut argv = std::env::args_os();
    if std::env::args_os().nth(1).is_some_and(|a| a == HELPER) {
        argv.nth(1);
        return helper(argv);
    }
    let a = Args::parse();
    let now_ms = kith_core::time::parse_rfc3339_to_unix_ms(NOW)?;
    let kith = match &a.kith {
        Some(k) => k.clone(),
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .ok_or("cannot locate the target directory")?;
            dir.join(format!("kith{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !kith.exists() {
        return Err(format!(
            "{} not found; build it with `cargo build --release --bin kith` or pass --kith",
            kith.display()
        )
        .into());
    }
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kith-bench"));
    let home = dir.join("home");
    let vault_path = kith::app::vault_path(&home);
    let json_path = dir.join("network.json");
    let scratch = dir.join("out");
    let add_home = dir.join("add-home");
    std::fs::create_dir_all(&scratch)?;

    eprintln!("generating data (seed {SEED})...");
    let t = Instant::now();
    let data = generate(&a, now_ms);
    eprintln!("  in memory in {:.1} s", t.elapsed().as_secs_f64());
    let json_bytes = write_json(&data, &json_path)?;

    let build_secs = if a.reuse && vault_path.exists() {
        eprintln!("reusing {}", vault_path.display());
        None
    } else {
        if vault_path.exists() {
            std::fs::remove_file(&vault_path)?;
        }
        eprintln!("building {} ...", vault_path.display());
        let t = Instant::now();
        let vault = Vault::open(&vault_path)?;
        build_vault(&vault, &data, now_ms, a.batch)?;
        drop(vault);
        Some(t.elapsed().as_secs_f64())
    };
    let vault_bytes = kith::store::file_size(&vault_path);
    eprintln!("measuring storage (and compacting a copy)...");
    let st = storage(&kith, &vault_path, &scratch)?;

    let b = Bench {
        kith: &kith,
        scratch: &scratch,
        runs: a.runs.max(1),
    };
    let target = data.contacts.first().ok_or("no contacts")?.0;
    let prefix = target.short();
    let load_before = loadavg();
    eprintln!("measuring ({} runs per command)...", b.runs);
    let mut rows = Vec::new();
    rows.push(b.measure(
        &home,
        "kith --version",
        "process start and exit only: the floor under every row",
        None,
        &["--version"],
        |o| format!("{} line", lines(o)),
    )?);
    rows.push(b.measure(
        &home,
        "kith list",
        "every contact, sorted by name, as a table",
        Some(50.0),
        &["list"],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.push(b.measure(
        &home,
        &format!("kith --json search {RARE_WORD}"),
        "full-text search for a word in 1% of notes",
        Some(50.0),
        &["--json", "search", RARE_WORD],
        |o| format!("total {}", json_total(o)),
    )?);
    rows.push(b.measure(
        &home,
        &format!("kith show \"{TARGET_NAME}\""),
        "resolve a name, load and render one contact",
        Some(50.0),
        &["show", TARGET_NAME],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.push(b.measure(
        &home,
        &format!("kith timeline {prefix}"),
        "resolve an id prefix, every item of one close contact",
        Some(50.0),
        &["timeline", &prefix],
        |o| format!("{} lines", lines(o)),
    )?);
    rows.push(b.measure(
        &home,
        "kith due",
        "open reminders and cadences due within 7 days",
        Some(50.0),
        &["due"],
        |o| format!("{} lines", lines(o)),
    )?);
    let common = data.common_word.clone();
    rows.push(b.measure(
        &home,
        &format!("kith --json search {common}"),
        "stress: the most common word (prefix match)",
        Some(50.0),
        &["--json", "search", &common],
        |o| format!("total {}", json_total(o)),
    )?);
    // `add` writes: run it against a copy so the measured vault stays as generated.
    std::fs::create_dir_all(&add_home)?;
    let add_vault = kith::app::vault_path(&add_home);
    std::fs::copy(&vault_path, &add_vault)?;
    let mut add = b.measure_with(
        &add_home,
        "kith add NAME --email E --org O",
        "add one contact (one write transaction); each run adds another",
        Some(30.0),
        |i| {
            vec![
                "add".into(),
                format!("Bench Person {i}"),
                "--email".into(),
                format!("bench.person{i}@example.org"),
                "--org".into(),
                "Benchmark Ltd".into(),
            ]
        },
        |o| {
            format!(
                "id of {} hex digits",
                o.iter().filter(|b| b.is_ascii_hexdigit()).count()
            )
        },
    )?;
    let after = run_once(&kith, &add_home, &["list".into()], &scratch)?;
    add.count = format!(
        "{} ({} contacts listed afterwards)",
        add.count,
        lines(&after.stdout)
    );
    rows.push(add);
    let load_after = loadavg();
    std::fs::remove_dir_all(&add_home)?;

    print_report(
        &a,
        &rows,
        vault_bytes,
        json_bytes,
        &st,
        build_secs,
        (&load_before, &load_after),
    );

    if !a.keep {
        std::fs::remove_file(&vault_path)?;
        std::fs::remove_file(&json_path)?;
        std::fs::remove_dir_all(&scratch)?;
        let _ = std::fs::remove_dir(&home);
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}
