//! Checks that a multipart (MTOM) response arrived exactly as the upstream sent it: the same Content-Type and
//! the same bytes. On a difference it says which part differs, which a plain byte comparison would not.
//! Included with `#[path]`.

use xua_gateway::soap::mtom::Multipart;

pub fn assert_same_package(sent: (&str, &[u8]), got: (&str, &[u8])) {
    assert_eq!(sent.0, got.0, "the Content-Type changed on the way");
    if sent.1 == got.1 {
        return;
    }
    let (Ok(a), Ok(b)) = (
        Multipart::parse(sent.0, sent.1),
        Multipart::parse(got.0, got.1),
    ) else {
        panic!(
            "the package changed on the way ({} bytes sent, {} received) and no longer parses",
            sent.1.len(),
            got.1.len()
        );
    };
    assert_eq!(a.parts.len(), b.parts.len(), "the number of parts changed");
    for (i, (pa, pb)) in a.parts.iter().zip(&b.parts).enumerate() {
        assert_eq!(pa.content_id, pb.content_id, "part {i}: Content-ID changed");
        assert!(
            a.part_bytes(pa) == b.part_bytes(pb),
            "part {i}: content changed ({} bytes sent, {} received)",
            a.part_bytes(pa).len(),
            b.part_bytes(pb).len()
        );
    }
    panic!("the package's framing (delimiters, part headers, preamble or epilogue) changed");
}

/// Reads a response body in the pieces the connection delivers them, returning the bytes and the count of
/// reads that returned data (more than one for a body sent in chunks).
pub fn read_in_pieces(mut response: impl std::io::Read) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut pieces = 0;
    let mut buf = [0u8; 8192];
    loop {
        let n = response.read(&mut buf).unwrap();
        if n == 0 {
            return (out, pieces);
        }
        pieces += 1;
        out.extend_from_slice(&buf[..n]);
    }
}
