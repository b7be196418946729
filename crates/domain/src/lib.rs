#![doc = include_str!("../README.md")]

pub mod campaign;
pub mod email;
pub mod schedule;
pub mod validation;
