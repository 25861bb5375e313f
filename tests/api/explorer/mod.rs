//! The Explorer (SPEC §8): its page and assets as served (no token needed, types, caching, size), and the UI
//! itself in a real browser (`browser.rs`: Playwright's library driving Debian's chromium, run by Node).

mod browser;
mod serving;
