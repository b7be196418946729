#![doc = include_str!("../README.md")]

pub mod analytics;
pub mod campaign;
pub mod email;
pub mod esp;
pub mod html;
pub mod label;
pub mod lead;
pub mod schedule;
pub mod sequence;
pub mod template;
pub mod validation;
pub mod variant;
pub mod warmup;
