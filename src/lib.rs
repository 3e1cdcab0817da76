//! feedwatch watches news feeds for the things its user cares about and alerts the moment they
//! appear. The pipeline runs in one direction; each module knows only those to its left:
//!
//! ```text
//! config → scheduler → fetch → parse (+ text) → store (dedupe) → rules → outbox → notify
//!                                   ╰──────────── pipeline: one feed, one poll ───────────╯
//! wiring: the components built from a config, shared by the one-shot commands and `daemon`
//! (a library function a test can start and stop); commands: one file per CLI command;
//! app/cli/main: the thin front (logging, runtimes, dispatch, exit codes).
//! ```
//!
//! Pure stages (`parse`, `text`, `rules`, `similar`, `notify::render`, the scheduling policy)
//! do no I/O. `similar` (is this item a syndicated copy of that one?) is used by the store to
//! give a copy the story of its original when it queues alerts.
//! `redact` (a leaf every stage may use) gives the display form of a URL, without its secrets.

pub mod app;
pub mod article;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod fetch;
#[doc(hidden)]
pub mod harness;
pub mod http_time;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod outbox;
pub mod parse;
pub mod pipeline;
pub mod redact;
pub mod rules;
pub mod scheduler;
pub mod similar;
pub mod store;
pub mod systemd;
pub mod text;
pub mod wiring;
