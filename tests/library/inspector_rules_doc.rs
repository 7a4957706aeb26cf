//! `docs/inspector-rules.md` is the inspector's rule table, generated from `src/inspect/catalog.rs`: the table
//! is written once, in code, and the document cannot drift from it.

use std::path::Path;

use xua_gateway::inspect::catalog;

#[test]
fn the_rules_table_in_docs_is_generated_from_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/inspector-rules.md");
    let generated = catalog::markdown();
    if std::env::var("XUA_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/inspector-rules.md differs from the table in src/inspect/catalog.rs; regenerate it with \
         XUA_UPDATE_DOCS=1 cargo test --test library the_rules_table_in_docs"
    );
    for rule in catalog::RULES {
        assert!(
            committed.contains(&format!("| `{}` |", rule.id)),
            "{}",
            rule.id
        );
    }
}
