//! Keeps `docs/configuration.md` honest: every key the config types accept
//! has a row there (and no row names a key they refuse), every `GATEHOUSE_*`
//! variable the loader reads is listed, and every TOML block in it passes
//! the same loader as `gatehouse check`.
//!
//! The key list comes from the serde types themselves: `KeyRecorder` is a
//! `Deserializer` that answers every `deserialize_struct` by visiting each
//! field it is offered, so the derived `Deserialize` impls walk the whole
//! type tree. (serde-reflection cannot trace these types: `toml::Spanned`
//! only accepts a map, and `toml::Value` and untagged enums need
//! `deserialize_any`.)

use super::raw::RawConfig;
use super::Config;
use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

const DOC: &str = include_str!("../../docs/configuration.md");

/// The sources that read `GATEHOUSE_*` variables.
const ENV_SOURCES: [&str; 4] = [
    include_str!("validate.rs"),
    include_str!("../ops/logging.rs"),
    include_str!("../cli/serve.rs"),
    include_str!("../cli/common.rs"),
];

/// Files the doc's examples name, created next to the config under test.
const EXAMPLE_FILES: [(&str, &str); 2] = [
    (
        "keys/public.jwk.json",
        r#"{"kty":"EC","crv":"P-256","x":"k8e3zD_Y7y_gCL_ps-AawSkZbLYIrDWQ8K9TlSK5H40","y":"OAZxk1f_XGfM_AUbHP7-zJhLhnwaD4oLU2-sSARDCeU","kid":"doc-example","alg":"ES256","use":"sig"}"#,
    ),
    (
        "saml/idp.pem",
        "-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUAndTZMaNBy0Vteqk25cW8fRxC7owCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaWRwLmV4YW1wbGUwIBcNMjYxMTI4MjI1OTQxWhgPMjEyNjEx
MDQyMjU5NDFaMBYxFDASBgNVBAMMC2lkcC5leGFtcGxlMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEG3YdO6XckdDNmPuN7L31tjucXHfBkVYJDc37bUE+Wk/p/J9n
sI3nxqT1l9qz/xul7oaX8CWPjefJXtV3KT2nnqNTMFEwHQYDVR0OBBYEFBtAY063
ttuZPKL0usPMM5QWN1D6MB8GA1UdIwQYMBaAFBtAY063ttuZPKL0usPMM5QWN1D6
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgK1Pw7EWJw7qZWKm/
ttebpYZ1D+7UN+zZtdoDEtxqgXMCIQDijcJMD4Ri7C3KFhjSvc3OJOXhaNdoEKRS
u8oYAKTVhw==
-----END CERTIFICATE-----
",
    ),
];

/// Dotted key path → whether its value is a table (a struct).
type Keys = Rc<RefCell<BTreeMap<String, bool>>>;

/// Every key path `RawConfig` accepts, e.g. `store.pool_size`, `apis.auth.kind`
/// (array-of-table elements share their array's path: `clients.id`).
fn accepted_keys() -> BTreeMap<String, bool> {
    let keys: Keys = Rc::default();
    RawConfig::deserialize(KeyRecorder {
        path: String::new(),
        keys: keys.clone(),
    })
    .expect("the recorder can walk RawConfig");
    let out = keys.borrow().clone();
    out
}

/// A `Deserializer` with no input: it hands every struct all of its fields
/// and every field a harmless value, noting each field's path on the way.
struct KeyRecorder {
    path: String,
    keys: Keys,
}

impl KeyRecorder {
    fn at(&self, path: String) -> KeyRecorder {
        KeyRecorder {
            path,
            keys: self.keys.clone(),
        }
    }
}

/// Valid for every string in the config types, durations included.
const SAMPLE_STR: &str = "1s";

impl<'de> de::Deserializer<'de> for KeyRecorder {
    type Error = Error;

    // `toml::Value` and untagged enums: a string is one of their shapes.
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str(SAMPLE_STR)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str(SAMPLE_STR)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str(SAMPLE_STR)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_char('x')
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bool(false)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_f64(1.0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_f64(1.0)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bytes(SAMPLE_STR.as_bytes())
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bytes(SAMPLE_STR.as_bytes())
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }
    /// A list: one element, to walk the element type.
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }
    /// A free-form map (headers, forward_claims): its keys are data, not config keys.
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_map(Fields {
            rec: self,
            fields: &[],
            next: 0,
            transparent: true,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        // `toml::Spanned<T>` is a private struct around T: not a table of its own.
        let transparent = name.starts_with("$__");
        if !transparent && !self.path.is_empty() {
            self.keys.borrow_mut().insert(self.path.clone(), true);
        }
        v.visit_map(Fields {
            rec: self,
            fields,
            next: 0,
            transparent,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "{}: enum {name} not supported by the key recorder; teach it (doc_tests.rs)",
            self.path
        )))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str(SAMPLE_STR)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

struct OneElement(Option<KeyRecorder>);

impl<'de> SeqAccess<'de> for OneElement {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|r| seed.deserialize(r)).transpose()
    }
}

/// Offers a struct each of its fields once, in order.
struct Fields {
    rec: KeyRecorder,
    fields: &'static [&'static str],
    next: usize,
    transparent: bool,
}

impl Fields {
    fn child_path(&self, field: &str) -> String {
        match (self.transparent, self.rec.path.is_empty()) {
            (true, _) => self.rec.path.clone(),
            (false, true) => field.to_string(),
            (false, false) => format!("{}.{field}", self.rec.path),
        }
    }
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        if !self.transparent {
            let path = self.child_path(field);
            self.rec.keys.borrow_mut().entry(path).or_insert(false);
        }
        let key = BorrowedStrDeserializer::<Error>::new(field);
        seed.deserialize(key).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.rec.at(self.child_path(field)))
    }
}

/// `[table]` or `[[table]]` in backticks in a heading; "Top-level" headings
/// are the root; any other heading ends key documentation.
fn heading_table(line: &str) -> Option<String> {
    let text = line.trim_start_matches('#').trim();
    if text.starts_with("Top-level") {
        return Some(String::new());
    }
    let inner = text.split('`').nth(1)?;
    let name = inner.strip_prefix("[[").and_then(|s| s.strip_suffix("]]"));
    let name = name.or_else(|| inner.strip_prefix('[').and_then(|s| s.strip_suffix(']')))?;
    Some(name.to_string())
}

/// The TOML code blocks of the doc, with the line of each opening fence.
fn toml_blocks(doc: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    // None: prose; Some(None): another language's block; Some(Some(_)): TOML.
    let mut block: Option<Option<(usize, String)>> = None;
    for (i, line) in doc.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut block, fence) {
            (None, true) => {
                let toml = line.trim_start().trim_start_matches('`').trim() == "toml";
                block = Some(toml.then(|| (i + 1, String::new())));
            }
            (Some(b), true) => {
                blocks.extend(b.take());
                block = None;
            }
            (Some(Some((_, text))), false) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// Key paths of the doc's key tables (tables whose header starts `| Key |`),
/// each with the line it is on.
fn documented_keys(doc: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut table: Option<String> = None;
    let mut in_key_table = false;
    let mut in_code = false;
    for (i, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with('#') {
            table = heading_table(line);
            in_key_table = false;
            continue;
        }
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or("").trim();
        if first == "Key" {
            in_key_table = true;
            continue;
        }
        if !in_key_table || first.starts_with("---") {
            continue;
        }
        let t = table
            .as_ref()
            .unwrap_or_else(|| panic!("docs/configuration.md:{}: key table outside a `[table]` section", i + 1));
        let key = first
            .strip_prefix('`')
            .and_then(|k| k.strip_suffix('`'))
            .filter(|k| {
                !k.is_empty()
                    && k.split('.')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            })
            .unwrap_or_else(|| {
                panic!(
                    "docs/configuration.md:{}: the first cell of a key row must be one `key`, got {first:?}",
                    i + 1
                )
            });
        let path = if t.is_empty() {
            key.to_string()
        } else {
            format!("{t}.{key}")
        };
        out.insert(path, i + 1);
    }
    out
}

fn env_vars_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("GATEHOUSE_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if end > "GATEHOUSE_".len() {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn recorder_sees_nested_and_wrapped_keys() {
    let keys = accepted_keys();
    // Plain, Option<Spanned<_>>, nested table, array of tables, Spanned
    // inline table, Option<struct> inside it, untagged enum, toml::Value.
    for (path, table) in [
        ("listen", false),
        ("store", true),
        ("store.pool_size", false),
        ("store.cache", true),
        ("store.cache.max_entries", false),
        ("clients", true),
        ("clients.id", false),
        ("apis.auth", true),
        ("apis.auth.kind", false),
        ("apis.auth.audience", false),
        ("apis.auth.jwk", false),
        ("apis.backend.mock", true),
        ("apis.backend.mock.headers", false),
    ] {
        assert_eq!(keys.get(path), Some(&table), "{path} in {keys:#?}");
    }
    assert!(!keys.keys().any(|k| k.contains('$')), "{keys:#?}");
}

#[test]
fn every_config_key_is_documented() {
    let accepted = accepted_keys();
    let documented = documented_keys(DOC);
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|(k, table)| !**table && !documented.contains_key(*k))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md has no row for these config keys (add one to the key table of their section): \
         {missing:?}"
    );
    let unknown: Vec<String> = documented
        .iter()
        .filter(|(k, _)| !accepted.contains_key(*k))
        .map(|(k, line)| format!("{k} (line {line})"))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys the config refuses: {unknown:?}"
    );
}

#[test]
fn every_env_override_is_documented() {
    let read: BTreeSet<String> = ENV_SOURCES.iter().flat_map(|s| env_vars_in(s)).collect();
    assert!(read.contains("GATEHOUSE_STORE_POOL_SIZE"), "{read:?}");
    let documented = env_vars_in(DOC);
    let missing: Vec<&String> = read.difference(&documented).collect();
    assert!(missing.is_empty(), "docs/configuration.md does not mention {missing:?}");
    let unknown: Vec<&String> = documented.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md mentions variables nothing reads: {unknown:?}"
    );
}

#[test]
fn doc_toml_examples_pass_check() {
    let blocks = toml_blocks(DOC);
    assert!(
        blocks.len() >= 5,
        "expected the doc's TOML examples, found {}",
        blocks.len()
    );
    for (line, text) in blocks {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in EXAMPLE_FILES {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, &text).unwrap();
        let result = Config::load(&file);
        // A build without the `saml` feature refuses SAML settings, by name.
        if !cfg!(feature = "saml") && text.contains("saml") {
            match result {
                Err(e) if e.to_string().contains("built without SAML support") => continue,
                other => panic!("line {line}: a SAML block should be refused by this build: {other:?}"),
            }
        }
        if let Err(e) = result {
            panic!("docs/configuration.md: the TOML block on line {line} fails `gatehouse check`: {e}\n{text}");
        }
    }
}

#[test]
fn doc_parsers_find_what_they_should() {
    let doc = "## `[store]` x\n\n| Key | T |\n| --- | --- |\n| `url` | s |\n| `cache.max_entries` | n |\n\n\
               | Other | T |\n| --- | --- |\n| `nope` | x |\n\n## Top-level keys\n\n| Key |\n|---|\n| `listen` |\n\
               ```toml\nlisten = \"127.0.0.1:1\"\n```\n```sh\nx\n```\n";
    let keys: Vec<String> = documented_keys(doc).into_keys().collect();
    assert_eq!(keys, ["listen", "store.cache.max_entries", "store.url"]);
    assert_eq!(toml_blocks(doc), [(17, "listen = \"127.0.0.1:1\"\n".to_string())]);
    assert_eq!(
        env_vars_in("a `GATEHOUSE_X_1`, GATEHOUSE_Y. GATEHOUSE_*"),
        BTreeSet::from(["GATEHOUSE_X_1".to_string(), "GATEHOUSE_Y".to_string()])
    );
}
