//! Integration tests: the real server on a random port, spoken to over HTTP.

mod audit;
mod binary;
mod durability;
mod helpers;
mod logging;
mod rejections;
mod token_exchange;
