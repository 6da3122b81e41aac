//! Text helpers: folding for search, index terms, fuzzy name matching, and character-level
//! edits of Automerge `Text` objects.
//!
//! Invariants:
//! - `fold` is idempotent and `terms` only returns folded, non-empty, distinct words, so a query
//!   folded the same way matches what the index stored.
//! - Applying `splices(old, new)` in order to `old` (see [`apply_splices`]) yields exactly `new`.
//!   `Splice` positions and lengths count Unicode code points (Rust `char`s).
//! - `apply_text` leaves the Automerge text equal to `new`, changing only the characters that
//!   differ, so concurrent edits of different parts of a text both survive a merge (unlike
//!   replacing the whole string).
//!
//! Text encoding: `AutoCommit::new()` in automerge 0.12 indexes text by Unicode code point
//! (`TextEncoding::UnicodeCodePoint`, unless the `utf8-indexing`/`utf16-indexing` cargo features
//! are on). `apply_text` asks the document for its encoding and converts code-point positions to
//! UTF-8 or UTF-16 units when needed; for grapheme-cluster documents it falls back to
//! automerge's own `update_text`.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ObjId, ReadDoc, TextEncoding};
use similar::{capture_diff_slices, Algorithm, DiffOp};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The largest text kith stores in one field (a note's body, an interaction's summary, a
/// reminder's text): 1 MiB of UTF-8. Automerge keeps one operation per character (about 300
/// bytes of memory each while a document is loaded), so a 1 MiB text already needs ~330 MB;
/// longer texts belong in a file.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// Case- and accent-insensitive form of `s` for search: full case folding (`ß` -> `ss`),
/// compatibility decomposition (NFKD) with combining marks dropped, and a few letters that do
/// not decompose mapped to their base (`ø` -> `o`, `ł` -> `l`, `æ` -> `ae`, ...).
///
/// `"Ångström Café"` -> `"angstrom cafe"`.
pub fn fold(s: &str) -> String {
    // ASCII text (most names, organisations and words) folds to its ASCII lower case: upper-
    // and lower-casing an ASCII letter gives its lower case, NFKD leaves ASCII as it is and no
    // ASCII character is a combining mark or one of the letters mapped below. The general path
    // gives the same result for it (`ascii_fold_is_the_general_fold`), at several times the cost.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    slow_fold(s)
}

/// `fold` without the ASCII shortcut.
fn slow_fold(s: &str) -> String {
    // Case mapping can produce decomposable characters and decomposition can produce upper
    // case ones (𝕆 -> O), so repeat the step until it is stable; one extra pass is the norm.
    let mut out = fold_step(s);
    for _ in 0..3 {
        let again = fold_step(&out);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

fn fold_step(s: &str) -> String {
    // Upper- then lower-casing approximates Unicode full case folding (ß -> SS -> ss,
    // final sigma -> σ) with only the standard library.
    let cased: String = s
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect();
    let mut out = String::with_capacity(cased.len());
    for c in cased.nfkd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'ħ' => out.push('h'),
            'ı' => out.push('i'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'þ' => out.push_str("th"),
            _ => out.push(c),
        }
    }
    out
}

/// The folded words of `s` for a full-text index: split on every character that is not
/// alphanumeric (Unicode-aware), in order of first appearance, without duplicates.
///
/// `terms("ada@example.com")` is `["ada", "example", "com"]`.
pub fn terms(s: &str) -> Vec<String> {
    let folded = fold(s);
    // A set for the duplicate check keeps this linear in the text (a long note has hundreds of
    // thousands of distinct words; a scan of `out` per word was quadratic).
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !c.is_alphanumeric()) {
        if !word.is_empty() && seen.insert(word) {
            out.push(word.to_string());
        }
    }
    out
}

/// Levenshtein edit distance between `a` and `b`, counted in chars.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    levenshtein_chars(&a, &b)
}

fn levenshtein_chars(a: &[char], b: &[char]) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidates closest to `query`, best first, at most `max` of them, for "did you mean"
/// hints and fuzzy lookup.
///
/// Compares folded strings; a candidate's distance is the smaller of its distance as a whole
/// and that of its best-matching word, so `"lovlace"` finds `"Ada Lovelace"`. Only candidates
/// within `max(2, query_len / 3)` edits are returned (1 edit for queries of 3 chars or fewer).
/// Ties are broken by the folded, then the original candidate text.
pub fn closest<'a>(query: &str, candidates: &[&'a str], max: usize) -> Vec<&'a str> {
    let q: Vec<char> = fold(query).trim().chars().collect();
    if q.is_empty() || max == 0 {
        return Vec::new();
    }
    let allowed = if q.len() <= 3 {
        1
    } else {
        (q.len() / 3).max(2)
    };
    let mut scored: Vec<(usize, String, &'a str)> = candidates
        .iter()
        .filter_map(|&cand| {
            let folded = fold(cand);
            let whole: Vec<char> = folded.trim().chars().collect();
            let mut best = levenshtein_chars(&q, &whole);
            for word in folded.split(|c: char| !c.is_alphanumeric()) {
                if best == 0 {
                    break;
                }
                if !word.is_empty() {
                    let w: Vec<char> = word.chars().collect();
                    best = best.min(levenshtein_chars(&q, &w));
                }
            }
            (best <= allowed).then_some((best, folded, cand))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(max).map(|(_, _, c)| c).collect()
}

/// One edit of a text: at code-point position `pos`, delete `delete` code points, then insert
/// `insert`. Positions refer to the text as it is after the previous splices were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub pos: usize,
    pub delete: usize,
    pub insert: String,
}

/// A changed region: `old[old_start..old_start + old_len]` became
/// `new[new_start..new_start + new_len]` (in chars).
#[derive(Debug, Clone, Copy)]
struct Hunk {
    old_start: usize,
    old_len: usize,
    new_start: usize,
    new_len: usize,
}

/// Character-level diff: trims the common prefix and suffix, runs Myers on the middle, and
/// merges adjacent delete/insert runs.
fn hunks(old: &[char], new: &[char]) -> Vec<Hunk> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];
    if old_mid.is_empty() && new_mid.is_empty() {
        return Vec::new();
    }
    if old_mid.is_empty() || new_mid.is_empty() {
        return vec![Hunk {
            old_start: prefix,
            old_len: old_mid.len(),
            new_start: prefix,
            new_len: new_mid.len(),
        }];
    }
    // Only the Equal runs are used, as anchors: each gap between two of them (in both old and
    // new) is one hunk. This merges adjacent deletes and inserts and does not depend on the
    // indices similar reports for the other ops.
    let mut out: Vec<Hunk> = Vec::new();
    let (mut o, mut n) = (0, 0);
    let mut anchors: Vec<(usize, usize, usize)> =
        capture_diff_slices(Algorithm::Myers, old_mid, new_mid)
            .into_iter()
            .filter_map(|op| match op {
                DiffOp::Equal {
                    old_index,
                    new_index,
                    len,
                } => Some((old_index, new_index, len)),
                _ => None,
            })
            .collect();
    anchors.push((old_mid.len(), new_mid.len(), 0));
    for (old_index, new_index, len) in anchors {
        if old_index > o || new_index > n {
            out.push(Hunk {
                old_start: prefix + o,
                old_len: old_index - o,
                new_start: prefix + n,
                new_len: new_index - n,
            });
        }
        o = old_index + len;
        n = new_index + len;
    }
    out
}

/// The edits that turn `old` into `new`, in code points, to be applied in order.
pub fn splices(old: &str, new: &str) -> Vec<Splice> {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    hunks(&old, &new)
        .into_iter()
        .map(|h| Splice {
            pos: h.new_start,
            delete: h.old_len,
            insert: new[h.new_start..h.new_start + h.new_len].iter().collect(),
        })
        .collect()
}

/// Applies `splices` in order to `text`. Positions beyond the end are clamped, so this never
/// panics; splices from [`splices`] are always in range.
pub fn apply_splices(text: &str, splices: &[Splice]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for s in splices {
        let pos = s.pos.min(chars.len());
        let end = pos.saturating_add(s.delete).min(chars.len());
        chars.splice(pos..end, s.insert.chars());
    }
    chars.into_iter().collect()
}

/// Width of `chars` in the document's text units.
fn width(chars: &[char], encoding: TextEncoding) -> usize {
    match encoding {
        TextEncoding::Utf8CodeUnit => chars.iter().map(|c| c.len_utf8()).sum(),
        TextEncoding::Utf16CodeUnit => chars.iter().map(|c| c.len_utf16()).sum(),
        _ => chars.len(),
    }
}

/// Makes the Automerge text object `obj` equal to `new` with minimal character splices, so
/// concurrent edits elsewhere in the text merge cleanly. Errors if `obj` is not a text object.
pub fn apply_text(doc: &mut AutoCommit, obj: &ObjId, new: &str) -> Result<(), AutomergeError> {
    let old = doc.text(obj)?;
    let encoding = doc.text_encoding();
    if encoding == TextEncoding::GraphemeCluster {
        return doc.update_text(obj, new);
    }
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    for h in hunks(&old, &new) {
        // Everything before the hunk already equals `new`'s prefix.
        let pos = width(&new[..h.new_start], encoding);
        let del = width(&old[h.old_start..h.old_start + h.old_len], encoding);
        let insert: String = new[h.new_start..h.new_start + h.new_len].iter().collect();
        let del = isize::try_from(del).map_err(|_| AutomergeError::InvalidIndex(del))?;
        doc.splice_text(obj, pos, del, &insert)?;
    }
    Ok(())
}

/// Natural order of two (folded) names: runs of digits compare by their value, so
/// `abara 116` sorts before `abara 1050`; other characters compare as usual.
///
/// Most pairs differ outside a digit run: past their common prefix they compare byte by byte
/// (UTF-8 keeps the order of code points), without walking the characters.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let i = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    let digit_at = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    let in_run = i > 0 && x[i - 1].is_ascii_digit();
    if in_run || (digit_at(x, i) && digit_at(y, i)) {
        return natural_cmp_chars(a, b);
    }
    x[i..].cmp(&y[i..])
}

/// [`natural_cmp`] character by character, digit runs by value.
fn natural_cmp_chars(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut run = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        run.push(c);
                    }
                    run
                };
                let (p, q) = (take(&mut x), take(&mut y));
                let (p0, q0) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                let ord = p0
                    .len()
                    .cmp(&q0.len())
                    .then_with(|| p0.cmp(q0))
                    .then_with(|| p.len().cmp(&q.len()));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(&d);
                }
                x.next();
                y.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_fast_path_agrees_with_the_walk() {
        let words = [
            "",
            "a",
            "ab",
            "abara 116",
            "abara 1050",
            "abara 2",
            "abara 10",
            "a10b",
            "a10a",
            "a007",
            "a7",
            "ada",
            "ada 1",
            "x",
            "zoë",
            "zoe",
            "zoë 3",
            "éa",
            "e9",
            "e10",
            "9",
            "10",
            "010",
            "a1b2",
            "a1b10",
            "a 1",
            "a1",
            "a12",
            "a1 2",
        ];
        for a in words {
            for b in words {
                assert_eq!(natural_cmp(a, b), natural_cmp_chars(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn natural_order_fast_path_agrees_on_any_text(a in "[a0-9é ]{0,8}", b in "[a0-9é ]{0,8}") {
            proptest::prop_assert_eq!(natural_cmp(&a, &b), natural_cmp_chars(&a, &b));
        }
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("abara 116", "abara 1050"), Less);
        assert_eq!(natural_cmp("abara 2", "abara 10"), Less);
        assert_eq!(natural_cmp("a10b", "a10a"), Greater);
        assert_eq!(natural_cmp("a007", "a7"), Greater);
        assert_eq!(natural_cmp("ada", "ada 1"), Less);
        assert_eq!(natural_cmp("x", "x"), Equal);
        assert_eq!(natural_cmp("99999999999999999999999", "1"), Greater);
    }
    use automerge::{ObjType, ROOT};
    use proptest::prelude::*;

    #[test]
    fn ascii_fold_is_the_general_fold() {
        let every: String = (0u8..128).map(char::from).collect();
        assert_eq!(fold(&every), slow_fold(&every));
        for c in every.chars() {
            assert_eq!(fold(&c.to_string()), slow_fold(&c.to_string()), "{c:?}");
        }
        assert_eq!(fold("Riverbend Labs, Inc."), "riverbend labs, inc.");
    }

    proptest! {
        #[test]
        fn ascii_fold_matches_on_any_ascii(s in "[ -~\\t\\n]{0,40}") {
            prop_assert_eq!(fold(&s), slow_fold(&s));
        }
    }

    #[test]
    fn fold_examples() {
        assert_eq!(fold("Ångström Café"), "angstrom cafe");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ÉCOLE"), "ecole");
        assert_eq!(fold("Søren Kierkegaard"), "soren kierkegaard");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("ﬁne"), "fine");
        assert_eq!(fold("İstanbul"), "istanbul");
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
        assert_eq!(fold("Ｆｕｌｌ"), "full");
        assert_eq!(fold(""), "");
        for s in [
            "Ångström Café",
            "Straße",
            "İstanbul",
            "ǰ",
            "ΣΊΣΥΦΟΣ",
            "ﬃ",
            "Æsir",
        ] {
            assert_eq!(fold(&fold(s)), fold(s), "{s}");
        }
    }

    #[test]
    fn terms_examples() {
        assert_eq!(terms("ada@example.com"), ["ada", "example", "com"]);
        assert_eq!(terms("Ada Lovelace, ADA!"), ["ada", "lovelace"]);
        assert_eq!(terms("  --  "), Vec::<String>::new());
        assert_eq!(
            terms("José Müller-Lüdenscheidt"),
            ["jose", "muller", "ludenscheidt"]
        );
        assert_eq!(terms("+44 20 7946 0958"), ["44", "20", "7946", "0958"]);
        assert_eq!(terms("東京 タワー"), ["東京", "タワー"]);
    }

    #[test]
    fn terms_of_a_long_text_keep_first_appearance_order() {
        // 100 000 distinct words: the duplicate check must not scan the output per word.
        let text: String = (0..100_000).map(|i| format!("w{i} w{} ", i / 2)).collect();
        let t = terms(&text);
        assert_eq!(t.len(), 100_000);
        assert_eq!(&t[..4], ["w0", "w1", "w2", "w3"]);
        assert_eq!(t.last().map(String::as_str), Some("w99999"));
    }

    #[test]
    fn levenshtein_examples() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        assert_eq!(levenshtein("café", "cafe"), 1);
        assert_eq!(levenshtein("🙂🙂", "🙂"), 1);
    }

    #[test]
    fn closest_examples() {
        let names = [
            "Ada Lovelace",
            "Alan Turing",
            "Grace Hopper",
            "Ada Byron",
            "Alan Kay",
        ];
        assert_eq!(closest("lovlace", &names, 5), ["Ada Lovelace"]);
        assert_eq!(closest("ada", &names, 5), ["Ada Byron", "Ada Lovelace"]);
        assert_eq!(closest("ada", &names, 1), ["Ada Byron"]);
        assert_eq!(closest("alan turnig", &names, 5), ["Alan Turing"]);
        assert_eq!(closest("GRACE", &names, 5), ["Grace Hopper"]);
        assert_eq!(closest("zzzzzz", &names, 5), Vec::<&str>::new());
        assert_eq!(closest("", &names, 5), Vec::<&str>::new());
        assert_eq!(closest("ada", &names, 0), Vec::<&str>::new());
        assert_eq!(closest("jose", &["José Ortega"], 5), ["José Ortega"]);
        // exact beats fuzzy
        assert_eq!(closest("kay", &["Kai", "Kay"], 5), ["Kay", "Kai"]);
    }

    #[test]
    fn splices_examples() {
        assert_eq!(splices("abc", "abc"), vec![]);
        assert_eq!(
            splices("", "abc"),
            vec![Splice {
                pos: 0,
                delete: 0,
                insert: "abc".into()
            }]
        );
        assert_eq!(
            splices("hello world", "hello brave world"),
            vec![Splice {
                pos: 6,
                delete: 0,
                insert: "brave ".into()
            }]
        );
        assert_eq!(
            splices("café 🙂 ok", "café 🙃 ok"),
            vec![Splice {
                pos: 5,
                delete: 1,
                insert: "🙃".into()
            }]
        );
        let pairs = [
            ("", ""),
            ("abc", ""),
            ("", "🙂👍🏽"),
            ("kitten", "sitting"),
            ("Ångström", "Angstrom"),
            ("e\u{301}", "é"),
            ("one two three", "three two one"),
            ("aaaa", "aa"),
            ("abab", "baba"),
            ("👨‍👩‍👧 family", "👨‍👩‍👦 family!"),
            ("line1\nline2\nline3", "line1\nline2 changed\nline3\nline4"),
        ];
        for (a, b) in pairs {
            assert_eq!(apply_splices(a, &splices(a, b)), b, "{a:?} -> {b:?}");
            assert_eq!(apply_splices(b, &splices(b, a)), a, "{b:?} -> {a:?}");
        }
    }

    fn text_doc(initial: &str) -> (AutoCommit, ObjId) {
        let mut doc = AutoCommit::new();
        let obj = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.splice_text(&obj, 0, 0, initial).unwrap();
        (doc, obj)
    }

    #[test]
    fn default_encoding_is_code_points() {
        assert_eq!(
            AutoCommit::new().text_encoding(),
            TextEncoding::UnicodeCodePoint
        );
    }

    #[test]
    fn apply_text_sets_the_text() {
        let (mut doc, obj) = text_doc("Met at the café 🙂 in Zürich");
        for new in [
            "Met at the café 🙃 in Zürich",
            "Met Ada at the café in Zürich 👍🏽",
            "",
            "ß",
            "Met at the café 🙂 in Zürich",
        ] {
            apply_text(&mut doc, &obj, new).unwrap();
            assert_eq!(doc.text(&obj).unwrap(), new);
        }
    }

    #[test]
    fn apply_text_in_other_encodings() {
        for enc in [
            TextEncoding::Utf8CodeUnit,
            TextEncoding::Utf16CodeUnit,
            TextEncoding::GraphemeCluster,
        ] {
            let mut doc = AutoCommit::new_with_encoding(enc);
            let obj = doc.put_object(ROOT, "t", ObjType::Text).unwrap();
            for new in ["a🙂b", "aé🙂🙂b", "🙃", "x👨‍👩‍👧y", "x👨‍👩‍👦yz", ""]
            {
                apply_text(&mut doc, &obj, new).unwrap();
                assert_eq!(doc.text(&obj).unwrap(), new, "{enc:?}");
            }
        }
    }

    #[test]
    fn apply_text_rejects_non_text_objects() {
        let mut doc = AutoCommit::new();
        let map = doc.put_object(ROOT, "m", ObjType::Map).unwrap();
        assert!(apply_text(&mut doc, &map, "x").is_err());
    }

    #[test]
    fn concurrent_edits_of_different_parts_merge() {
        let (mut a, obj) = text_doc("Ada likes tea. Lives in London. Café owner.");
        a.commit();
        let mut b = a.fork();
        apply_text(
            &mut a,
            &obj,
            "Ada likes green tea. Lives in London. Café owner.",
        )
        .unwrap();
        apply_text(
            &mut b,
            &obj,
            "Ada likes tea. Lives in Paris. Café owner 🙂.",
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let expected = "Ada likes green tea. Lives in Paris. Café owner 🙂.";
        assert_eq!(a.text(&obj).unwrap(), expected);
        assert_eq!(b.text(&obj).unwrap(), expected);
    }

    proptest! {
        #[test]
        fn splices_reproduce_new(
            old in "[abcé🙂\u{301} \n]{0,40}",
            new in "[abcé🙂\u{301} \n]{0,40}",
        ) {
            let s = splices(&old, &new);
            prop_assert_eq!(apply_splices(&old, &s), new.clone());
            // increasing, non-adjacent (adjacent ones are merged) and never empty
            for w in s.windows(2) {
                prop_assert!(w[1].pos > w[0].pos + w[0].insert.chars().count());
            }
            prop_assert!(s.iter().all(|x| x.delete > 0 || !x.insert.is_empty()));
        }

        #[test]
        fn splices_of_any_strings(old in any::<String>(), new in any::<String>()) {
            prop_assert_eq!(apply_splices(&old, &splices(&old, &new)), new);
        }

        #[test]
        fn apply_text_reproduces_new(
            old in "[ab🙂é ]{0,20}",
            new in "[ab🙂é ]{0,20}",
        ) {
            let (mut doc, obj) = text_doc(&old);
            apply_text(&mut doc, &obj, &new).unwrap();
            prop_assert_eq!(doc.text(&obj).unwrap(), new);
        }

        #[test]
        fn fold_is_idempotent(s in any::<String>()) {
            let f = fold(&s);
            prop_assert_eq!(fold(&f), f);
        }
    }
}
