//! The hash chain that makes the access log tamper-evident: each record's hash covers the previous record's
//! hash, its sequence number and every stored column, so changing, removing or reordering any record breaks
//! verification from that record on.
//!
//! `hash = SHA-256(FORMAT ‖ prev_hash ‖ seq ‖ cell_1 ‖ … ‖ cell_n)`, where each cell is encoded with a type
//! tag and, for text, a length prefix: no two different rows encode to the same bytes.
//!
//! What this does not give: a party who can rewrite the whole database can recompute the chain from the
//! altered record on, and truncating the newest records leaves a valid shorter chain. `audit verify` prints
//! the head (sequence number and hash) so the data controller can record it elsewhere and compare later.

use openssl::sha::Sha256;

use super::columns::Cell;

/// Domain separation and format version of the hashed bytes of records written now. Format 2 added the
/// columns of who asked (client, its authentication, the DPoP key, the client certificate, the actor);
/// format 3 those of the SOAP edge (the WS-Addressing Action, the proxy route, the upstream's HTTP status).
pub const FORMAT: &[u8] = b"xua-gateway audit chain v3\0";

/// The format of records written before format 2: still verifiable, over their own columns.
pub const FORMAT_V1: &[u8] = b"xua-gateway audit chain v1\0";

/// The format of records written before format 3.
pub const FORMAT_V2: &[u8] = b"xua-gateway audit chain v2\0";

/// The format number [`FORMAT`] stands for (`columns::columns_of`).
pub const CURRENT: u8 = 3;

/// Whether records of chain `format` can be verified by this build.
pub fn known(format: u8) -> bool {
    (1..=CURRENT).contains(&format)
}

/// The domain-separation prefix of chain format `format` (the current one for any newer number).
pub fn prefix(format: u8) -> &'static [u8] {
    match format {
        1 => FORMAT_V1,
        2 => FORMAT_V2,
        _ => FORMAT,
    }
}

/// The `prev_hash` of the first record ever written.
pub const GENESIS: [u8; 32] = [0u8; 32];

pub fn to_hex(hash: &[u8; 32]) -> String {
    hex::encode(hash)
}

pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// The hash of one record given the previous record's hash, in the current format.
pub fn link(prev: &[u8; 32], seq: i64, cells: &[Cell]) -> [u8; 32] {
    link_as(CURRENT, prev, seq, cells)
}

/// The hash of one record written in chain format `format` (its cells are that format's columns).
pub fn link_as(format: u8, prev: &[u8; 32], seq: i64, cells: &[Cell]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prefix(format));
    h.update(prev);
    h.update(&seq.to_be_bytes());
    for cell in cells {
        match cell {
            Cell::Null => h.update(&[0]),
            Cell::Int(i) => {
                h.update(&[1]);
                h.update(&i.to_be_bytes());
            }
            Cell::Text(s) => {
                h.update(&[2]);
                h.update(&(s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_boundaries_are_part_of_the_hash() {
        let a = link(
            &GENESIS,
            1,
            &[Cell::Text("ab".into()), Cell::Text("c".into())],
        );
        let b = link(
            &GENESIS,
            1,
            &[Cell::Text("a".into()), Cell::Text("bc".into())],
        );
        assert_ne!(a, b);
        let n = link(&GENESIS, 1, &[Cell::Null]);
        let e = link(&GENESIS, 1, &[Cell::Text(String::new())]);
        assert_ne!(n, e);
    }

    #[test]
    fn sequence_and_previous_hash_are_covered() {
        let cells = [Cell::Int(7)];
        assert_ne!(link(&GENESIS, 1, &cells), link(&GENESIS, 2, &cells));
        assert_ne!(link(&GENESIS, 1, &cells), link(&[1u8; 32], 1, &cells));
        let h = link(&GENESIS, 1, &cells);
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
    }

    #[test]
    fn formats_are_told_apart() {
        let cells = [Cell::Int(7)];
        assert_ne!(link_as(1, &GENESIS, 1, &cells), link(&GENESIS, 1, &cells));
        assert_ne!(link_as(2, &GENESIS, 1, &cells), link(&GENESIS, 1, &cells));
        assert_ne!(
            link_as(1, &GENESIS, 1, &cells),
            link_as(2, &GENESIS, 1, &cells)
        );
        assert_eq!(
            link_as(CURRENT, &GENESIS, 1, &cells),
            link(&GENESIS, 1, &cells)
        );
    }
}
