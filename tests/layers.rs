//! The crate's layers point one way: no module imports from a layer above
//! its own, and `unsafe` appears only in the modules that
//! `docs/architecture.md` marks `[unsafe]`.
//!
//! The check reads the sources: every `crate::` and `super::` path outside
//! comments (brace groups expanded, root re-exports resolved through
//! `src/lib.rs`) is mapped to the unit that owns it and compared with the
//! importing file's unit. A new top-level module fails the check until it is
//! given a place in [`LAYERS`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Units from the bottom up; a unit may import only units on lower rows
/// (and itself). Units on one row are peers and import neither each other.
const LAYERS: &[&[&str]] = &[
    &["sync"],
    &[
        "clock",
        "sequence",
        "error",
        "memory_hint",
        "preallocate",
        "histogram",
    ],
    &["region", "wait"],
    &["config"],
    &["ring"],
    &["sequencer"],
    &["producer"],
    &["metrics"],
    &["graph"],
    &["journal", "shm"],
    &["replication"],
    &["shop::domain"],
    &["shop::runtime"],
    &["ingress"],
    &["harness"],
];

/// Modules that belong to another module's unit: the producer and the
/// publisher are one API lent two ways, and the shop's facade re-exports
/// its runtime.
const MEMBERS: &[(&str, &str)] = &[("publisher", "producer"), ("shop", "shop::runtime")];

/// One upward (or sideways) import: where, what, and the two units.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    path: String,
    from: String,
    to: String,
}

fn layer_of(unit: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&unit))
}

/// The unit that owns a module path (`["shop", "domain", "catalog"]`).
fn unit_of(path: &[String]) -> Option<String> {
    let joined = path.join("::");
    let mut best: Option<&str> = None;
    let candidates = LAYERS
        .iter()
        .flat_map(|row| row.iter().copied())
        .chain(MEMBERS.iter().map(|(m, _)| *m));
    for unit in candidates {
        let owns = joined == unit || joined.starts_with(&format!("{unit}::"));
        if owns && best.is_none_or(|b| unit.len() > b.len()) {
            best = Some(unit);
        }
    }
    let unit = best?;
    Some(
        MEMBERS
            .iter()
            .find(|(m, _)| *m == unit)
            .map_or(unit, |(_, owner)| owner)
            .to_string(),
    )
}

/// The module path of a source file under `src/`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments removed (line comments, doc comments, block
/// comments), string literals kept as empty strings so that a `//` or a
/// `crate::` inside one is neither.
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(raw) = rest.strip_prefix("r#\"") {
            i += raw.find("\"#").map_or(rest.len(), |e| e + 5);
            out.push_str("\"\"");
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if rest.starts_with("'\"'") {
            i += 3;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Expands the path that starts at `s` (after its `crate` / `super`
/// keyword and `::`) into the full paths it names: `a::{b, c::{d, e}}`
/// gives `a::b`, `a::c::d`, `a::c::e`.
fn expand(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    let ident = &s[..end];
    if ident.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    if ident != "self" {
        path.push(ident.to_string());
    }
    match s[end..].strip_prefix("::") {
        Some(rest) => expand(rest, path, out),
        None => out.push(path),
    }
}

/// Every module path a file's code names through `crate::` or `super::`.
fn paths_in(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword).map(|i| i + from) {
            from = at + keyword.len();
            let before = code[..at].chars().next_back().unwrap_or(' ');
            if is_ident(before) || before == ':' {
                continue;
            }
            let mut base: Vec<String> = if keyword == "crate::" {
                Vec::new()
            } else {
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let mut rest = &code[from..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            expand(rest, base, &mut out);
        }
    }
    out
}

/// `src/lib.rs`'s `pub use` re-exports: a root name to the path it names.
fn root_reexports(lib: &str) -> BTreeMap<String, Vec<String>> {
    let code = code_of(lib);
    let mut map = BTreeMap::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("pub use ").map(|i| i + from) {
        from = at + "pub use ".len();
        let mut paths = Vec::new();
        expand(&code[from..], Vec::new(), &mut paths);
        for p in paths {
            if let Some(name) = p.last() {
                map.insert(name.clone(), p.clone());
            }
        }
    }
    map
}

/// Checks a set of sources, given as (path under `src/`, text), and returns
/// every import that points up or sideways, and every file whose module
/// has no unit.
fn check(files: &[(PathBuf, String)], lib: &str) -> (Vec<Violation>, Vec<String>) {
    let roots = root_reexports(lib);
    let mut violations = Vec::new();
    let mut unplaced = Vec::new();
    for (file, text) in files {
        let module = module_of(file);
        if module.is_empty() || module[0] == "bin" {
            continue;
        }
        let Some(from) = unit_of(&module) else {
            unplaced.push(file.display().to_string());
            continue;
        };
        let from_layer = layer_of(&from).expect("every unit has a layer");
        for mut path in paths_in(&module, &code_of(text)) {
            if let Some(full) = path.first().and_then(|first| roots.get(first)) {
                path = full.iter().chain(&path[1..]).cloned().collect();
            }
            // A path that stays at the root names the crate itself (a glob
            // of the root, a macro): no unit.
            let Some(to) = unit_of(&path) else { continue };
            let to_layer = layer_of(&to).expect("every unit has a layer");
            if to != from && to_layer >= from_layer {
                violations.push(Violation {
                    file: file.display().to_string(),
                    path: path.join("::"),
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    (violations, unplaced)
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read source");
            let rel = path.strip_prefix(root).expect("under src").to_path_buf();
            out.push((rel, text));
        }
    }
}

fn crate_sources() -> (Vec<(PathBuf, String)>, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    let lib = fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    (files, lib)
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let (files, lib) = crate_sources();
    let (violations, unplaced) = check(&files, &lib);
    assert!(
        unplaced.is_empty(),
        "modules without a layer (give them a row in LAYERS): {unplaced:#?}"
    );
    assert!(
        violations.is_empty(),
        "imports that point up or sideways: {violations:#?}"
    );
}

#[test]
fn an_upward_import_is_reported() {
    let lib = "pub use graph::{EventHandler, Graph};\n";
    let files = vec![
        (
            PathBuf::from("ring/mod.rs"),
            "use crate::region::Region;\nuse crate::{sync::Arc, metrics::Metrics};\n".to_string(),
        ),
        (
            PathBuf::from("ring/batch.rs"),
            "// crate::shm::liveness in a comment is no import\nfn f() -> crate::EventHandler {}\n"
                .to_string(),
        ),
        (
            PathBuf::from("shop/domain/catalog.rs"),
            "use super::super::runtime::Shop;\nuse super::name::Name;\n".to_string(),
        ),
        (
            PathBuf::from("journal/writer.rs"),
            "use crate::shm::SharedRing;\nuse crate::graph::EventHandler;\n".to_string(),
        ),
        (PathBuf::from("newcomer.rs"), String::new()),
    ];
    let (violations, unplaced) = check(&files, lib);
    let found: Vec<_> = violations
        .iter()
        .map(|v| (v.file.as_str(), v.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("ring/mod.rs", "metrics::Metrics"),
            ("ring/batch.rs", "graph::EventHandler"),
            ("shop/domain/catalog.rs", "shop::runtime::Shop"),
            ("journal/writer.rs", "shm::SharedRing"),
        ]
    );
    assert_eq!(unplaced, ["newcomer.rs"]);
}

/// The files whose code (not comments) holds `unsafe`, under `src/`.
fn files_with_unsafe(files: &[(PathBuf, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| {
            let code = code_of(text);
            code.match_indices("unsafe").any(|(at, _)| {
                let before = code[..at].chars().next_back().unwrap_or(' ');
                let after = code[at + 6..].chars().next().unwrap_or(' ');
                !is_ident(before) && !is_ident(after)
            })
        })
        .map(|(path, _)| path.display().to_string())
        .collect()
}

#[test]
fn unsafe_code_lives_only_where_the_architecture_says() {
    let (files, _) = crate_sources();
    let found = files_with_unsafe(&files);
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .expect("read docs/architecture.md");
    // The module map marks each file (or folder) that may hold unsafe code.
    let marked: Vec<String> = doc
        .lines()
        .filter(|l| l.starts_with("src/") && l.trim_end().ends_with("[unsafe]"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.trim_start_matches("src/").to_string())
        .collect();
    let unlisted: Vec<_> = found
        .iter()
        .filter(|f| {
            !marked
                .iter()
                .any(|m| *f == m || (m.ends_with('/') && f.starts_with(m.as_str())))
        })
        .collect();
    assert!(
        unlisted.is_empty(),
        "unsafe code in modules docs/architecture.md does not mark [unsafe]: {unlisted:?}"
    );
    let stale: Vec<_> = marked
        .iter()
        .filter(|m| {
            !found
                .iter()
                .any(|f| f == *m || (m.ends_with('/') && f.starts_with(m.as_str())))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md marks [unsafe] modules that hold none: {stale:?}"
    );
}

#[test]
fn slot_access_proofs_are_made_only_where_the_protocol_proves_them() {
    // The ring's slot access is safe because a `Claimed` range comes only
    // from a sequencer's claim and a `Published` one only from a barrier
    // (src/ring/range.rs, which also tests them).
    let (files, _) = crate_sources();
    let mut strays = Vec::new();
    for (file, text) in &files {
        let file = file.display().to_string();
        let code = code_of(text);
        if code.contains("by_sequencer(")
            && !file.starts_with("sequencer/")
            && file != "ring/range.rs"
        {
            strays.push(format!("{file}: by_sequencer"));
        }
        if code.contains("by_barrier(") && file != "graph/barrier.rs" && file != "ring/range.rs" {
            strays.push(format!("{file}: by_barrier"));
        }
    }
    assert!(
        strays.is_empty(),
        "slot access proofs made elsewhere: {strays:?}"
    );
}
