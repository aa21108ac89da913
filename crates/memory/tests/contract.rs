//! The memory adapters pass the contract suite: they are its reference.

emporium_testkit::contract_suite!(async {
    emporium_testkit::Fixture::new(emporium_memory::memory_stores())
});
