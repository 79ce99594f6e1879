//! Arbitrary bytes, delivered in arbitrary pieces, through the RESP2
//! request decoder and the request parser: no panic; arguments never
//! exceed the limits; the requests decoded piece by piece are exactly the
//! ones a whole-buffer decode finds, and a framing error shows up at the
//! same point either way.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringmaster::ingress::{decode_request, parse_request, FrameError, Limits};

#[derive(Debug, Arbitrary)]
struct Input {
    data: Vec<u8>,
    cuts: Vec<u16>,
}

const LIMITS: Limits = Limits {
    max_bulk: 64,
    max_args: 8,
    max_inline: 128,
};

type Requests = (Vec<Vec<Vec<u8>>>, Option<FrameError>);

/// Decode everything `buf` holds: the requests and the error, if any.
fn drain(buf: &mut Vec<u8>, out: &mut Requests) {
    let mut args = Vec::new();
    loop {
        match decode_request(buf, &LIMITS, &mut args) {
            Ok(Some(n)) => {
                assert!(n > 0 && n <= buf.len());
                assert!(args.len() <= LIMITS.max_args);
                let words: Vec<Vec<u8>> = args
                    .iter()
                    .map(|r| {
                        assert!(r.len() <= LIMITS.max_bulk.max(LIMITS.max_inline));
                        buf[r.clone()].to_vec()
                    })
                    .collect();
                let refs: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
                let _ = parse_request(&refs);
                out.0.push(words);
                buf.drain(..n);
            }
            Ok(None) => return,
            Err(e) => {
                out.1 = Some(e);
                buf.clear();
                return;
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let mut whole = (Vec::new(), None);
    drain(&mut input.data.clone(), &mut whole);

    let mut points: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| c as usize % (input.data.len() + 1))
        .collect();
    points.push(input.data.len());
    points.sort_unstable();
    let (mut buf, mut pieces, mut fed) = (Vec::new(), (Vec::new(), None), 0);
    for p in points {
        if pieces.1.is_some() {
            break;
        }
        buf.extend_from_slice(&input.data[fed..p]);
        fed = p;
        drain(&mut buf, &mut pieces);
    }
    assert_eq!(pieces.0, whole.0, "requests differ when split");
    assert_eq!(
        pieces.1.is_some(),
        whole.1.is_some(),
        "errors differ when split"
    );
});
