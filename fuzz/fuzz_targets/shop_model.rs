//! Arbitrary command sequences against the catalog and search index, and
//! a plain map as the model: every reply, every search and the digest
//! must agree.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringmaster::shop::{tokenize, Catalog, Command, Reply, SearchIndex};
use std::collections::BTreeMap;

const WORDS: [&str; 8] = [
    "red", "Read", "blue", "BL", "shirt", "shirts", "ärmel", "x1",
];

#[derive(Debug, Arbitrary)]
enum Op {
    Add(u8, u8, u16),
    Rename(u8, u8),
    Price(u8, u16),
    Delete(u8),
    Search(u8, bool, u8),
}

fn name(code: u8) -> String {
    let a = WORDS[(code & 7) as usize];
    let b = WORDS[((code >> 3) & 7) as usize];
    if code & 0x40 != 0 {
        format!("{a} {b}")
    } else {
        a.to_string()
    }
}

fn words(s: &str) -> Vec<String> {
    let mut w = Vec::new();
    tokenize(s, &mut w);
    w
}

fuzz_target!(|ops: Vec<Op>| {
    let mut catalog = Catalog::default();
    let mut index = SearchIndex::default();
    let mut model: BTreeMap<u64, String> = BTreeMap::new();
    for op in ops.iter().take(512) {
        let command = match *op {
            Op::Add(id, n, p) => Command::add(u64::from(id) + 1, &name(n), i64::from(p), 1),
            Op::Rename(id, n) => Command::update(u64::from(id) + 1, None, None, Some(&name(n))),
            Op::Price(id, p) => Command::update(u64::from(id) + 1, Some(i64::from(p)), None, None),
            Op::Delete(id) => Command::delete(u64::from(id) + 1),
            Op::Search(n, space, limit) => {
                let q = if space {
                    format!("{} ", name(n))
                } else {
                    name(n)
                };
                let limit = u64::from(limit % 20) + 1;
                let c = Command::search(&q, limit).expect("valid query");
                let got: Vec<u64> = index
                    .search(&q, limit as usize)
                    .iter()
                    .map(|h| h.id)
                    .collect();
                let mut qw = words(&q);
                let prefix = if space { None } else { qw.pop() };
                let want: Vec<u64> = model
                    .iter()
                    .filter(|(_, n)| {
                        let nw = words(n);
                        qw.iter().all(|w| nw.contains(w))
                            && prefix
                                .as_ref()
                                .is_none_or(|p| nw.iter().any(|w| w.starts_with(p.as_str())))
                    })
                    .map(|(&id, _)| id)
                    .take(limit as usize)
                    .collect();
                assert_eq!(got, want, "{c:?}");
                continue;
            }
        }
        .expect("valid command");
        let reply = catalog.apply(&command).expect("catalog answers writes");
        index.apply(&command);
        match command {
            Command::Add { id, name, .. } => {
                let exists = model.contains_key(&id);
                assert_eq!(reply.is_ok(), !exists);
                model.entry(id).or_insert_with(|| name.as_str().to_string());
            }
            Command::Update { id, name, .. } => {
                assert_eq!(reply.is_ok(), model.contains_key(&id));
                if let (Some(n), Some(old)) = (name, model.get_mut(&id)) {
                    *old = n.as_str().to_string();
                }
            }
            Command::Delete { id } => {
                assert_eq!(
                    matches!(reply, Reply::Deleted { .. }),
                    model.remove(&id).is_some()
                );
            }
            _ => {}
        }
        assert_eq!(catalog.len(), model.len());
        assert_eq!(index.len(), model.len());
    }
    assert_eq!(catalog.digest(), catalog.recompute_digest());
});
