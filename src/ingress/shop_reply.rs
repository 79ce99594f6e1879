//! How a shop [`Reply`](crate::shop::Reply) looks on the wire.
//!
//! | reply | RESP2 |
//! |---|---|
//! | a product (`ADD`, `UPDATE`, `GET`) | array `[id, name, price, stock, version]`: integers, the name a bulk string |
//! | `GET` of an unknown id | null bulk string `$-1` |
//! | `DEL` | `:1` |
//! | `LIST` | array of products |
//! | `SEARCH` | array of `[id, name]` pairs |
//! | `COUNT` | integer |
//! | `ADD` of an existing id | null `$-1` (nothing added; as `SET ... NX`) |
//! | `UPDATE` of an unknown id | null `$-1` (nothing changed) |
//! | `DEL` of an unknown id | `:0` (nothing deleted; as Redis `DEL`) |
//! | a command the engine found invalid | `-ERR invalid command: ...` |
//!
//! Business outcomes are values, as in Redis, not errors: errors are for
//! requests that are wrong in themselves, so a client (and
//! `redis-benchmark`, which stops at the first error) can tell a bad request
//! from an id that happens to be taken or missing.

use super::protocol::Reply as Resp;
use crate::shop::{Product, Rejection, Reply};

fn product(out: &mut Vec<u8>, p: &Product) {
    Resp::array(out, 5);
    Resp::integer(out, clamp(p.id));
    Resp::bulk(out, p.name.as_bytes());
    Resp::integer(out, clamp(p.price_cents));
    Resp::integer(out, clamp(p.stock));
    Resp::integer(out, clamp(p.version));
}

/// RESP integers are signed; the shop's values are validated as
/// non-negative `i64`, so this only guards against the impossible.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Append the RESP2 form of `reply` to `out`; `was_delete` says the
/// command was a `DEL` (whose "not found" is `:0` rather than null).
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::encode_shop_reply;
/// use ringmaster::shop::{Reply, Rejection};
/// let mut out = Vec::new();
/// encode_shop_reply(&mut out, &Reply::Count(3), false);
/// encode_shop_reply(&mut out, &Reply::Found(None), false);
/// encode_shop_reply(&mut out, &Reply::Rejected(Rejection::NotFound { id: 7 }), true);
/// encode_shop_reply(&mut out, &Reply::Rejected(Rejection::AlreadyExists { id: 7 }), false);
/// assert_eq!(out, b":3\r\n$-1\r\n:0\r\n$-1\r\n");
/// ```
pub fn encode_shop_reply(out: &mut Vec<u8>, reply: &Reply, was_delete: bool) {
    match reply {
        Reply::Added(p) | Reply::Updated(p) | Reply::Found(Some(p)) => product(out, p),
        Reply::Found(None) => Resp::null(out),
        Reply::Deleted { .. } => Resp::integer(out, 1),
        Reply::Page(products) => {
            Resp::array(out, products.len());
            for p in products {
                product(out, p);
            }
        }
        Reply::Hits(hits) => {
            Resp::array(out, hits.len());
            for hit in hits {
                Resp::array(out, 2);
                Resp::integer(out, clamp(hit.id));
                Resp::bulk(out, hit.name.as_bytes());
            }
        }
        Reply::Count(n) => Resp::integer(out, clamp(*n)),
        Reply::Digest(d) => Resp::bulk(out, format!("{d:016x}").as_bytes()),
        Reply::SnapshotQueued { sequence } => Resp::integer(out, clamp(*sequence)),
        Reply::Rejected(Rejection::AlreadyExists { .. }) => Resp::null(out),
        Reply::Rejected(Rejection::NotFound { .. }) if was_delete => Resp::integer(out, 0),
        Reply::Rejected(Rejection::NotFound { .. }) => Resp::null(out),
        Reply::Invalid(e) => Resp::error(out, &format!("ERR invalid command: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{Name, SearchHit};

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
        encode_shop_reply(&mut out, &Reply::Added(mug()), false);
        assert_eq!(out, b"*5\r\n:7\r\n$8\r\nBlue Mug\r\n:1250\r\n:3\r\n:2\r\n");
        out.clear();
        encode_shop_reply(&mut out, &Reply::Page(vec![mug(), mug()]), false);
        assert!(out.starts_with(b"*2\r\n*5\r\n:7\r\n"));
        out.clear();
        let hit = SearchHit {
            id: 7,
            name: Name::new("Blue Mug").unwrap(),
        };
        encode_shop_reply(&mut out, &Reply::Hits(vec![hit]), false);
        assert_eq!(out, b"*1\r\n*2\r\n:7\r\n$8\r\nBlue Mug\r\n");
        out.clear();
        encode_shop_reply(&mut out, &Reply::Page(Vec::new()), false);
        encode_shop_reply(&mut out, &Reply::Deleted { id: 7 }, false);
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::AlreadyExists { id: 7 }),
            false,
        );
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::NotFound { id: 7 }),
            true,
        );
        encode_shop_reply(
            &mut out,
            &Reply::Rejected(Rejection::NotFound { id: 7 }),
            false,
        );
        assert_eq!(out, b"*0\r\n:1\r\n$-1\r\n:0\r\n$-1\r\n");
    }
}
