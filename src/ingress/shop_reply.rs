//! How a shop [`Reply`](crate::shop::Reply) looks on the wire.
//!
//! | reply | RESP2 | RESP3 |
//! |---|---|---|
//! | a product (`ADD`, `UPDATE`, `GET`) | array `[id, name, price, stock, version]`: integers, the name a bulk string | map `{id, name, price, stock, version}`, in that order |
//! | `GET` of an unknown id | null bulk string `$-1` | null `_` |
//! | `DEL` | `:1` | same |
//! | `LIST` | array of products | array of product maps |
//! | `SEARCH` | array of `[id, name]` pairs, best first | array of maps `{id, name}`, best first |
//! | `COUNT`, `DBSIZE` | integer | same |
//! | `DIGEST` | bulk string, 16 hex digits | same |
//! | `ADD` of an existing id | null `$-1` (nothing added; as `SET ... NX`) | null `_` |
//! | `UPDATE` of an unknown id | null `$-1` (nothing changed) | null `_` |
//! | `DEL` of an unknown id | `:0` (nothing deleted; as Redis `DEL`) | same |
//! | a command the engine found invalid | `-ERR invalid command: ...` | same |
//!
//! Business outcomes are values, as in Redis, not errors: errors are for
//! requests that are wrong in themselves, so a client (and
//! `redis-benchmark`, which stops at the first error) can tell a bad request
//! from an id that happens to be taken or missing.

use super::protocol::{Protocol, Reply as Resp};
use crate::shop::{Product, Rejection, Reply};

/// A value of a product or hit: in RESP3 preceded by its key.
fn field(out: &mut Vec<u8>, proto: Protocol, key: &[u8]) {
    if proto == Protocol::Resp3 {
        Resp::bulk(out, key);
    }
}

/// An array of `n` in RESP2, a map of `n` pairs in RESP3.
fn record(out: &mut Vec<u8>, proto: Protocol, n: usize) {
    match proto {
        Protocol::Resp2 => Resp::array(out, n),
        Protocol::Resp3 => proto.map(out, n),
    }
}

fn product(out: &mut Vec<u8>, p: &Product, proto: Protocol) {
    record(out, proto, 5);
    field(out, proto, b"id");
    Resp::integer(out, clamp(p.id));
    field(out, proto, b"name");
    Resp::bulk(out, p.name.as_bytes());
    field(out, proto, b"price");
    Resp::integer(out, clamp(p.price_cents));
    field(out, proto, b"stock");
    Resp::integer(out, clamp(p.stock));
    field(out, proto, b"version");
    Resp::integer(out, clamp(p.version));
}

/// RESP integers are signed; the shop's values are validated as
/// non-negative `i64`, so this only guards against the impossible.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Append `reply` to `out` in `proto`; `was_delete` says the command was a
/// `DEL` (whose "not found" is `:0` rather than null).
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{encode_shop_reply, Protocol};
/// use ringmaster::shop::{Reply, Rejection};
/// let mut out = Vec::new();
/// let two = Protocol::Resp2;
/// encode_shop_reply(&mut out, &Reply::Count(3), false, two);
/// encode_shop_reply(&mut out, &Reply::Found(None), false, two);
/// encode_shop_reply(&mut out, &Reply::Rejected(Rejection::NotFound { id: 7 }), true, two);
/// encode_shop_reply(&mut out, &Reply::Rejected(Rejection::AlreadyExists { id: 7 }), false, two);
/// assert_eq!(out, b":3\r\n$-1\r\n:0\r\n$-1\r\n");
/// out.clear();
/// encode_shop_reply(&mut out, &Reply::Found(None), false, Protocol::Resp3);
/// assert_eq!(out, b"_\r\n");
/// ```
pub fn encode_shop_reply(out: &mut Vec<u8>, reply: &Reply, was_delete: bool, proto: Protocol) {
    match reply {
        Reply::Added(p) | Reply::Updated(p) | Reply::Found(Some(p)) => product(out, p, proto),
        Reply::Found(None) => proto.null(out),
        Reply::Deleted { .. } => Resp::integer(out, 1),
        Reply::Page(products) => {
            Resp::array(out, products.len());
            for p in products {
                product(out, p, proto);
            }
        }
        Reply::Hits(hits) => {
            Resp::array(out, hits.len());
            for hit in hits {
                record(out, proto, 2);
                field(out, proto, b"id");
                Resp::integer(out, clamp(hit.id));
                field(out, proto, b"name");
                Resp::bulk(out, hit.name.as_bytes());
            }
        }
        Reply::Count(n) => Resp::integer(out, clamp(*n)),
        Reply::Digest(d) => Resp::bulk(out, format!("{d:016x}").as_bytes()),
        Reply::SnapshotQueued { sequence } => Resp::integer(out, clamp(*sequence)),
        Reply::Rejected(Rejection::AlreadyExists { .. }) => proto.null(out),
        Reply::Rejected(Rejection::NotFound { .. }) if was_delete => Resp::integer(out, 0),
        Reply::Rejected(Rejection::NotFound { .. }) => proto.null(out),
        Reply::Rejected(r @ Rejection::IncompleteTransaction { .. }) => {
            Resp::error(out, &format!("ERR {r}"));
        }
        Reply::Invalid(e) => Resp::error(out, &format!("ERR invalid command: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{Name, SearchHit};

    const TWO: Protocol = Protocol::Resp2;

    fn mug() -> Product {
        Product {
            id: 7,
            name: Name::new("Blue Mug").unwrap(),
            price_cents: 1250,
            stock: 3,
            version: 2,
        }
    }

    #[test]
    fn products_pages_and_hits_have_their_documented_shape() {
        let mut out = Vec::new();
        encode_shop_reply(&mut out, &Reply::Added(mug()), false, TWO);
        assert_eq!(out, b"*5\r\n:7\r\n$8\r\nBlue Mug\r\n:1250\r\n:3\r\n:2\r\n");
        out.clear();
        encode_shop_reply(&mut out, &Reply::Page(vec![mug(), mug()]), false, TWO);
        assert!(out.starts_with(b"*2\r\n*5\r\n:7\r\n"));
        out.clear();
        let hit = SearchHit {
            id: 7,
            name: Name::new("Blue Mug").unwrap(),
        };
        encode_shop_reply(&mut out, &Reply::Hits(vec![hit]), false, TWO);
        assert_eq!(out, b"*1\r\n*2\r\n:7\r\n$8\r\nBlue Mug\r\n");
        out.clear();
        encode_shop_reply(&mut out, &Reply::Page(Vec::new()), false, TWO);
        encode_shop_reply(&mut out, &Reply::Deleted { id: 7 }, false, TWO);
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::AlreadyExists { id: 7 }),
            false,
            TWO,
        );
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::NotFound { id: 7 }),
            true,
            TWO,
        );
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::NotFound { id: 7 }),
            false,
            TWO,
        );
        assert_eq!(out, b"*0\r\n:1\r\n$-1\r\n:0\r\n$-1\r\n");
        out.clear();
        encode_shop_reply(&mut out, &Reply::Hits(vec![hit]), false, Protocol::Resp3);
        assert_eq!(
            out,
            b"*1\r\n%2\r\n$2\r\nid\r\n:7\r\n$4\r\nname\r\n$8\r\nBlue Mug\r\n"
        );
    }

    #[test]
    fn resp3_products_are_maps() {
        let mut out = Vec::new();
        encode_shop_reply(&mut out, &Reply::Found(Some(mug())), false, Protocol::Resp3);
        assert_eq!(
            out,
            b"%5\r\n$2\r\nid\r\n:7\r\n$4\r\nname\r\n$8\r\nBlue Mug\r\n\
              $5\r\nprice\r\n:1250\r\n$5\r\nstock\r\n:3\r\n$7\r\nversion\r\n:2\r\n"
        );
        out.clear();
        let missing = Reply::Rejected(Rejection::NotFound { id: 7 });
        encode_shop_reply(&mut out, &missing, false, Protocol::Resp3);
        encode_shop_reply(&mut out, &missing, true, Protocol::Resp3);
        assert_eq!(out, b"_\r\n:0\r\n");
    }
}
