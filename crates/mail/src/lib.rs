//! Reachkit's mail adapters.
//!
//! For now this crate holds the pure inbound part: [`inbound::classify`] reads one raw message
//! (`&[u8]`, as fetched over IMAP) and says whether it is a bounce, an auto-reply, a human message
//! that may be a reply, or something else, with the headers the inbox sync needs to match it to
//! what was sent. No I/O happens here.

pub mod inbound;

pub use inbound::{
    BounceInfo, BounceReason, BouncedRecipient, Classification, Kind, OtherReason, bounce_reason,
    classify, cli_json,
};
