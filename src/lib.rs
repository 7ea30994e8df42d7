//! `rnngym` as a library: the command line ([`cli::main_with`]) for programs that add their own
//! gyms and codecs to the built-in ones.

pub mod cli;
