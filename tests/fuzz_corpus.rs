//! Replays the committed fuzz corpora under plain `cargo test`, so the
//! fuzz targets' checks do not depend on the fuzzing toolchain.

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        out.push((
            path.display().to_string(),
            std::fs::read(&path).expect("readable"),
        ));
    }
    assert!(!out.is_empty(), "no corpus in {}", dir.display());
    out
}

#[path = "../fuzz/checks/region_header.rs"]
mod region_header_check;

#[path = "../fuzz/checks/journal_recovery.rs"]
mod journal_recovery_check;

#[path = "../fuzz/checks/server_session.rs"]
mod server_session_check;

/// The `server_session` target's check on every corpus file: well-formed
/// replies, and the server still serves.
#[test]
fn server_session_corpus_replays() {
    for (_, data) in corpus("server_session") {
        server_session_check::check(&data);
    }
}

/// The `region_header` target's check on every corpus file: decoding and
/// attaching give a typed error or a ring inside the file, and an attached
/// ring can take a consumer slot and be polled.
#[test]
fn region_header_corpus_replays() {
    let attached = corpus("region_header")
        .iter()
        .filter(|(_, data)| region_header_check::check(data))
        .count();
    assert!(attached >= 3, "the corpus keeps its valid ring files");
}

/// The `journal_recovery` target's check on every corpus file.
#[test]
fn journal_recovery_corpus_replays() {
    for (_, data) in corpus("journal_recovery") {
        journal_recovery_check::check(&data);
    }
}

/// The `shop_event` target's property: a decoded event re-encodes to the
/// same bytes.
#[test]
fn shop_event_corpus_replays() {
    use ringmaster::shop::ProductEvent;
    let mut decoded = 0;
    for (name, data) in corpus("shop_event") {
        let mut bytes = [0u8; 128];
        let n = data.len().min(128);
        bytes[..n].copy_from_slice(&data[..n]);
        let event: ProductEvent = bytemuck::pod_read_unaligned(&bytes);
        if let Ok(command) = event.decode() {
            let mut again = ProductEvent::encode(&command, event.request_id(), event.client())
                .stamped(event.published_ns());
            again.set_txn_mark(event.txn_mark());
            assert_eq!(bytemuck::bytes_of(&again), &bytes[..], "{name}");
            decoded += 1;
        }
    }
    assert!(decoded >= 3, "the seeds are valid events");
}

/// The `catalog_snapshot` target's property: a decoded snapshot encodes
/// back to the same bytes with a consistent digest.
#[test]
fn catalog_snapshot_corpus_replays() {
    use ringmaster::shop::Catalog;
    let mut decoded = 0;
    for (name, data) in corpus("catalog_snapshot") {
        if let Ok(catalog) = Catalog::from_snapshot(&data) {
            let mut again = Vec::new();
            catalog.to_snapshot(&mut again);
            assert_eq!(again, data, "{name}");
            assert_eq!(catalog.digest(), catalog.recompute_digest(), "{name}");
            decoded += 1;
        }
    }
    assert!(decoded >= 1, "the seed is a valid snapshot");
}

/// The `resp_codec` target's property: requests decoded from pieces are
/// the ones a whole-buffer decode finds, within the limits.
#[test]
fn resp_codec_corpus_replays() {
    use ringmaster::ingress::{decode_request, parse_request, Limits};
    let limits = Limits {
        max_bulk: 64,
        max_args: 8,
        max_inline: 128,
    };
    let decode_all = |chunks: &[&[u8]]| {
        let (mut buf, mut out, mut failed) = (Vec::new(), Vec::new(), false);
        let mut args = Vec::new();
        for chunk in chunks {
            if failed {
                break;
            }
            buf.extend_from_slice(chunk);
            loop {
                match decode_request(&buf, &limits, &mut args) {
                    Ok(Some(n)) => {
                        assert!(args.len() <= limits.max_args);
                        let words: Vec<Vec<u8>> =
                            args.iter().map(|r| buf[r.clone()].to_vec()).collect();
                        assert!(words.iter().all(|w| w.len() <= limits.max_inline));
                        let refs: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
                        let _ = parse_request(&refs);
                        out.push(words);
                        buf.drain(..n);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
        }
        (out, failed)
    };
    let mut seen = 0;
    for (name, data) in corpus("resp_codec") {
        let whole = decode_all(&[&data]);
        let (a, b) = data.split_at(data.len() / 3);
        let (b, c) = b.split_at(b.len() / 2);
        assert_eq!(decode_all(&[a, b, c]), whole, "{name}");
        seen += whole.0.len();
    }
    assert!(seen > 0, "the seeds hold requests");
}
