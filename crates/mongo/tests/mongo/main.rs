//! The MongoDB adapter's integration tests, in one test binary: `contract` runs the
//! adapter-agnostic contract suite on the MongoDB catalog; `store` checks what only MongoDB
//! can show (validators, indexes, codecs, search modes).

mod contract;
mod store;
