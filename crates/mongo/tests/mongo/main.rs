//! The MongoDB adapter's integration tests, in one test binary: `contract` runs the
//! adapter-agnostic contract suite on the MongoDB catalog; `store` checks what only MongoDB
//! can show (validators, indexes, codecs, search modes).

mod backup;
mod contract;
mod store;
