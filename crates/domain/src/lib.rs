#![doc = include_str!("../README.md")]

pub mod campaign;
pub mod email;
pub mod html;
pub mod schedule;
pub mod sequence;
pub mod template;
pub mod validation;
pub mod variant;
