//! The contenders: ringmaster and its peers, one file per family.

pub mod channels;
pub mod disruptor;
pub mod journal;
pub mod ringmaster;
pub mod shm;
pub mod shop;
pub mod tcp;
