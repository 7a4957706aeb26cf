//! SAML 2.0 XUA: hardened parsing, XML-DSig verification, and (later) building and signing assertions.
pub mod extract;
pub mod fragment;
pub mod ns;
pub mod prescan;
pub mod tree;
pub mod view;
pub mod checks;
pub mod dsig;
pub mod verify;
pub mod build;
