//! The actix system every test runs on (`#[actix_rt::test(system = "crate::helpers::TestSystem")]`).
//!
//! A test that ends while an in-process Herald still has a database call in flight leaves a task holding a
//! checked-out connection. actix drops its tasks after leaving the runtime, and sqlx returns a dropped connection
//! to its pool with `tokio::spawn`, which outside a runtime panics inside `drop` and aborts the whole test binary.
//! `TestSystem` keeps a second runtime's context entered until the system is gone, so that spawn finds one.

use std::future::Future;

/// An actix system whose teardown happens inside a Tokio context.
pub struct TestSystem {
    teardown: tokio::runtime::Runtime,
    system: actix_rt::SystemRunner,
}

impl TestSystem {
    /// A new system (what the test macro calls).
    pub fn new() -> TestSystem {
        TestSystem {
            // unwrap: a current-thread runtime with no I/O driver cannot fail to build.
            teardown: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime builds"),
            system: actix_rt::System::new(),
        }
    }

    /// Runs the test body, then drops the system with the teardown runtime entered (also when the body panics:
    /// locals drop in reverse order, so the system goes before the guard).
    pub fn block_on<F: Future>(self, test: F) -> F::Output {
        let teardown = self.teardown;
        let _entered = teardown.enter();
        let system = self.system;
        system.block_on(test)
    }
}
