//! Integration tests: the real server on a random port, spoken to over HTTP.

mod helpers;
mod rejections;
mod rules;
mod token_exchange;
