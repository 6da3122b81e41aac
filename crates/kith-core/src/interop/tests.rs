//! Tests of the interop layer against the fixtures in `fixtures/vcard` and `fixtures/csv`
//! (see `fixtures/README.md`), plus round-trip properties of export then import.

use super::*;
use proptest::prelude::*;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/",
            $path
        ))
    };
}

/// Feeds a file line by line, as the CLI will.
fn read_vcards(bytes: &[u8]) -> Vec<Result<RawCard, CardError>> {
    let mut r = VCardReader::new();
    let mut out: Vec<_> = bytes
        .split_inclusive(|&b| b == b'\n')
        .filter_map(|l| r.push_line(l))
        .collect();
    out.extend(r.finish());
    out
}

fn cards(bytes: &[u8]) -> Vec<CardData> {
    read_vcards(bytes)
        .into_iter()
        .map(|r| CardData::from_raw(&r.expect("fixture card parses")))
        .collect()
}

fn one_card(bytes: &[u8]) -> CardData {
    let mut c = cards(bytes);
    assert_eq!(c.len(), 1);
    c.remove(0)
}

fn read_csv(kind: CsvKind, bytes: &[u8]) -> Vec<Result<CsvRecord, CsvError>> {
    let mut r = CsvImporter::new(kind);
    let mut out: Vec<_> = bytes
        .split_inclusive(|&b| b == b'\n')
        .filter_map(|l| r.push_line(l))
        .collect();
    out.extend(r.finish().map(Err));
    out
}

fn reimport(card: &CardData, v: WriteVersion) -> CardData {
    one_card(write_vcard(card, v).as_bytes())
}

fn email(value: &str, types: &[&str]) -> Labelled {
    Labelled {
        types: types.iter().map(|t| t.to_string()).collect(),
        value: value.into(),
        ..Labelled::default()
    }
}

fn date(year: Option<i32>, month: u8, day: u8) -> Option<PartialDate> {
    Some(PartialDate { year, month, day })
}

// ---- detection -------------------------------------------------------------------------------

#[test]
fn detects_every_fixture() {
    assert_eq!(detect(fixture!("vcard/apple.vcf")), Ok(Format::VCard));
    assert_eq!(
        detect(fixture!("vcard/outlook-2.1-qp-latin1.vcf")),
        Ok(Format::VCard)
    );
    assert_eq!(
        detect(fixture!("csv/google-contacts.csv")),
        Ok(Format::GoogleCsv)
    );
    assert_eq!(
        detect(fixture!("csv/google-contacts-legacy.csv")),
        Ok(Format::GoogleCsv)
    );
    assert_eq!(
        detect(fixture!("csv/linkedin-connections.csv")),
        Ok(Format::LinkedInCsv)
    );
}

#[test]
fn detect_rejects_empty_binary_and_unknown_input() {
    assert_eq!(detect(b""), Err(DetectError::Empty));
    assert_eq!(detect(b"\r\n  \n"), Err(DetectError::Empty));
    assert_eq!(
        detect(b"\x89PNG\r\n\x1a\n\0\0"),
        Err(DetectError::Binary { offset: 8 })
    );
    assert_eq!(detect(b"\xff\xfeB\0E\0"), Err(DetectError::Utf16));
    assert_eq!(
        detect(b"name;\xe9t\xe9\n"),
        Err(DetectError::NotUtf8 { offset: 5 })
    );
    assert!(matches!(
        detect(b"id,amount\n1,2\n"),
        Err(DetectError::Unknown { first_line }) if first_line == "id,amount"
    ));
    // A prefix cut in the middle of a UTF-8 character is still text.
    let mut cut = b"First Name,Last Name,Connected On\nJos\xc3\xa9".to_vec();
    cut.pop();
    assert_eq!(detect(&cut), Ok(Format::LinkedInCsv));
}

// ---- vCard reader ----------------------------------------------------------------------------

#[test]
fn apple_labels_groups_and_omitted_year() {
    let c = one_card(fixture!("vcard/apple.vcf"));
    assert_eq!(c.formatted_name.as_deref(), Some("Johnny Appleseed"));
    assert_eq!(
        c.uid.as_deref(),
        Some("5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE")
    );
    assert_eq!(
        c.emails[0],
        Labelled {
            types: vec![],
            pref: Some(1),
            label: Some("Other".into()),
            group: Some("item1".into()),
            value: "johnny@example.com".into(),
        }
    );
    assert_eq!(c.emails[1].label.as_deref(), Some("Book club"));
    assert_eq!(c.phones[0].types, ["cell", "voice"]);
    assert_eq!(c.addresses[0].locality, "Cupertino");
    assert_eq!(c.addresses[0].group.as_deref(), Some("item3"));
    assert_eq!(c.urls[0].label.as_deref(), Some("HomePage"));
    assert_eq!(
        c.orgs,
        [Org {
            name: "Apple Inc.".into(),
            units: vec![]
        }]
    );
    assert_eq!(c.birthday, date(None, 3, 15));
    // Labels stay in `unknown` with their groups, as do Apple's own extensions.
    let unknown: Vec<String> = c
        .unknown
        .iter()
        .map(|p| {
            format!(
                "{}.{}={}",
                p.group.as_deref().unwrap_or(""),
                p.name,
                p.value
            )
        })
        .collect();
    assert_eq!(
        unknown,
        [
            ".PRODID=-//Apple Inc.//macOS 14.5//EN",
            "item1.X-ABLABEL=_$!<Other>!$_",
            "item2.X-ABLABEL=Book club",
            "item3.X-ABADR=us",
            "item4.X-ABLABEL=_$!<HomePage>!$_",
            "item5.X-ABDATE=2010-06-12",
            "item5.X-ABLABEL=_$!<Anniversary>!$_",
            ".X-ABUID=5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE:ABPerson",
        ]
    );
    let out = write_vcard(&c, WriteVersion::V4_0);
    assert!(
        out.contains("\r\nitem1.EMAIL;PREF=1:johnny@example.com\r\n"),
        "{out}"
    );
    assert!(
        out.contains("\r\nitem1.X-ABLABEL:_$!<Other>!$_\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\nBDAY:--0315\r\n"), "{out}");
    assert_eq!(reimport(&c, WriteVersion::V4_0), c);
    assert_eq!(reimport(&c, WriteVersion::V3_0), c);
}

#[test]
fn google_vcard_types_escapes_categories_and_extensions() {
    let c = one_card(fixture!("vcard/google.vcf"));
    assert_eq!(
        c.name,
        Some(StructuredName {
            family: "Lovelace".into(),
            given: "Ada".into(),
            additional: "King".into(),
            prefixes: "Countess".into(),
            suffixes: "".into(),
        })
    );
    assert_eq!(c.nicknames, ["Ada", "Enchantress of Numbers"]);
    assert_eq!(
        c.emails,
        [
            email("ada@example.com", &["home"]),
            email("ada@analytical.example", &["work"])
        ]
    );
    assert_eq!(c.addresses[0].street, "12 St James's Square");
    assert_eq!(c.addresses[0].postcode, "SW1Y 4JH");
    assert_eq!(c.urls[0].value, "https://example.com/ada");
    assert_eq!(c.birthday, date(Some(1815), 12, 10));
    assert_eq!(c.categories, ["myContacts", "Friends", "Mathematicians"]);
    assert_eq!(
        c.note.as_deref(),
        Some("First programmer.\nLikes poetry, science; and horses.")
    );
    assert!(c
        .unknown
        .iter()
        .any(|p| p.name == "X-GOOGLE-TALK" && p.value == "ada@gmail.example"));
    let out = write_vcard(&c, WriteVersion::V4_0);
    assert!(
        out.contains("\r\nX-GOOGLE-TALK:ada@gmail.example\r\n"),
        "{out}"
    );
    assert!(
        out.contains("\r\nitem1.X-ABRELATEDNAMES:Charles Babbage\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\nCATEGORIES:myContacts,Friends,Mathematicians\r\n"));
    assert_eq!(reimport(&c, WriteVersion::V4_0), c);
}

#[test]
fn outlook_21_quoted_printable_latin1_and_bare_params() {
    let raw = read_vcards(fixture!("vcard/outlook-2.1-qp-latin1.vcf"));
    let raw = raw[0].as_ref().unwrap();
    assert_eq!(raw.version, Version::V2_1);
    let c = CardData::from_raw(raw);
    let n = c.name.as_ref().unwrap();
    assert_eq!((n.family.as_str(), n.given.as_str()), ("Müller", "Jürgen"));
    assert_eq!(c.formatted_name.as_deref(), Some("Dr. Jürgen Müller"));
    assert_eq!(
        c.orgs,
        [Org {
            name: "Straßenbau GmbH".into(),
            units: vec!["Planung".into()]
        }]
    );
    assert_eq!(c.phones[0], email("+49 30 1234567", &["work", "voice"]));
    assert_eq!(c.phones[1], email("+49 170 7654321", &["cell"]));
    assert_eq!(c.emails[0].pref, Some(1));
    assert_eq!(c.addresses[0].street, "Hauptstraße 5");
    assert_eq!(c.addresses[0].locality, "Köln");
    assert_eq!(
        c.note.as_deref(),
        Some("Erste Zeile mit Umlauten äöü.\nZweite Zeile nach einem weichen Umbruch, die weitergeht.")
    );
    assert_eq!(c.anniversary, date(Some(2005), 5, 21));
    let names: Vec<&str> = c.unknown.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["X-MS-OL-DEFAULT-POSTAL-ADDRESS", "X-MS-IMADDRESS", "REV"]
    );
    assert_eq!(reimport(&c, WriteVersion::V4_0), c);
}

#[test]
fn windows_1252_labelled_and_unlabelled() {
    let c = one_card(fixture!("vcard/outlook-2.1-cp1252.vcf"));
    assert_eq!(c.formatted_name.as_deref(), Some("François Dupont"));
    assert_eq!(c.note.as_deref(), Some("Prix : 5 €, dit “bonjour”"));
    // No CHARSET on a 2.1 card: Outlook's code page is assumed.
    assert_eq!(c.orgs[0].name, "Café de la Gare");
}

#[test]
fn folded_lines_unfold_including_split_utf8() {
    let c = cards(fixture!("vcard/folded.vcf"));
    assert_eq!(
        c[0].note.as_deref(),
        Some("This note is long enough that the exporting application folded it across several physical lines, as RFC 6350 section 3.2 requires for lines longer than seventy-five octets.")
    );
    let x = &c[0].unknown[0];
    assert_eq!(x.name, "X-LONG-EXTENSION");
    assert_eq!(
        x.params,
        [("X-PARAM".to_string(), vec!["a,b;c".to_string()])]
    );
    assert_eq!(x.value, "value that continues on a tab-folded line");
    assert_eq!(c[1].formatted_name.as_deref(), Some("Renée Descartes"));
    // Export folds at 75 octets and the result unfolds to the same card.
    let out = write_vcard(&c[0], WriteVersion::V4_0);
    assert!(out.split("\r\n").all(|l| l.len() <= 75), "{out}");
    assert!(out.lines().count() > 6);
    assert_eq!(reimport(&c[0], WriteVersion::V4_0), c[0]);
}

#[test]
fn photos_in_all_three_versions() {
    let c = cards(fixture!("vcard/photo-base64.vcf"));
    let Some(Photo::Inline { mime, bytes }) = &c[0].photo else {
        panic!("2.1 photo: {:?}", c[0].photo)
    };
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
    assert_eq!((bytes.len(), &bytes[..3]), (62, &[0xFF, 0xD8, 0xFF][..]));
    for card in &c[1..3] {
        let Some(Photo::Inline { mime, bytes }) = &card.photo else {
            panic!("photo: {:?}", card.photo)
        };
        assert_eq!(mime.as_deref(), Some("image/png"));
        assert_eq!((bytes.len(), &bytes[..4]), (70, &b"\x89PNG"[..]));
    }
    assert_eq!(
        c[3].photo,
        Some(Photo::Uri("https://example.com/photo.jpg".into()))
    );
    for card in &c {
        assert!(card.unknown.is_empty(), "{:?}", card.unknown);
        assert_eq!(&reimport(card, WriteVersion::V4_0), card);
        assert_eq!(&reimport(card, WriteVersion::V3_0), card);
    }
}

#[test]
fn birthdays_and_anniversaries_with_and_without_year() {
    let c = cards(fixture!("vcard/bday-no-year.vcf"));
    assert_eq!(c[0].birthday, date(None, 4, 12));
    assert_eq!(c[0].anniversary, date(Some(2010), 6, 12));
    assert_eq!(c[1].birthday, date(None, 4, 12));
    assert_eq!(c[2].birthday, date(None, 4, 12));
    assert_eq!(c[2].anniversary, date(Some(2001), 9, 30));
    assert_eq!(c[3].birthday, date(Some(1985), 4, 12));
    // A text birthday is not a date: kept verbatim instead.
    assert_eq!(c[4].birthday, None);
    assert_eq!(c[4].unknown[0].value, "circa 1800");
    assert!(write_vcard(&c[4], WriteVersion::V4_0).contains("\r\nBDAY;VALUE=text:circa 1800\r\n"));
    let v3 = write_vcard(&c[2], WriteVersion::V3_0);
    assert!(
        v3.contains("\r\nBDAY;X-APPLE-OMIT-YEAR=1604:1604-04-12\r\n"),
        "{v3}"
    );
    for card in &c {
        assert_eq!(&reimport(card, WriteVersion::V4_0), card);
        assert_eq!(&reimport(card, WriteVersion::V3_0), card);
    }
    assert_eq!(PartialDate::parse("--02-30"), None);
    assert_eq!(PartialDate::parse("2023-02-29"), None);
    assert_eq!(date(None, 4, 12).unwrap().to_string(), "--04-12");
}

#[test]
fn several_orgs_and_titles() {
    let c = one_card(fixture!("vcard/multi-org.vcf"));
    assert_eq!(
        c.orgs,
        [
            Org {
                name: "United States Navy".into(),
                units: vec!["Naval Reserve".into(), "Bureau of Ordnance".into()]
            },
            Org {
                name: "Eckert-Mauchly Computer Corporation".into(),
                units: vec![]
            },
            Org {
                name: "Remington Rand, Inc.".into(),
                units: vec![]
            },
        ]
    );
    assert_eq!(c.titles, ["Rear Admiral", "Senior Mathematician"]);
    assert!(write_vcard(&c, WriteVersion::V4_0).contains("\r\nORG:Remington Rand\\, Inc.\r\n"));
    assert_eq!(reimport(&c, WriteVersion::V4_0), c);
}

#[test]
fn rfc6350_card_models_what_it_can_and_keeps_the_rest() {
    let c = one_card(fixture!("vcard/v4.vcf"));
    assert_eq!(
        c.uid.as_deref(),
        Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    );
    assert_eq!(c.name.as_ref().unwrap().suffixes, "ing. jr,M.Sc.");
    assert_eq!(c.birthday, date(None, 2, 3));
    assert_eq!(c.anniversary, date(Some(2009), 8, 8));
    assert_eq!(c.phones[0].value, "tel:+1-418-656-9254;ext=102");
    assert_eq!(c.phones[0].types, ["work", "voice"]);
    assert_eq!(c.phones[0].pref, Some(1));
    assert_eq!(
        c.phones[1].types,
        ["work", "cell", "voice", "video", "text"]
    );
    assert_eq!(c.emails, [email("simon.perreault@viagenie.ca", &["work"])]);
    assert_eq!(c.urls, [email("http://nomis80.org", &["home"])]);
    assert_eq!(c.categories, ["work", "standards", "IETF"]);
    let kept: Vec<&str> = c.unknown.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        kept,
        [
            "KIND",
            "GENDER",
            "LANG",
            "LANG",
            "ORG",
            "ADR",
            "GEO",
            "KEY",
            "TZ",
            "X-SOCIALPROFILE"
        ]
    );
    let out = write_vcard(&c, WriteVersion::V4_0);
    assert!(
        out.contains("\r\nTEL;VALUE=uri;TYPE=work,voice;PREF=1:tel:+1-418-656-9254;ext=102\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\nX-SOCIALPROFILE;TYPE=mastodon:https://example.social/@simon\r\n"));
    assert_eq!(reimport(&c, WriteVersion::V4_0), c);
}

#[test]
fn many_cards_of_mixed_versions_in_one_file() {
    let raw = read_vcards(fixture!("vcard/many-cards.vcf"));
    let raw: Vec<RawCard> = raw.into_iter().map(Result::unwrap).collect();
    let versions: Vec<(usize, Version)> = raw.iter().map(|r| (r.line, r.version)).collect();
    assert_eq!(
        versions,
        [(1, Version::V3_0), (7, Version::V4_0), (12, Version::V2_1)]
    );
    let third = CardData::from_raw(&raw[2]);
    assert_eq!(third.formatted_name.as_deref(), Some("Third Card"));
    assert_eq!(third.phones, [email("+1 555 0103", &["home", "voice"])]);
}

#[test]
fn malformed_card_reports_its_line_and_reading_goes_on() {
    let r = read_vcards(fixture!("vcard/malformed-missing-colon.vcf"));
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[1],
        Err(CardError {
            line: 8,
            kind: CardErrorKind::MissingColon
        })
    );
    assert_eq!(
        r[1].as_ref().unwrap_err().to_string(),
        "line 8: property has no ':' between its name and value; the card is skipped"
    );
    assert_eq!(
        CardData::from_raw(r[2].as_ref().unwrap())
            .formatted_name
            .as_deref(),
        Some("Good After")
    );

    let r = read_vcards(fixture!("vcard/malformed-nested-begin.vcf"));
    assert_eq!(
        r[0],
        Err(CardError {
            line: 4,
            kind: CardErrorKind::NestedBegin { outer: 1 }
        })
    );
    assert_eq!(
        CardData::from_raw(r[1].as_ref().unwrap())
            .formatted_name
            .as_deref(),
        Some("Inner")
    );
}

#[test]
fn truncated_file_names_the_unclosed_begin() {
    let r = read_vcards(fixture!("vcard/truncated.vcf"));
    assert_eq!(r.len(), 2);
    assert!(r[0].is_ok());
    assert_eq!(
        r[1],
        Err(CardError {
            line: 5,
            kind: CardErrorKind::Truncated
        })
    );
}

#[test]
fn reader_errors_for_limits_versions_and_charsets() {
    let mut r = VCardReader::new();
    assert!(r.push_line(b"BEGIN:VCARD").is_none());
    let long = vec![b'a'; vcard::MAX_LINE_BYTES + 1];
    assert_eq!(
        r.push_line(&long),
        Some(Err(CardError {
            line: 2,
            kind: CardErrorKind::LineTooLong {
                limit: vcard::MAX_LINE_BYTES
            }
        }))
    );
    assert!(
        r.push_line(b"END:VCARD").is_none(),
        "skips to the end of the bad card"
    );
    assert_eq!(
        r.push_line(b"stray text"),
        Some(Err(CardError {
            line: 4,
            kind: CardErrorKind::OutsideCard("stray text".into())
        }))
    );
    let bad = |text: &[u8]| read_vcards(text).remove(0).unwrap_err().kind;
    assert_eq!(
        bad(b"BEGIN:VCARD\nVERSION:5.0\nEND:VCARD\n"),
        CardErrorKind::UnsupportedVersion("5.0".into())
    );
    assert_eq!(
        bad(b"BEGIN:VCARD\nFN;CHARSET=klingon:x\nEND:VCARD\n"),
        CardErrorKind::UnknownCharset("klingon".into())
    );
    assert_eq!(
        bad(b"BEGIN:VCARD\nVERSION:4.0\nFN:\xe9\nEND:VCARD\n"),
        CardErrorKind::InvalidUtf8
    );
    assert_eq!(
        bad(b"BEGIN:VCARD\nF N:x\nEND:VCARD\n"),
        CardErrorKind::BadName("F N".into())
    );
    assert_eq!(bad(b"END:VCARD\n"), CardErrorKind::EndWithoutBegin);
}

// ---- CSV -------------------------------------------------------------------------------------

#[test]
fn csv_reader_handles_quotes_newlines_crlf_and_bom() {
    let mut r = CsvReader::new();
    let input = b"\xef\xbb\xbfa,\"b,1\",\"say \"\"hi\"\"\"\r\n\r\nx,\"multi\r\nline\",\n";
    let rows: Vec<CsvRow> = input
        .split_inclusive(|&b| b == b'\n')
        .filter_map(|l| r.push_line(l))
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            CsvRow {
                line: 1,
                fields: vec!["a".into(), "b,1".into(), "say \"hi\"".into()]
            },
            CsvRow {
                line: 3,
                fields: vec!["x".into(), "multi\nline".into(), "".into()]
            },
        ]
    );
    assert!(r.finish().is_none());
    assert!(r.push_line(b"\"open").is_none());
    assert_eq!(
        r.finish(),
        Some(CsvError {
            line: 5,
            kind: CsvErrorKind::UnterminatedQuote
        })
    );
}

#[test]
fn google_contacts_csv() {
    let r: Vec<CsvRecord> = read_csv(CsvKind::Google, fixture!("csv/google-contacts.csv"))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(r.len(), 2);
    let ada = &r[0].card;
    assert_eq!(r[0].line, 2);
    assert_eq!(ada.formatted_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(ada.name.as_ref().unwrap().additional, "King");
    assert_eq!(ada.nicknames, ["Ada"]);
    assert_eq!(ada.categories, ["Friends", "Mathematicians"]);
    assert_eq!(
        ada.note.as_deref(),
        Some("First programmer.\nLikes \"poetry\", science and horses.")
    );
    assert_eq!(ada.birthday, date(Some(1815), 12, 10));
    assert_eq!(
        (ada.emails[0].types.as_slice(), ada.emails[0].pref),
        (&["home".to_string()][..], Some(1))
    );
    assert_eq!(ada.emails[1].value, "ada@analytical.example");
    let phones: Vec<&str> = ada.phones.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(phones, ["+44 20 7946 0000", "+44 20 7946 0001"]);
    assert_eq!(ada.phones[0].types, ["cell"]);
    assert_eq!(ada.addresses[0].locality, "London");
    assert_eq!(
        ada.orgs,
        [Org {
            name: "Analytical Engine Society".into(),
            units: vec!["Research".into()]
        }]
    );
    assert_eq!(ada.titles, ["Analyst"]);
    assert_eq!(ada.urls[0].label.as_deref(), Some("Blog"));
    assert_eq!(ada.urls[0].group.as_deref(), Some("item1"));
    assert_eq!(reimport(ada, WriteVersion::V4_0), *ada);
    let charles = &r[1].card;
    assert_eq!(charles.birthday, date(None, 12, 26));
    assert_eq!(charles.phones[0].types, ["work", "fax"]);
    assert!(charles.categories.is_empty());
}

#[test]
fn google_contacts_legacy_csv() {
    let r: Vec<CsvRecord> = read_csv(CsvKind::Google, fixture!("csv/google-contacts-legacy.csv"))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let g = &r[0].card;
    assert_eq!(g.formatted_name.as_deref(), Some("Grace Hopper"));
    assert_eq!(g.name.as_ref().unwrap().prefixes, "Rear Admiral");
    assert_eq!(g.categories, ["Navy"]);
    assert_eq!(g.emails[0].value, "grace@navy.example");
    assert_eq!(g.orgs[0].units, ["Naval Reserve"]);
    assert_eq!(g.titles, ["Rear Admiral"]);
    assert_eq!(g.note.as_deref(), Some("Found a moth."));
    assert_eq!(g.urls[0].label.as_deref(), Some("Profile"));
}

#[test]
fn linkedin_connections_csv() {
    let r: Vec<CsvRecord> = read_csv(CsvKind::LinkedIn, fixture!("csv/linkedin-connections.csv"))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].line, 5);
    let linus = &r[0].card;
    assert_eq!(linus.formatted_name.as_deref(), Some("Linus Example"));
    assert_eq!(linus.emails[0].value, "linus@example.com");
    assert_eq!(linus.orgs[0].name, "Kernel, Inc.");
    assert_eq!(linus.titles, ["Maintainer"]);
    assert_eq!(
        linus.urls[0].value,
        "https://www.linkedin.com/in/linus-example"
    );
    assert_eq!(linus.urls[0].label.as_deref(), Some("LinkedIn"));
    assert_eq!(r[0].connected_on, date(Some(2024), 11, 21));
    assert!(r[1].card.emails.is_empty());
    assert_eq!(r[1].card.titles, ["Founder, CEO"]);
    assert_eq!(r[1].connected_on, date(Some(2019), 1, 3));
}

#[test]
fn malformed_linkedin_rows_name_their_lines() {
    let r = read_csv(CsvKind::LinkedIn, fixture!("csv/malformed-linkedin.csv"));
    assert_eq!(
        r,
        [
            Err(CsvError {
                line: 2,
                kind: CsvErrorKind::BadDate {
                    column: "Connected On".into(),
                    value: "32 Foo 2024".into()
                }
            }),
            Err(CsvError {
                line: 3,
                kind: CsvErrorKind::UnterminatedQuote
            }),
        ]
    );
    assert_eq!(
        read_csv(CsvKind::Google, b"just,some,columns\n"),
        [Err(CsvError {
            line: 1,
            kind: CsvErrorKind::MissingHeader {
                expected: "First Name"
            }
        })]
    );
}

// ---- round trip ------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;:\\\\\"\n'éß€-]{0,12}".prop_map(|s| s.trim().to_string())
}

fn nonempty() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9éß€][a-zA-Z0-9 ,;:\\\\'éß€-]{0,10}[a-zA-Z0-9]"
}

fn labelled() -> impl Strategy<Value = Labelled> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["home", "work", "cell", "voice"]),
            0..3,
        ),
        prop::option::of(1u8..=1),
        prop::option::of(nonempty()),
        nonempty(),
    )
        .prop_map(|(types, pref, label, value)| {
            let mut types: Vec<String> = types.into_iter().map(String::from).collect();
            types.dedup();
            Labelled {
                types,
                pref,
                label,
                group: None,
                value,
            }
        })
}

fn partial_date() -> impl Strategy<Value = PartialDate> {
    (prop::option::of(1900i32..2100), 1u8..=12, 1u8..=28)
        .prop_map(|(year, month, day)| PartialDate { year, month, day })
}

prop_compose! {
    fn card_data()(
        uid in prop::option::of("[a-z0-9:-]{1,20}"),
        fname in nonempty(),
        name in prop::option::of((text(), text(), text(), text(), text())),
        nicknames in prop::collection::vec(nonempty(), 0..3),
        emails in prop::collection::vec(labelled(), 0..3),
        phones in prop::collection::vec(labelled(), 0..3),
        urls in prop::collection::vec(labelled(), 0..2),
        orgs in prop::collection::vec((nonempty(), prop::collection::vec(nonempty(), 0..2)), 0..3),
        titles in prop::collection::vec(text(), 0..3),
        birthday in prop::option::of(partial_date()),
        anniversary in prop::option::of(partial_date()),
        categories in prop::collection::vec(nonempty(), 0..4),
        note in prop::option::of(text()),
        photo in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        street in prop::option::of(text()),
        x_value in prop::option::of("[ -~]{0,100}"),
    ) -> CardData {
        let mut c = CardData {
            uid,
            formatted_name: Some(fname),
            name: name
                .map(|(family, given, additional, prefixes, suffixes)| StructuredName {
                    family, given, additional, prefixes, suffixes,
                })
                .filter(|n| *n != StructuredName::default()),
            nicknames,
            emails,
            phones,
            addresses: street
                .map(|street| Address { street, types: vec!["home".into()], ..Address::default() })
                .into_iter()
                .collect(),
            urls,
            orgs: orgs.into_iter().map(|(name, units)| Org { name, units }).collect(),
            titles,
            birthday,
            anniversary,
            categories,
            note: note.filter(|n| !n.is_empty()),
            photo: photo.map(|bytes| Photo::Inline { mime: Some("image/png".into()), bytes }),
            unknown: x_value
                .map(|v| Property {
                    group: None,
                    name: "X-TEST".into(),
                    params: vec![("X-P".into(), vec!["a b".into(), "c;d".into()])],
                    value: v.replace('\\', "/"),
                })
                .into_iter()
                .collect(),
        };
        c.normalize_labels();
        c
    }
}

proptest! {
    #[test]
    fn export_then_import_is_lossless(card in card_data()) {
        for v in [WriteVersion::V4_0, WriteVersion::V3_0] {
            let out = write_vcard(&card, v);
            prop_assert!(out.split("\r\n").all(|l| l.len() <= 75));
            prop_assert_eq!(reimport(&card, v), card.clone());
        }
    }

    #[test]
    fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut input = b"BEGIN:VCARD\n".to_vec();
        input.extend(bytes);
        for c in read_vcards(&input).into_iter().flatten() {
            let _ = write_vcard(&CardData::from_raw(&c), WriteVersion::V4_0);
        }
        let _ = detect(&input);
    }
}

#[test]
fn card_data_serialises_to_json_and_back() {
    let c = cards(fixture!("vcard/photo-base64.vcf")).remove(1);
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"bytes\":\"iVBORw0KGgo"), "{json}");
    assert_eq!(serde_json::from_str::<CardData>(&json).unwrap(), c);
}
